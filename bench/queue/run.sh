#!/usr/bin/env bash
# just bench-queue [jobs] [concurrencies]: creel-queue against BullMQ 6 on one private Redis,
# same job count, concurrency and payload size, enqueue-then-drain, in one run. Each side runs
# ROUNDS times (3 unless set; Redis flushed in between); the median end-to-end time of each is
# compared. Concurrencies is a comma-separated list (50,10,100 unless given); the first is the
# headline: RESULT queue_ratio_vs_bullmq=<creel jobs/s ÷ bullmq jobs/s>, the others print
# RESULT queue_ratio_vs_bullmq_c<C>=….
# At the first concurrency a third side, creel with telemetry on (every job traced to a local
# OTLP collector, sampler always on), gives RESULT telemetry_overhead_ratio=<on jobs/s ÷ off
# jobs/s>. The collector counts what arrives; the round fails unless every job's process span
# did (creel's span queue is 16,384, not the SDK's 2,048, which dropped 6 of 10 spans at this
# rate).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-50000}
CONCS=${2:-50,10,100}
PAD=100
ROUNDS=${ROUNDS:-3}

command -v redis-server >/dev/null || { echo "install redis-server: apt-get install redis-server" >&2; exit 1; }
command -v node >/dev/null || { echo "install Node.js 18+ (node, npm)" >&2; exit 1; }

(cd bench/bullmq && npm install --no-audit --no-fund --silent >/dev/null)
cargo build --release --locked --quiet -p creel-tests --bin queue-bench --bin otlp-sink

DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no --loglevel warning &
REDIS_PID=$!
target/release/otlp-sink > "$DIR/otlp" &
SINK_PID=$!
trap 'kill $REDIS_PID $SINK_PID 2>/dev/null; rm -rf "$DIR"' EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
until grep -q '^OTLP ' "$DIR/otlp" 2>/dev/null; do sleep 0.05; done
OTLP=$(awk '/^OTLP /{print $2}' "$DIR/otlp")
echo "redis $(redis-server --version | awk '{print $3}') on port $PORT; bullmq $(node -p 'require("./bench/bullmq/node_modules/bullmq/package.json").version'); jobs=$JOBS concurrencies=$CONCS payload_pad=$PAD"

spans() { { grep '^SPANS ' "$DIR/otlp" || true; } | tail -1 | awk '{print $2+0}'; }
total() { awk '{for(i=1;i<=NF;i++){split($i,kv,"="); if(kv[1]=="enqueue_s")e=kv[2]; if(kv[1]=="drain_s")d=kv[2]} print e+d}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
HEADLINE=${CONCS%%,*}
for CONC in ${CONCS//,/ }; do
  creel_t=(); bull_t=(); traced_t=()
  for r in $(seq 1 $ROUNDS); do
    redis-cli -p "$PORT" flushall >/dev/null
    line=$(target/release/queue-bench "redis://127.0.0.1:$PORT/" "$JOBS" "$CONC" --pad "$PAD")
    echo "c=$CONC round $r: $line"; creel_t+=("$(echo "$line" | total)")
    if [ "$CONC" = "$HEADLINE" ]; then
      redis-cli -p "$PORT" flushall >/dev/null
      before=$(spans)
      line=$(target/release/queue-bench "redis://127.0.0.1:$PORT/" "$JOBS" "$CONC" --pad "$PAD" --otlp "$OTLP")
      sleep 0.3 # the sink prints its count every 100 ms
      exported=$(( $(spans) - before ))
      echo "c=$CONC round $r (telemetry on): $line spans_exported=$exported"; traced_t+=("$(echo "$line" | total)")
      if [ "$exported" -lt "$JOBS" ]; then echo "telemetry round lost spans: $exported exported for $JOBS jobs" >&2; exit 1; fi
    fi
    redis-cli -p "$PORT" flushall >/dev/null
    line=$(node bench/bullmq/bench.js "$PORT" "$JOBS" "$CONC" "$PAD")
    echo "c=$CONC round $r: $line"; bull_t+=("$(echo "$line" | total)")
  done
  C=$(median "${creel_t[@]}"); B=$(median "${bull_t[@]}")
  if [ "$CONC" = "$HEADLINE" ]; then
    T=$(median "${traced_t[@]}")
    awk -v c="$C" -v t="$T" -v n="$JOBS" 'BEGIN{
      printf "creel, telemetry on, c=%d: %.0f jobs/s (median %.3f s end to end)\n", '"$CONC"', n/t, t
      printf "RESULT telemetry_overhead_ratio=%.2f\n", c/t }'
    NAME=queue_ratio_vs_bullmq
  else
    NAME=queue_ratio_vs_bullmq_c$CONC
  fi
  awk -v c="$C" -v b="$B" -v n="$JOBS" -v k="$CONC" -v name="$NAME" 'BEGIN{
    printf "c=%d: creel %.0f jobs/s (median %.3f s), bullmq %.0f jobs/s (median %.3f s)\n", k, n/c, c, n/b, b
    printf "RESULT %s=%.2f\n", name, b/c }'
done
