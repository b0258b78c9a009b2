#!/usr/bin/env bash
# just bench-queue-breakdown [jobs] [concurrency]: where creel-queue's time goes, for README's
# performance section. One queue-bench run (no-op jobs, 100-byte pad) against a private Redis
# that logs every command it is sent (SLOWLOG at 0 µs), then:
#   - Redis µs per job by script (each EVALSHA's own time, named by its script's SHA1) and for
#     the other commands the client sends;
#   - round trips per job (commands the client sent ÷ jobs), and the scripts' own commands;
#   - the client's CPU per job (user + sys, enqueue and drain).
# The SLOWLOG's own cost makes the total a little higher than in `just bench-queue`.
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-50000}
CONC=${2:-50}
command -v redis-server >/dev/null || { echo "install redis-server: apt-get install redis-server" >&2; exit 1; }
cargo build --release --locked --quiet -p creel-tests --bin queue-bench
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no --loglevel warning \
  --slowlog-log-slower-than 0 --slowlog-max-len 1000000 >/dev/null &
REDIS_PID=$!
trap 'kill $REDIS_PID 2>/dev/null; rm -rf "$DIR"' EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
redis-cli -p "$PORT" slowlog reset >/dev/null
/usr/bin/time -f "%U %S" -o "$DIR/time" target/release/queue-bench "redis://127.0.0.1:$PORT/" "$JOBS" "$CONC" --pad 100
redis-cli -p "$PORT" --json slowlog get 1000000 > "$DIR/slowlog.json"
python3 - "$DIR/slowlog.json" "$DIR/time" "$JOBS" crates/creel-queue/src/lua <<'PY'
import hashlib, json, os, sys
log, timef, jobs, lua = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
prelude = open(os.path.join(lua, "prelude.lua")).read()
names = {}
for f in os.listdir(lua):
    if f.endswith(".lua") and f != "prelude.lua":
        body = open(os.path.join(lua, f)).read()
        names[hashlib.sha1(f"{prelude}\n{body}".encode()).hexdigest()] = f[:-4] + ".lua"
us, calls, inner = {}, {}, {}
for entry in json.load(open(log)):
    args = entry[3]
    cmd = args[0].lower()
    if cmd in ("slowlog", "ping"):
        continue
    if entry[4] == "?:0":  # a command a script ran: counted in its EVALSHA's time
        inner[cmd] = inner.get(cmd, 0) + entry[2]
        continue
    name = names.get(args[1], "script " + args[1][:8]) if cmd in ("evalsha", "eval") else cmd
    us[name] = us.get(name, 0) + entry[2]
    calls[name] = calls.get(name, 0) + 1
user, sys_ = map(float, open(timef).read().split())
print(f"{'':<14} {'µs per job':>10} {'calls per job':>14} {'µs per call':>12}")
for name in sorted(us, key=lambda n: -us[n]):
    print(f"{name:<14} {us[name] / jobs:>10.2f} {calls[name] / jobs:>14.4f} {us[name] / calls[name]:>12.1f}")
total_us, total_calls = sum(us.values()), sum(calls.values())
print(f"{'all':<14} {total_us / jobs:>10.2f} {total_calls / jobs:>14.4f}")
print("inside the scripts (µs per job):", ", ".join(
    f"{c.upper()} {t / jobs:.2f}" for c, t in sorted(inner.items(), key=lambda kv: -kv[1]) if t / jobs >= 0.05))
print(f"client CPU per job: {(user + sys_) / jobs * 1e6:.1f} µs (user {user:.2f} s, sys {sys_:.2f} s)")
print(f"RESULT redis_us_per_job={total_us / jobs:.1f} round_trips_per_job={total_calls / jobs:.3f} client_cpu_us_per_job={(user + sys_) / jobs * 1e6:.1f}")
PY
