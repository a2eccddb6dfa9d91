"""A loopback HTTP server that checks AWS Signature Version 4 as API Gateway would, using
botocore's signer (an implementation independent of the Rust aws-sigv4 crate trainctl
signs with). Used by trainctl's tests.

    python tests/sigv4_verifier.py PORT_FILE ACCESS_KEY SECRET_KEY REGION

It recomputes the signature of each request from the headers the request says it signed,
the method, path, query and body; answers 200 with a small JSON body when the signature
matches, 403 with the expected and received signatures when it does not.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PORT_FILE, ACCESS_KEY, SECRET_KEY, REGION = sys.argv[1:5]


def verify(method, path, headers, body):
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, "no SigV4 authorization header"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    credential = fields["Credential"].split("/")
    if credential[0] != ACCESS_KEY or credential[2] != REGION or credential[3] != "execute-api":
        return False, f"unexpected credential scope {fields['Credential']}"
    signed = fields["SignedHeaders"].split(";")
    token = headers.get("x-amz-security-token")
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{path}",
        data=body,
        headers={name: headers[name] for name in signed},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "execute-api", REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != fields["Signature"]:
        return False, f"signature mismatch: expected {expected}, got {fields['Signature']}; canonical request:\n{canonical}"
    return True, "ok"


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok, why = verify(self.command, self.path, headers, body)
        if ok and self.command == "GET":
            answer = {"trains": []}
        elif ok:
            answer = {"id": "weekly-2026-W48", "state": "cancelled", "summary": "signature verified"}
        else:
            answer = {"error": {"code": "forbidden", "message": why}}
        data = json.dumps(answer).encode()
        self.send_response(200 if ok else 403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = handle_any
    do_POST = handle_any

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(PORT_FILE, "w", encoding="ascii") as f:
        f.write(str(server.server_port))
    server.serve_forever()


if __name__ == "__main__":
    main()
