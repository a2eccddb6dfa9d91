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
holds while only these runs build into the target directory: .ci/run's clean clones with
their own CARGO_TARGET_DIR. A working copy shared with other target directories should not
use it (an edit undone and redone between two runs would be stamped with the earlier time).

    python3 tests/source_times.py TARGET_DIR     (.ci/run, before the test command)
"""

import hashlib
import json
import os
import subprocess
import sys
import time


def main():
    target = sys.argv[1]
    record_path = os.path.join(target, "release-train-source-times.json")
    started = time.time_ns()
    try:
        with open(record_path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        record = {}
    files = subprocess.run(["git", "ls-files", "-z"], stdout=subprocess.PIPE, check=True).stdout
    seen, kept = {}, 0
    for path in files.decode().split("\0"):
        if not path or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        previous = record.get(path)
        if previous and previous[0] == digest:
            stamp = previous[1]
            kept += 1
        else:
            stamp = started
        os.utime(path, ns=(stamp, stamp))
        seen[path] = [digest, stamp]
    os.makedirs(target, exist_ok=True)
    with open(record_path + ".tmp", "w") as f:
        json.dump(seen, f)
    os.replace(record_path + ".tmp", record_path)
    print(f"source times: {kept} of {len(seen)} files unchanged since an earlier run with {target}")


if __name__ == "__main__":
    main()
