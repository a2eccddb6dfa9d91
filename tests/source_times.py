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

A clone at another path is the other way an artifact can be older than what it read.
cargo keeps the workspace's own sources relative, so it reuses a build made in another
clone; but a unit that read the clone's location (a test's `env!("CARGO_MANIFEST_DIR")`,
which cargo does not watch, or a file outside its package, such as a fixture at the
workspace root or clippy.toml, which cargo records by absolute path) would read the old
clone's files, or fail when that clone is gone. So every unit of the workspace's own
packages whose last build names an absolute path outside this clone, the target directory
and the toolchain has its fingerprint removed, and cargo builds it again.

    python3 tests/source_times.py start TARGET_DIR    (.ci/run, before the test command)
    python3 tests/source_times.py finish TARGET_DIR   (.ci/run, after it, passed or not)
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib

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


def profiles(target):
    """The directories cargo builds a profile in: TARGET/debug, TARGET/release, and the
    same under TARGET/<triple> (cargo-lambda names the target)."""
    for entry in os.scandir(target):
        if not entry.is_dir():
            continue
        if os.path.isdir(os.path.join(entry.path, ".fingerprint")):
            yield entry.path
            continue
        for sub in os.scandir(entry.path):
            if sub.is_dir() and os.path.isdir(os.path.join(sub.path, ".fingerprint")):
                yield sub.path


def newest_fingerprint(target):
    """The newest mtime among the files of every profile's `.fingerprint` directory: cargo
    writes there for each unit it builds."""
    newest = 0
    for profile in profiles(target):
        for unit in os.scandir(os.path.join(profile, ".fingerprint")):
            if unit.is_dir():
                for f in os.scandir(unit.path):
                    newest = max(newest, f.stat().st_mtime_ns)
    return newest


# An absolute path in a fingerprint's binary dep-info (after a length or type byte) or in
# rustc's `.d` file (after a space, a line start or the `=` of an `env-dep:` line).
ABSOLUTE = re.compile(rb"(?:(?<![\x21-\x7e])|(?<=[=]))/[\x21-\x7e]+")


def forget_units_built_elsewhere(target, members):
    """Removes the fingerprint of each unit of the workspace's own packages whose last build
    names an absolute path outside this clone, the target directory and the toolchain (see
    the module's doc), so that cargo builds it again here. Returns how many."""
    places = (
        os.getcwd(),
        target,
        os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")),
        os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup")),
    )
    # As cargo wrote them, and with links resolved.
    here = {os.path.abspath(p) for p in places} | {os.path.realpath(p) for p in places}

    def elsewhere(data):
        return any(
            not any(path == h or path.startswith(h + "/") for h in here)
            for path in (m.decode(errors="replace") for m in ABSOLUTE.findall(data))
        )

    forgotten = 0
    for profile in profiles(target):
        # rustc's dep-info (`deps/cli-<hash>.d`) keeps the env-deps cargo leaves out of its own.
        dep_info = {}
        for folder in ("deps", "examples"):
            path = os.path.join(profile, folder)
            for entry in os.scandir(path) if os.path.isdir(path) else ():
                if entry.name.endswith(".d"):
                    dep_info.setdefault(entry.name[:-2].rpartition("-")[2], []).append(entry.path)
        fingerprints = os.path.join(profile, ".fingerprint")
        for unit in os.scandir(fingerprints):
            package, _, unit_hash = unit.name.rpartition("-")
            if package not in members or not unit.is_dir():
                continue
            files = [f.path for f in os.scandir(unit.path)] + dep_info.get(unit_hash, [])
            if any(elsewhere(read(f)) for f in files):
                shutil.rmtree(unit.path)
                forgotten += 1
    return forgotten


def read(path):
    with open(path, "rb") as f:
        return f.read()


def members(paths):
    """The names of the workspace's own packages, from the manifests among `paths`."""
    names = set()
    for path in paths:
        if os.path.basename(path) == "Cargo.toml":
            with open(path, "rb") as f:
                name = tomllib.load(f).get("package", {}).get("name")
            if name:
                names.add(name)
    return names


def start(target):
    started = time.time_ns()
    record = load(target)
    finished = record.get("finished")
    trusted = record["files"]
    if finished is None or (os.path.isdir(target) and newest_fingerprint(target) > finished):
        if trusted:
            print(f"source times: {target} was built in outside these runs, or the last run did not end: every file is new")
        trusted = {}
    listed = subprocess.run(["git", "ls-files", "-z"], stdout=subprocess.PIPE, check=True).stdout
    files = [p for p in listed.decode().split("\0") if p and not os.path.islink(p) and os.path.isfile(p)]
    if trusted:
        forgotten = forget_units_built_elsewhere(target, members(files))
        if forgotten:
            print(f"source times: {forgotten} units read another clone's files: they build again")
    seen, kept = {}, 0
    for path in files:
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
