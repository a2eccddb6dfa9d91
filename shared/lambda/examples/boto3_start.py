"""What a team would otherwise write: a Python Lambda handler with boto3, set up the way the
release train's functions set up (the configuration read once, one client per AWS service the
function calls, built at init, outside the handler), behind the same Runtime API stand-in as
the Rust functions (`cargo run --release -p train-lambda --example start`).

The module body is the function's init, as Lambda's Python runtime imports the handler module
before its first request to the Runtime API; the loop at the bottom stands in for the runtime's
own (awslambdaric), which asks for the next invocation the same way.

    python boto3_start.py FUNCTION    (FUNCTION: cut, promote, events, api or widget)
"""

import http.client
import json
import os
import sys
import tomllib

import boto3

# The same clients per function as the Rust functions build (shared/lambda/src/wiring.rs).
CLIENTS = {
    "cut": ["dynamodb", "codebuild", "s3", "events"],
    "promote": ["dynamodb", "codebuild", "s3", "events", "cloudwatch"],
    "events": ["dynamodb", "codebuild", "s3", "events", "cloudwatch"],
    "api": ["dynamodb", "codebuild", "s3", "events"],
    "widget": ["dynamodb"],
}

with open(os.environ["CONFIG_PATH"], "rb") as f:
    CONFIG = tomllib.load(f)
TABLE = os.environ["TRAIN_TABLE"]
SESSION = boto3.session.Session()
clients = {name: SESSION.client(name) for name in CLIENTS[sys.argv[1]]}


def handler(event, context):
    return {"train": CONFIG["train"]["name"], "event": event}


def main():
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    while True:
        conn.request("GET", "/2018-06-01/runtime/invocation/next")
        res = conn.getresponse()
        event = json.loads(res.read() or b"null")
        request_id = res.getheader("Lambda-Runtime-Aws-Request-Id")
        body = json.dumps(handler(event, None))
        conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body)
        conn.getresponse().read()


if __name__ == "__main__":
    main()
