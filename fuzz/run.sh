#!/usr/bin/env bash
# `just fuzz`: every cargo-fuzz target for `seconds` each, starting from the committed seeds in
# fuzz/corpus/<target> (read only; new inputs go to a scratch corpus). cargo-fuzz needs
# nightly-only flags; RUSTC_BOOTSTRAP=1 lets the machine's one stable toolchain take them.
# Prints one line per target: FUZZ <target> runs=<n> crashes=<n>.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
targets=(vendor_answers callbacks job_request php_round_trip object_keys)
cargo fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  status=0
  cargo fuzz run -O "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$scratch/$t.log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | tr -dc 0-9 || true)
  crashes=0
  if [ "$status" != 0 ]; then
    crashes=1
    failed=1
    tail -40 "$scratch/$t.log"
  fi
  echo "FUZZ $t seconds=$seconds runs=${runs:-0} crashes=$crashes"
done
exit $failed
