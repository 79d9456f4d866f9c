#!/usr/bin/env bash
# Fuzzes the served API against its own OpenAPI document with schemathesis.
#
# Starts `alertledger serve` on a fresh database with a tenant, an API key and
# an msp_admin token made by the CLI (`tenant create`, `tenant api-key`,
# `token issue`), then runs every operation of /api/v1/openapi.json with the
# checks: no 5xx, statuses, content types and bodies as documented. The run
# is bounded (few examples per operation, a time budget); its summary line is
# printed last. Run alone (`scripts/schemathesis.sh [schemathesis run options]`,
# e.g. `--include-path /api/v1/alerts`) or from scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
ST_VENV="${ST_VENV:-target/schemathesis-venv}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-8}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-180}"

if ! "$ST_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "schemathesis.sh: installing schemathesis $SCHEMATHESIS_VERSION into $ST_VENV" >&2
  mkdir -p "$(dirname "$ST_VENV")"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi

cargo build -q --bin alertledger
bin=target/debug/alertledger

work="$(mktemp -d)"
db="alertledger_fuzz_$$"
base_url="${DATABASE_URL%/*}"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="$base_url/$db"
export ALERTLEDGER_JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export ALERTLEDGER_MASTER_KEY="$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
export ALERTLEDGER_SIGNING_KEY="$work/audit.pem"
# The fuzzer sends many bad credentials from one address: with the limit on
# failed authentications, most operations would answer only 429 and go
# untested (the limit has its own test, tests/security_auth_flood.rs).
export ALERTLEDGER_AUTH_FAILURES_PER_MINUTE=0
export ALERTLEDGER_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}"
"$bin" audit keygen --out "$ALERTLEDGER_SIGNING_KEY" >/dev/null 2>&1
"$bin" migrate >/dev/null 2>&1
tenant_id="$("$bin" tenant create --name "Fuzz Tenant" --slug fuzz 2>/dev/null | tail -n 1)"
api_key="$("$bin" tenant api-key --tenant "$tenant_id" 2>/dev/null | tail -n 1)"
token="$("$bin" token issue --sub fuzzer --name Fuzzer --role msp_admin --ttl 1h 2>/dev/null | tail -n 1)"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null

# A little data, so that operations on one resource reach their logic
# instead of answering 404 to random ids: an alert (webhook with the API key),
# its incident (correlation), a medium-risk runbook and its approval request.
base="http://127.0.0.1:$port/api/v1"
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
auth=(-H "Authorization: Bearer $token" -H "Content-Type: application/json")
# The service learns of the CLI's key by following the log, whose readable
# horizon waits for older transactions of the whole cluster: retry briefly.
alert_id=""
for _ in $(seq 1 100); do
  alert_id="$(curl -fsS -X POST "$base/webhooks/generic" -H "X-API-Key: $api_key" -H "Content-Type: application/json" \
    -d '{"asset_name": "srv-db-01", "signature": "HighCPU", "severity": "high", "message": "CPU above 95%"}' 2>/dev/null \
    | json_field '["alerts"][0]["alert_id"]' 2>/dev/null || true)"
  [ -n "$alert_id" ] && break
  sleep 0.2
done
curl -fsS -X POST "$base/incidents/correlate?tenant=$tenant_id" "${auth[@]}" >/dev/null
incident_id=""
for _ in $(seq 1 100); do
  incident_id="$(curl -fsS "$base/incidents?tenant=$tenant_id" "${auth[@]}" | json_field '["items"][0]["incident_id"]' 2>/dev/null || true)"
  [ -n "$incident_id" ] && break
  sleep 0.1
done
runbook_id="$(curl -fsS -X POST "$base/runbooks" "${auth[@]}" \
  -d "{\"tenant_id\": \"$tenant_id\", \"name\": \"restart\", \"signature\": \"HighCPU\", \"risk\": \"medium\", \"commands\": [\"uptime\"]}" \
  | json_field '["runbook_id"]')"
approval_id="$(curl -fsS -X POST "$base/runbooks/$runbook_id/execute" "${auth[@]}" -d "{\"incident_id\": \"$incident_id\"}" \
  | json_field '["approval_id"]')"
echo "schemathesis.sh: tenant $tenant_id, alert $alert_id, incident $incident_id, runbook $runbook_id, approval $approval_id" >&2

# Credentials per security scheme of the document (schemathesis picks the
# one each operation declares).
cat >"$work/schemathesis.toml" <<TOML
[auth.openapi.bearer_jwt]
bearer = "$token"
[auth.openapi.token_query]
api_key = "$token"
[auth.openapi.api_key_bearer]
bearer = "$api_key"
[auth.openapi.api_key_header]
api_key = "$api_key"
[auth.openapi.api_key_query]
api_key = "$api_key"

# Known ids for the operations on one resource.
[[operations]]
include-path-regex = '^/api/v1/tenants/[{]id[}]'
parameters = { "id" = "$tenant_id" }
[[operations]]
include-path-regex = '^/api/v1/alerts/[{]id[}]'
parameters = { "id" = "$alert_id" }
[[operations]]
include-path-regex = '^/api/v1/incidents/[{]id[}]'
parameters = { "id" = "$incident_id" }
[[operations]]
include-path-regex = '^/api/v1/runbooks/[{]id[}]'
parameters = { "id" = "$runbook_id" }
[[operations]]
include-path-regex = '^/api/v1/approvals/[{]id[}]'
parameters = { "id" = "$approval_id" }
[[operations]]
include-path = "/api/v1/webhooks/{source}"
parameters = { "source" = "generic" }
TOML

status=0
# /ws is a protocol upgrade and /api/v1/stream never ends: neither is a
# request/response operation a fuzzer can judge, so both are left out (the
# live-feed tests cover them).
"$ST_VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run \
  "http://127.0.0.1:$port/api/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path /ws --exclude-path /api/v1/stream \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --workers 2 \
  --request-timeout 15 --seed 1 --no-color \
  --report junit --report-junit-path target/schemathesis-junit.xml \
  "$@" \
  >"$work/run.log" 2>&1 || status=$?
cat "$work/run.log"
cp "$work/run.log" target/schemathesis.log
if grep -q '"level": *"ERROR"\|panicked' "$work/serve.log"; then
  echo "schemathesis.sh: the server logged errors:" >&2
  grep '"level": *"ERROR"\|panicked' "$work/serve.log" | head -n 20 >&2
fi
# schemathesis ends on `===== N failures, M warnings in Ts =====` (or `N passed`).
summary="$(grep -E '^=+ .* in [0-9.]+s =+$' "$work/run.log" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//' || true)"
# schemathesis 4.32.5 on CPython 3.11 sometimes stops generating cases for an
# operation with an internal error of hypothesis (`SystemError: AST
# constructor recursion depth mismatch`, raised while describing a filter
# lambda). That is the tool's bug, not the API's: such errors alone do not fail
# the run; failures, any other error, or a server that died do.
if [ "$status" != 0 ]; then
  failures="$(grep -oE '[0-9]+ failures?' <<<"$summary" | grep -oE '^[0-9]+' || echo 0)"
  errors="$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '^[0-9]+' || echo 0)"
  tool_errors="$(grep -c 'SystemError: AST constructor recursion depth mismatch' "$work/run.log" || true)"
  if [ -n "$summary" ] && [ "$failures" = 0 ] && [ "$errors" -le "$tool_errors" ]; then
    echo "schemathesis.sh: $errors error(s) inside schemathesis/hypothesis (not the API); not counted" >&2
    status=0
  fi
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "schemathesis.sh: the server is no longer running; its log:" >&2
  tail -n 50 "$work/serve.log" >&2
  status=1
fi
echo "schemathesis: ${summary:-no summary line (status $status)}"
exit "$status"
