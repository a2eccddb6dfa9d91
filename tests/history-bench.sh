#!/usr/bin/env bash
# The cost of a train's answer after N hold/resume pairs: time and size of GET /trains/ID
# over serve's TCP listener, median of 7 (BENCHMARKS.md, "Local API").
set -euo pipefail
# TRAINCTL: the binary to measure (default: the workspace's debug build, built here).
# N: how many hold/resume pairs (default 1,000).
if [ -z "${TRAINCTL:-}" ]; then
  cargo build --quiet -p trainctl
  TRAINCTL="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}/debug/trainctl"
fi
BIN=$TRAINCTL
N=${N:-1000}
D=$(mktemp -d); cd "$D"
mkdir -p repos/api && git -C repos/api init -q -b main
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n' > repos/api/buildspec.yml
git -C repos/api add . && git -C repos/api -c user.name=T -c user.email=t@e.invalid commit -q -m v1
cut=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%S); promote=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%S)
cat > release-train.toml <<TOML
[train]
name = "bench"
time_zone = "UTC"
cut = "at($cut)"
promote = "at($promote)"
soak = "1h"

[[component]]
name = "api"
source = "repos/api"
staging = { buildspec = "buildspec.yml" }
production = { buildspec = "buildspec.yml" }
TOML
"$BIN" serve --config release-train.toml --data .rt --listen 127.0.0.1:0 > serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$D"' EXIT
for _ in $(seq 300); do
  id=$("$BIN" status --data .rt --json 2>/dev/null | python3 -c 'import json,sys; t=json.load(sys.stdin)["trains"]; print(t[0]["id"] if t and t[0]["state"]=="soaking" else "")' 2>/dev/null || true)
  [ -n "$id" ] && break; sleep 0.1
done
addr=$(cat .rt/serve.addr)
measure() {
  for _ in 1 2 3 4 5 6 7; do curl -s -H "Authorization: Bearer $(cat .rt/serve.token)" -o /dev/null -w '%{time_total} %{size_download}\n' "$addr/trains/$id$1"; done | sort -n | sed -n 4p
}
echo "fresh train: $(measure '')  (seconds, bytes; median of 7)"
for i in $(seq "$N"); do
  curl -s -o /dev/null --unix-socket .rt/serve.sock -X POST "http://localhost/trains/$id/hold" -d "{\"reason\": \"hold $i\"}"
  curl -s -o /dev/null --unix-socket .rt/serve.sock -X POST "http://localhost/trains/$id/resume" -d "{\"reason\": \"resume $i\"}"
done
echo "after $N hold/resume pairs: $(measure '')"
echo "the oldest page (?history_before=100): $(measure '?history_before=100')"
echo "1,000 entries at once (?history_limit=1000): $(measure '?history_limit=1000')"
