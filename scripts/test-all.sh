#!/usr/bin/env bash
# Every test of Purser, as CI runs them (after `cargo fmt --check` and `cargo clippy`):
#   1. the Rust tests of the workspace (unit, property, simulation, store conformance, the real
#      binary over HTTP, the SIGKILL crash test);
#   2. Schemathesis against the real binary's OpenAPI document (installs itself into
#      target/venv from PyPI on first use);
#   3. the fuzz targets, 60 s each (FUZZ_SECONDS to change it).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace

echo "== schemathesis"
cargo build --quiet -p purser
scripts/schemathesis.sh target/debug/purser "${SCHEMATHESIS_EXAMPLES:-100}"

echo "== fuzzing"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
