#!/usr/bin/env bash
# The size of each function's deployment zip, measured on what ships: the `bootstrap` that
# `sam build` (cargo-lambda, the workspace's release profile) leaves in the build directory,
# zipped as `sam deploy` packages it (zipfile, ZIP_DEFLATED at zlib's default level, as
# samcli/lib/package/utils.py make_zip does). Prints a Markdown table for BENCHMARKS.md.
#   bash tests/zip-sizes.sh [BUILD_DIR]     (default: tests/.work/sam-build, which
#                                            bash tests/run.sh builds)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${FUNCTIONS_DIR:-tests/.work/sam-build}}"
python3 - "$dir" <<'PY'
import io, os, sys, zipfile
build = sys.argv[1]
print("| function | binary | zip |")
print("| --- | ---: | ---: |")
for f in ["Cut", "Promote", "Events", "Api", "Widget"]:
    path = os.path.join(build, f + "Function", "bootstrap")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: build the functions (bash tests/run.sh builds them)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    mb = lambda n: f"{n / 1e6:.2f} MB"
    print(f"| {f.lower()} | {mb(os.path.getsize(path))} | {mb(len(buf.getvalue()))} |")
PY
