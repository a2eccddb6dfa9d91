#!/usr/bin/env bash
# The test command: everything CI runs, from a fresh clone.
#
#   bash tests/run.sh          formatting, clippy (pedantic, warnings denied), every test
#   bash tests/run.sh unit     formatting and the unit tests only (what the buildspec test
#                              runs through the local builder, without recursing into it)
#
# It installs what the tests need: local mode needs only the Rust toolchain, git, bash and
# coreutils' `timeout`; the AWS adapter tests need moto, the AWS emulator, which this script
# installs into .venv (pinned in tests/requirements-moto.txt) and serves on 127.0.0.1 for
# the length of the run. The template is checked with cfn-lint and `sam validate --lint`
# (.venv-infra, tests/requirements-infra.txt) and checkov (.venv-checkov, its own pins:
# it needs an older boto3); `sam build` (with cargo-lambda from the same pins) builds the
# functions the end-to-end tests run. The status page test renders in headless Chromium (Debian's
# `chromium`, installed with apt when missing). What waits on the network or on files (the
# virtualenvs, chromium) installs while cargo builds, and the emulator's tests run beside the
# others (tests/run_tests.py). CARGO_TARGET_DIR may point at a target directory kept
# between runs. Each step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it starts and how long the one before it took (BENCHMARKS.md, "The
# test command", reads these lines).
step_name='' step_start=$SECONDS
step() {
  [ -z "$step_name" ] || printf '== %s: %ds\n' "$step_name" $((SECONDS - step_start))
  step_name=$* step_start=$SECONDS
  printf '\n== %s\n' "$*"
}
moto_pid=
finish() {
  [ -z "$moto_pid" ] || kill "$moto_pid" 2>/dev/null || true
  [ -z "$step_name" ] || printf '== %s: %ds\n== total: %ds\n' "$step_name" $((SECONDS - step_start)) $SECONDS
}
trap finish EXIT

for tool in cargo git bash timeout python3; do
  command -v "$tool" >/dev/null || { echo "tests/run.sh: $tool is required and not installed" >&2; exit 1; }
done
# The tests never reach the network and never sign commits with a person's identity.
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1
export CARGO_TERM_COLOR=never

if [ "${1:-all}" = unit ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo test --lib (unit tests)"
  cargo test --workspace --locked --lib
  exit 0
fi

mkdir -p tests/.work
# No telemetry or rule downloads: nothing here may reach the network.
export SAM_CLI_TELEMETRY=0
venv() { # venv DIR REQUIREMENTS PROBE
  if ! "$1/bin/python" -c "import $3" 2>/dev/null; then
    [ -x "$1/bin/pip" ] || python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
  fi
}
# Debian's chromium from the package archive, for the status page and widget tests;
# nothing downloads a browser build of its own. Installed beside the build, too.
chromium_install=
if ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core) \
      > tests/.work/chromium-install.log 2>&1 &
    chromium_install=$!
  else
    echo "tests/run.sh: the status page test needs chromium: run 'sudo apt-get install chromium' (or set CHROMIUM)" >&2
    exit 1
  fi
fi

step "cargo-lambda; SAM CLI, cfn-lint, moto and checkov beside the build"
# The build needs cargo-lambda first, and only it: the rest of SAM's virtualenv, moto's and
# checkov's install in the background while cargo builds the functions (pip waits on files,
# cargo on the cores). cargo-lambda's pin is the one in SAM's requirements, so the
# background install finds it there and leaves it alone.
venv .venv tests/requirements-moto.txt moto > tests/.work/venv-moto.log 2>&1 &
moto_venv=$!
venv .venv-checkov tests/requirements-checkov.txt checkov > tests/.work/venv-checkov.log 2>&1 &
checkov_venv=$!
if [ ! -x .venv-infra/bin/cargo-lambda ]; then
  [ -x .venv-infra/bin/pip ] || python3 -m venv .venv-infra
  .venv-infra/bin/pip install --quiet --disable-pip-version-check \
    "$(grep '^cargo-lambda==' tests/requirements-infra.txt)"
fi
venv .venv-infra tests/requirements-infra.txt samcli > tests/.work/venv-infra.log 2>&1 &
infra_venv=$!

step "sam build (cargo-lambda): the functions as they deploy, which the end-to-end tests run"
# The template's build metadata and the workspace's release profile, exercised on every run.
# The host's architecture, since the tests run the binaries here (arm64 cannot be built on
# this x86_64 machine); a deployment built elsewhere passes Architecture=arm64. SAM finds
# cargo-lambda on PATH, and cargo builds in CARGO_TARGET_DIR when it is set, so a kept
# target directory serves this build too.
case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "tests/run.sh: Lambda has no architecture for $(uname -m)" >&2; exit 1 ;;
esac
# CARGO_LAMBDA_COMPILER=cargo: the host's own toolchain, not zig (which cargo-lambda uses to
# cross-compile for arm64), so nothing else is compiled or cached for this build.
export CARGO_LAMBDA_COMPILER=cargo
# First every function in one cargo invocation, exactly as `sam build` builds each (the same
# command, flags and default members, so the same artifacts): cargo links them two at a
# time, where `sam build` would build them one after the other with a core idle during each
# function's LTO. `sam build` then finds them built and packages them.
functions=(cut promote events api widget)
lambda_flags=(--release --locked "${functions[@]/#/--bin=}")
[ "$arch" = x86_64 ] || lambda_flags+=(--arm64)
.venv-infra/bin/cargo-lambda lambda build "${lambda_flags[@]}"
wait "$infra_venv" || { cat tests/.work/venv-infra.log >&2; echo "installing SAM CLI and cfn-lint failed" >&2; exit 1; }
PATH="$PWD/.venv-infra/bin:$PATH" .venv-infra/bin/sam build --template infra/template.yaml \
  --build-dir tests/.work/sam-build --parameter-overrides "Architecture=$arch"
export FUNCTIONS_DIR="$PWD/tests/.work/sam-build"
for f in Cut Promote Events Api Widget; do
  [ -x "$FUNCTIONS_DIR/${f}Function/bootstrap" ] || { echo "sam build left no ${f}Function/bootstrap" >&2; exit 1; }
done

step "AWS emulator (moto) on 127.0.0.1"
wait "$moto_venv" || { cat tests/.work/venv-moto.log >&2; echo "installing moto failed" >&2; exit 1; }
rm -f tests/.work/moto.port
.venv/bin/python tests/moto_serial.py tests/.work/moto.port > tests/.work/moto.log 2>&1 &
moto_pid=$!
for _ in $(seq 100); do
  [ -s tests/.work/moto.port ] && break
  kill -0 "$moto_pid" 2>/dev/null || { cat tests/.work/moto.log >&2; echo "moto did not start" >&2; exit 1; }
  sleep 0.2
done
[ -s tests/.work/moto.port ] || { echo "moto did not report its port" >&2; exit 1; }
export MOTO_ENDPOINT="http://127.0.0.1:$(cat tests/.work/moto.port)"
# botocore (installed with moto) checks trainctl's SigV4 signatures independently.
export TEST_PYTHON="$PWD/.venv/bin/python"
# The SDK's credential chain must never look for an instance metadata service.
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
echo "moto $(.venv/bin/python -c 'import moto; print(moto.__version__)') at $MOTO_ENDPOINT (pid $moto_pid)"
.venv/bin/python tests/moto_serial_check.py "$MOTO_ENDPOINT"

step "infrastructure: cfn-lint, sam validate --lint, checkov"
wait "$checkov_venv" || { cat tests/.work/venv-checkov.log >&2; echo "installing checkov failed" >&2; exit 1; }
.venv-infra/bin/cfn-lint infra/template.yaml
.venv-infra/bin/sam validate --lint --template infra/template.yaml --region us-east-1
.venv-checkov/bin/checkov --file infra/template.yaml --framework cloudformation --skip-download --quiet --compact
# The member-account stack is plain CloudFormation (no Serverless transform); `sam validate
# --lint` runs cfn-lint on it just the same.
.venv-infra/bin/cfn-lint infra/member-account.yaml
.venv-infra/bin/sam validate --lint --template infra/member-account.yaml --region us-east-1
.venv-checkov/bin/checkov --file infra/member-account.yaml --framework cloudformation --skip-download --quiet --compact
# The parameters `trainctl infra-params` prints survive SAM's own --parameter-overrides parser.
params=$(cargo run --quiet --locked -p trainctl -- infra-params --config infra/config/release-train.toml)
.venv-infra/bin/python - "$params" <<'PY'
import sys
from samcli.cli.types import CfnParameterOverridesType
parsed = CfnParameterOverridesType().convert((sys.argv[1],), None, None)
assert parsed["CutSchedule"].startswith("cron(") and " " in parsed["CutSchedule"], parsed
assert set(parsed) == {"CutSchedule", "PromoteSchedule", "ScheduleTimeZone", "BuildProjects", "GatingAlarms", "MemberRoles", "MemberAccounts"}, parsed
print("sam reads:", parsed)
PY
# And a member account's (tests/fixtures/accounts.toml: staging and production elsewhere).
member=$(cargo run --quiet --locked -p trainctl -- infra-params --config tests/fixtures/accounts.toml --member production 2>/dev/null)
.venv-infra/bin/python - "$member" <<'PY'
import sys
from samcli.cli.types import CfnParameterOverridesType
parsed = CfnParameterOverridesType().convert((sys.argv[1],), None, None)
assert parsed == {"RoleName": "release-train-builds", "BuildProjects": "db-migrations-production,api-production", "GatingAlarms": "checkout-5xx"}, parsed
print("sam reads the member's:", parsed)
PY

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (pedantic, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "headless Chromium"
if [ -n "$chromium_install" ]; then
  wait "$chromium_install" || { cat tests/.work/chromium-install.log >&2; echo "installing chromium failed" >&2; exit 1; }
fi
"${CHROMIUM:-chromium}" --version

step "cargo test: the emulator's tests beside the others"
# Every test binary of `cargo test --workspace`, in two chains at once (tests/run_tests.py).
python3 tests/run_tests.py
