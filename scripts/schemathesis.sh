#!/usr/bin/env bash
# `just test-security`: schemathesis (from PyPI, in a venv under target/) against /openapi.json
# of a running `creel api` on a private redis-server, with positive and negative data and the
# stateful phase. Passes only with 0 server errors and 0 responses that break the schema.
# Usage: scripts/schemathesis.sh [max_examples]
set -euo pipefail
cd "$(dirname "$0")/.."
max_examples="${1:-50}"
work="$(mktemp -d)"
venv="target/schemathesis-venv"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi
cargo build --quiet --locked -p creel
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port="$(free_port)"
api_port="$(free_port)"
token="schemathesis-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
cat >"$work/creel.toml" <<TOML
[redis]
url = "redis://127.0.0.1:$redis_port/"
[api]
listen = "127.0.0.1:$api_port"
[[api.tokens]]
name = "schemathesis"
token = "$token"
scopes = ["admin"]
[storage.local]
type = "dir"
path = "$work/out"
[accounts.bjy]
vendor = "baijiayun"
id = "1"
secret = "partner-key"
base_url = "https://example.at.baijiayun.com"
[events.webhook]
allow = ["https://hooks.example.com/"]
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
TOML
target/debug/creel --config "$work/creel.toml" api >"$work/api.log" 2>&1 &
api_pid=$!
trap 'kill $api_pid $redis_pid 2>/dev/null || true; rm -rf "$work"' EXIT
ready=0
for _ in $(seq 1 300); do
  if curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "creel api did not become ready:" >&2
  cat "$work/api.log" >&2
  exit 1
fi
status=0
"$venv/bin/st" run "http://127.0.0.1:$api_port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,negative_data_rejection,ignored_auth,use_after_free,ensure_resource_availability \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$max_examples" \
  --workers 2 \
  --seed 1 \
  --no-color \
  --report junit --report-dir "$work/report" \
  | tee "$work/st.log" || status=$?
cases=$(grep -o 'tests="[0-9]*"' "$work/report/"*.xml 2>/dev/null | head -1 | tr -dc 0-9 || true)
failures=$(grep -o 'failures="[0-9]*"' "$work/report/"*.xml 2>/dev/null | head -1 | tr -dc 0-9 || true)
echo "SCHEMATHESIS operations_tested=${cases:-?} failures=${failures:-?} exit=$status"
exit $status
