#!/usr/bin/env bash
# just bench-transfer [sizes in MiB, comma-separated]: creel vs `rclone copyurl` into a local S3
# server, same part size and concurrency. Needs rclone and GNU time (Debian: rclone, time).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in rclone /usr/bin/time pkill; do
  command -v "$tool" >/dev/null || { echo "install $tool (apt-get install rclone time procps)" >&2; exit 1; }
done
cargo build --release --locked --quiet -p creel --bin creel -p creel-tests --bin transfer-bench
target/release/transfer-bench target/release/creel --mib "${1:-1024,4096}"
