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

moto drops StartBuild's `environmentVariablesOverride`; CodeBuild keeps them on the build,
and so does this wrapper. moto also lists a project's builds oldest first; CodeBuild's
default order is newest first, as here. moto ignores StartBuild's `idempotencyToken`; CodeBuild answers a repeated token (within
5 minutes) with the build the first request started. The reliability tests drop
responses after the emulator applied them, so the SDK's retry repeats a StartBuild: this
wrapper answers it as CodeBuild does.

moto keeps every model object it ever made (`BaseModel.instances_tracked`, for its web
dashboard), and its TransactWriteItems deep-copies each table it touches to roll back:
so every transaction's copy of the table stayed in memory forever, and a long
reliability run grew the emulator past 8 GB. Nothing here uses the dashboard, so this
wrapper turns the tracking off.

That deep copy is also what made the emulator slow down as a table fills (each
transaction copied the whole table, so a 1,000-component train cost seconds per write).
This wrapper keeps moto's TransactWriteItems but saves only the items the transaction
names, and puts exactly those back if it fails, which is the same all-or-nothing
outcome.
"""
import copy
import datetime
import json
import sys
import threading

from moto.core import common_models
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
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


def _untracked_new(cls, *args, **kwargs):
    """`BaseModel.__new__` without appending the instance to `instances_tracked`."""
    return super(common_models.BaseModel, cls).__new__(cls)


common_models.BaseModel.__new__ = staticmethod(_untracked_new)


class _TablesNotCopied:
    """The `copy` module as moto's DynamoDB backend sees it: a Table is not deep-copied."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(x, memo=None):
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)


dynamodb_models.copy = _TablesNotCopied
_moto_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _key(table, attrs):
    if table.hash_key_attr not in attrs:
        return None
    hash_key = DynamoType(attrs[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_key, None
    if table.range_key_attr not in attrs:
        return None
    return hash_key, DynamoType(attrs[table.range_key_attr])


def transact_write_items(self, transact_items):
    """moto's TransactWriteItems, rolled back by putting back the items it names."""
    saved = []
    for entry in transact_items:
        op = next(iter(entry.values()), {})
        table = self.tables.get(op.get("TableName"))
        key = table and _key(table, op.get("Item") or op.get("Key") or {})
        if key:
            saved.append((table, key, copy.deepcopy(table.get_item(*key))))
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        for table, (hash_key, range_key), item in reversed(saved):
            if range_key is None:
                table.items.pop(hash_key, None)
                if item is not None:
                    table.items[hash_key] = item
            else:
                table.items[hash_key].pop(range_key, None)
                if item is not None:
                    table.items[hash_key][range_key] = item
        raise


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

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
    # CodeBuild keeps a build's environment variables, overrides included (moto drops them):
    # a start interrupted before its build was recorded is found by RELEASE_BUILD_KEY.
    overrides = self._get_param("environmentVariablesOverride") or []
    history = self.codebuild_backend.build_metadata_history.get(self._get_param("projectName"))
    if overrides and history:
        history[-1]["environment"]["environmentVariables"] = overrides
    if token:
        TOKENS[key] = answer
    return answer


codebuild_responses.CodeBuildResponse.start_build = start_build

# moto lists a project's builds oldest first whatever the sortOrder; CodeBuild's default,
# and what the builder asks for when it searches for a build, is newest first. Requests
# are served one at a time, so the response can tell the model which order was asked.
_ORDER = {"descending": True}
_moto_list_builds_for_project = codebuild_models.CodeBuildBackend.list_builds_for_project
_moto_list_response = codebuild_responses.CodeBuildResponse.list_builds_for_project


def list_builds_for_project_model(self, project_name):
    ids = list(_moto_list_builds_for_project(self, project_name))
    return ids[::-1] if _ORDER["descending"] else ids


def list_builds_for_project_response(self):
    _ORDER["descending"] = self._get_param("sortOrder") != "ASCENDING"
    return _moto_list_response(self)


codebuild_models.CodeBuildBackend.list_builds_for_project = list_builds_for_project_model
codebuild_responses.CodeBuildResponse.list_builds_for_project = list_builds_for_project_response


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
