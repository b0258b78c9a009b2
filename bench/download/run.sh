#!/usr/bin/env bash
# just bench-download [mib]: peak RSS and throughput of one `creel worker` downloading a
# generated source of <mib> MiB (default 2048) into a dir profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked --quiet -p creel --bin creel -p creel-tests --bin download-bench
target/release/download-bench target/release/creel --mib "${1:-2048}"
