"""Gives each file git tracks the time its content was first seen by a run with this target
directory, so that cargo, which judges a crate fresh by comparing its sources' mtimes with
its last build's, rebuilds only what changed since the last run.

A fresh clone gives every file the clone's time, so without this a kept target directory
saves nothing for the workspace's own crates: all of them, and the five functions' fat-LTO
links, build again on every CI run. cargo's content-hash freshness (`-Z checksum-freshness`)
is nightly-only.

Why this is sound: a file's time is the start of the first run in an unbroken line of runs
that saw its current content (a changed content is stamped with this run's start). Every
artifact built from older content was built before that start, so it is older than the
file and cargo rebuilds it; every artifact built since was built from this content. That
holds while only these runs build into the target directory, so anything else building
there is detected: when a fingerprint in it is newer than the end of the last run, or the
last run never reached its end, every file is stamped new and everything builds again.

    python3 tests/source_times.py start TARGET_DIR    (.ci/run, before the test command)
    python3 tests/source_times.py finish TARGET_DIR   (.ci/run, after it, passed or not)
"""

import hashlib
import json
import os
import subprocess
import sys
import time

RECORD = "release-train-source-times.json"


def load(target):
    try:
        with open(os.path.join(target, RECORD)) as f:
            record = json.load(f)
        if isinstance(record.get("files"), dict):
            return record
    except (OSError, ValueError, AttributeError):
        pass
    return {"files": {}, "finished": None}


def save(target, record):
    os.makedirs(target, exist_ok=True)
    path = os.path.join(target, RECORD)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(path + ".tmp", path)


def newest_fingerprint(target):
    """The newest mtime among the files of every profile's `.fingerprint` directory: cargo
    writes there for each unit it builds."""
    newest = 0
    for profile in os.scandir(target):
        fingerprints = os.path.join(profile.path, ".fingerprint")
        if not profile.is_dir() or not os.path.isdir(fingerprints):
            continue
        for unit in os.scandir(fingerprints):
            if unit.is_dir():
                for f in os.scandir(unit.path):
                    newest = max(newest, f.stat().st_mtime_ns)
    return newest


def start(target):
    started = time.time_ns()
    record = load(target)
    finished = record.get("finished")
    trusted = record["files"]
    if finished is None or (os.path.isdir(target) and newest_fingerprint(target) > finished):
        if trusted:
            print(f"source times: {target} was built in outside these runs, or the last run did not end: every file is new")
        trusted = {}
    files = subprocess.run(["git", "ls-files", "-z"], stdout=subprocess.PIPE, check=True).stdout
    seen, kept = {}, 0
    for path in files.decode().split("\0"):
        if not path or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        previous = trusted.get(path)
        if previous and previous[0] == digest:
            stamp = previous[1]
            kept += 1
        else:
            stamp = started
        os.utime(path, ns=(stamp, stamp))
        seen[path] = [digest, stamp]
    # Not finished until `finish` says so: a run cut off leaves the record untrusted.
    save(target, {"files": seen, "finished": None})
    print(f"source times: {kept} of {len(seen)} files unchanged since an earlier run with {target}")


def finish(target):
    record = load(target)
    # Later than every fingerprint this run wrote.
    record["finished"] = max(time.time_ns(), newest_fingerprint(target) if os.path.isdir(target) else 0)
    save(target, record)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "finish"):
        sys.exit("usage: python3 tests/source_times.py start|finish TARGET_DIR")
    {"start": start, "finish": finish}[sys.argv[1]](sys.argv[2])
