#!/usr/bin/env bash
# The test command: everything CI runs, from a fresh clone.
#
#   bash tests/run.sh          formatting, clippy (pedantic, warnings denied), every test
#
# It installs what the tests need. Local mode needs only the Rust toolchain, git, bash and
# coreutils' `timeout`, all on the machine image; the AWS emulator joins here with the AWS
# adapters. CARGO_TARGET_DIR may point at a target directory kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

for tool in cargo git bash timeout; do
  command -v "$tool" >/dev/null || { echo "tests/run.sh: $tool is required and not installed" >&2; exit 1; }
done
# The tests never reach the network and never sign commits with a person's identity.
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1
export CARGO_TERM_COLOR=never

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (pedantic, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked
