#!/usr/bin/env bash
# Builds the coverage-guided fuzz targets (fuzz/: libFuzzer on the stable toolchain, without a
# sanitizer) and runs each for a bounded time from the corpus kept in fuzz/corpus/TARGET.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# A crash, a panic, an input slower than 10 s, more than 2 GiB of memory or one allocation above
# 256 MiB fails the run; the input is kept in fuzz/artifacts/TARGET/ (run the target binary on
# it to reproduce). New inputs go to target/fuzz/new-corpus; fold the ones that reach new code
# into the committed corpus (kept small: one input per covered edge, not per counter) with
#   BINARY -set_cover_merge=1 -use_counters=0 fuzz/corpus/TARGET target/fuzz/new-corpus/TARGET
# where BINARY is target/fuzz/x86_64-unknown-linux-gnu/release/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(requests journal)
fi

# The instrumentation flags live in fuzz/.cargo/config.toml; RUSTFLAGS would replace them.
unset RUSTFLAGS
export CARGO_TARGET_DIR="$PWD/target/fuzz"

echo "== building the fuzz targets"
(cd fuzz && cargo build --release --quiet)
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

for target in "${targets[@]}"; do
  echo "== fuzzing $target for $seconds s"
  mkdir -p "fuzz/artifacts/$target" "target/fuzz/new-corpus/$target"
  log="target/fuzz/$target.log"
  set +e
  "$bin/$target" "target/fuzz/new-corpus/$target" "fuzz/corpus/$target" \
    -artifact_prefix="fuzz/artifacts/$target/" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 > "$log" 2>&1
  status=$?
  set -e
  grep -E "^(INFO: seed|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|thread '|==)" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
done
