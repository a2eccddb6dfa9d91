"""Runs every test binary of the workspace, as `cargo test --workspace` would, in two chains
at once: the AWS adapters' and the functions' tests (train-aws, train-lambda), which wait on
the emulator, beside all the others, which run git, bash, SQLite and Chromium. The emulator
serves one request at a time on one core, so its chain leaves the other core mostly idle;
the local chain uses it. Each chain runs its binaries one after the other, each with
`cargo test`'s own parallelism inside it, from its package's directory as cargo does.

    python3 tests/run_tests.py      (tests/run.sh runs it after building the binaries)

Exits non-zero when any binary failed, after both chains finished, naming the failures.
"""

import json
import os
import subprocess
import sys
import threading
import time

EMULATOR_PACKAGES = {"train-aws", "train-lambda"}


def binaries():
    """Builds the test binaries (as `cargo test --workspace --locked --no-run`) and lists
    them: (package, target, path, package directory)."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--locked", "--no-run", "--message-format=json-render-diagnostics"],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    ).stdout
    found = []
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("reason") != "compiler-artifact" or not m.get("executable"):
            continue
        if not m.get("profile", {}).get("test"):
            continue
        package = m["package_id"]
        # "path+file:///.../shared/aws#train-aws@0.1.0", or ".../functions/cut#0.1.0" when
        # the name is the directory's, or (older cargo) "train-aws 0.1.0 (path+...)".
        name = m["target"]["name"]
        manifest = m["manifest_path"]
        pkg = os.path.basename(os.path.dirname(manifest))
        if "#" in package and "@" in package.split("#", 1)[1]:
            pkg = package.split("#", 1)[1].split("@", 1)[0]
        elif " " in package:
            pkg = package.split(" ", 1)[0]
        found.append((pkg, name, m["executable"], os.path.dirname(manifest)))
    return found


def run_chain(label, chain, results, lock):
    for pkg, name, exe, cwd in chain:
        started = time.monotonic()
        env = dict(os.environ, CARGO_MANIFEST_DIR=cwd)
        proc = subprocess.run([exe], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        took = time.monotonic() - started
        with lock:
            print(f"\n     Running {pkg} {name} ({label} chain, {took:.1f}s)", flush=True)
            print(proc.stdout, end="", flush=True)
            results.append((pkg, name, proc.returncode, took))


def main():
    found = binaries()
    emulator = [b for b in found if b[0] in EMULATOR_PACKAGES]
    local = [b for b in found if b[0] not in EMULATOR_PACKAGES]
    results, lock = [], threading.Lock()
    chains = [
        threading.Thread(target=run_chain, args=("emulator", emulator, results, lock)),
        threading.Thread(target=run_chain, args=("local", local, results, lock)),
    ]
    started = time.monotonic()
    for c in chains:
        c.start()
    for c in chains:
        c.join()
    # Doc tests, which have no binary of their own.
    doc = subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc"])
    failed = [f"{pkg} {name}" for pkg, name, rc, _ in results if rc != 0]
    if doc.returncode != 0:
        failed.append("doc tests")
    slowest = sorted(results, key=lambda r: -r[3])[:5]
    print(f"\n{len(results)} test binaries in {time.monotonic() - started:.0f}s; slowest: "
          + ", ".join(f"{p} {n} {t:.0f}s" for p, n, _, t in slowest))
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
