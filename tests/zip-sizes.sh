#!/usr/bin/env bash
# The size of each function's deployment zip: its release binary as `bootstrap`, deflated
# as SAM and cargo-lambda package it. Prints a Markdown table for BENCHMARKS.md.
#   bash tests/zip-sizes.sh            (builds the functions in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p cut -p promote -p events -p api
release="${CARGO_TARGET_DIR:-target}/release"
python3 - "$release" <<'PY'
import io, os, sys, zipfile
release = sys.argv[1]
print("| function | binary | zip |")
print("| --- | ---: | ---: |")
for f in ["cut", "promote", "events", "api"]:
    path = os.path.join(release, f)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(path, "bootstrap")
    mb = lambda n: f"{n / 1e6:.1f} MB"
    print(f"| {f} | {mb(os.path.getsize(path))} | {mb(len(buf.getvalue()))} |")
PY
