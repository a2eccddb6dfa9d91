"""moto, the AWS emulator, on 127.0.0.1 with every request served under one lock.

moto's own server is threaded, and its DynamoDB conditional writes are not atomic under
concurrent requests (two racing writers both win in a few percent of rounds), which would
make race tests measure moto instead of our code. One lock around the WSGI app makes each
request atomic, as DynamoDB is.

    python tests/moto_serial.py PORT_FILE

Binds an ephemeral port, writes it to PORT_FILE, serves until killed.

moto's CodeBuild is a stub: every build reports SUCCEEDED at its first BatchGetBuilds,
with no resolved commit. The end-to-end tests play CodeBuild's build environment instead,
for the projects they register (`POST /_release_train/codebuild/drive {"project"}`):
builds of those projects stay IN_PROGRESS until the test finishes them
(`POST /_release_train/codebuild/finish {"build_id", "status", "resolved_source_version"}`),
and then report that status, phase and commit as CodeBuild would (with any `exported`
variables). Every other project keeps moto's behaviour.

moto ignores StartBuild's `idempotencyToken`; CodeBuild answers a repeated token (within
5 minutes) with the build the first request started. The reliability tests drop
responses after the emulator applied them, so the SDK's retry repeats a StartBuild: this
wrapper answers it as CodeBuild does.
"""
import datetime
import json
import sys
import threading

from moto.codebuild import models as codebuild_models
from moto.codebuild import responses as codebuild_responses

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

LOCK = threading.Lock()
APP = DomainDispatcherApplication(create_backend_app)

DRIVEN = set()  # project names whose builds the tests finish
FINISHED = {}  # build id -> {"status", "resolved_source_version"}
_moto_batch_get_builds = codebuild_models.CodeBuildBackend.batch_get_builds


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def batch_get_builds(self, ids):
    driven = []
    for history in self.build_metadata_history.values():
        for build in history:
            if build["id"] in ids and build["projectName"] in DRIVEN:
                done = FINISHED.get(build["id"])
                if done and build["buildStatus"] == "IN_PROGRESS":
                    status = done["status"]
                    build["buildStatus"] = status
                    build["currentPhase"] = "COMPLETED"
                    build["endTime"] = _now()
                    if done.get("resolved_source_version"):
                        build["resolvedSourceVersion"] = done["resolved_source_version"]
                    if done.get("exported"):
                        build["exportedEnvironmentVariables"] = [
                            {"name": k, "value": v} for k, v in done["exported"].items()
                        ]
                    build["phases"] = [
                        {"phaseType": "BUILD", "phaseStatus": status, "startTime": _now(), "endTime": _now()}
                    ]
                driven.append(build)
    others = [i for i in ids if i not in {b["id"] for b in driven}]
    return driven + _moto_batch_get_builds(self, others)


codebuild_models.CodeBuildBackend.batch_get_builds = batch_get_builds

TOKENS = {}  # (project, idempotency token) -> the first StartBuild's answer
_moto_start_build = codebuild_responses.CodeBuildResponse.start_build


def start_build(self):
    token = self._get_param("idempotencyToken")
    key = (self._get_param("projectName"), token)
    if token and key in TOKENS:
        return TOKENS[key]
    answer = _moto_start_build(self)
    if token:
        TOKENS[key] = answer
    return answer


codebuild_responses.CodeBuildResponse.start_build = start_build


def control(environ, start_response):
    """The test-only CodeBuild controls described above."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    path = environ["PATH_INFO"]
    if path == "/_release_train/codebuild/drive":
        DRIVEN.add(body["project"])
    elif path == "/_release_train/codebuild/finish":
        FINISHED[body["build_id"]] = body
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "unknown control"}']
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


def serialized(environ, start_response):
    with LOCK:
        if environ.get("PATH_INFO", "").startswith("/_release_train/"):
            return control(environ, start_response)
        # Build the whole response inside the lock: moto's work happens while iterating.
        return list(APP(environ, start_response))


def main() -> None:
    server = make_server("127.0.0.1", 0, serialized, threaded=True, request_handler=MotoRequestHandler)
    with open(sys.argv[1], "w", encoding="ascii") as f:
        f.write(str(server.server_port))
    server.serve_forever()


if __name__ == "__main__":
    main()
