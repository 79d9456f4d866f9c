#!/usr/bin/env bash
# HTTP load benchmark of webhook ingestion (see BENCHMARKS.md).
#
# Starts the release build on a fresh database on the local PostgreSQL, creates
# a tenant with an API key, a webhook secret and signing required, then drives
# POST /api/v1/webhooks/{generic,alertmanager} with wrk at concurrency 8 and 32.
# Every request is signed (X-Timestamp/X-Signature) and carries a unique
# Idempotency-Key, so each one stores new alerts durably.
#
# After each run it waits for the log consumers to catch up and prints what
# the run cost per stored alert: the service's CPU time, PostgreSQL
# transactions and rows written (by table). Unlike req/s these do not depend
# on what else the machine is doing, so builds can be compared on a busy one.
#
# Usage: scripts/bench-http.sh [DURATION_SECONDS]   (default 20)
#   ALERTLEDGER_BENCH_BIN=path  use that binary instead of building the release one
#   ALERTLEDGER_BENCH_SOURCES="alertmanager"  only these bodies (default: generic alertmanager)
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-20}"
server="postgres://postgres@127.0.0.1:5432"
database="alertledger_bench"
port=18099
url="http://127.0.0.1:$port"
work="$(mktemp -d)"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench-http: installing wrk from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
fi
if [ -n "${ALERTLEDGER_BENCH_BIN:-}" ]; then
  bin="$ALERTLEDGER_BENCH_BIN"
else
  cargo build --release --quiet --bin alertledger
  bin=target/release/alertledger
fi

psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"
export DATABASE_URL="$server/$database"
export ALERTLEDGER_JWT_SECRET="bench-only-jwt-secret-of-32-bytes-or-more"
export ALERTLEDGER_MASTER_KEY="$(openssl rand -base64 32)"
export RUST_LOG=warn

"$bin" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done

tenant=$("$bin" tenant create --name "Bench Ltd" --slug bench 2>/dev/null | tail -n 1)
api_key=$("$bin" tenant api-key --tenant "$tenant" 2>/dev/null | tail -n 1)
secret=$("$bin" tenant secret --tenant "$tenant" 2>/dev/null | tail -n 1)
token=$("$bin" token issue --sub bench --name Bench --role msp_admin 2>/dev/null | tail -n 1)
api() { curl -sf -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$url/api/v1/tenants/$tenant/$1" -d "$2" >/dev/null; }
# The tenant directory follows the log: give it a moment to see the CLI's changes.
for _ in $(seq 1 50); do api webhook-signing '{"required": true}' && break; sleep 0.2; done
api rate-limit '{"requests_per_minute": 1000000, "burst": 1000000}'

key_hex=$(printf '%s' "${secret#whsec_}" | base64 -d | xxd -p -c 256)
sign() {  # body file -> "X-Timestamp: ..." and "X-Signature: ..." lines
  local ts sig
  ts=$(date +%s)
  sig=$( (printf '%s.' "$ts"; cat "$1") | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" | awk '{print $NF}')
  printf 'X-Timestamp: %s\nX-Signature: sha256=%s\n' "$ts" "$sig"
}

cat >"$work/generic.json" <<'JSON'
{"asset_name":"web01","signature":"HighCPU","severity":"critical","message":"CPU above 95% for 5 minutes","tool_source":"prometheus","labels":{"env":"production","team":"web"},"occurred_at":"2026-11-22T03:07:32Z"}
JSON
python3 - "$work/alertmanager.json" <<'PY'
import json, sys
alerts = [{
    "status": "firing",
    "labels": {"alertname": "HighCPU", "instance": f"web{i:02}:9100", "job": "node", "severity": "critical"},
    "annotations": {"summary": f"CPU > 95% on web{i:02}"},
    "startsAt": "2026-11-22T03:07:32Z", "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus.local/graph", "fingerprint": f"{i:016x}",
} for i in range(50)]
body = {"receiver": "alertledger", "status": "firing", "alerts": alerts,
        "groupLabels": {"alertname": "HighCPU"}, "commonLabels": {"alertname": "HighCPU", "job": "node"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4",
        "groupKey": "{}:{alertname=\"HighCPU\"}", "truncatedAlerts": 0}
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":")))
PY

sql() { psql -qAt -h 127.0.0.1 -U postgres -d "$database" -c "$1"; }
# Rows written per table and transactions committed in the bench database,
# as PostgreSQL's cumulative statistics count them.
writes() {
  sql "SELECT pg_stat_force_next_flush()" >/dev/null
  sql "SELECT 'xact', xact_commit FROM pg_stat_database WHERE datname = current_database()
       UNION ALL SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables" | sort
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
# CPU ticks of PostgreSQL's backends serving the bench database, by pid
# ("pid ticks" lines; the service's pool keeps its connections, so a backend
# seen at both ends of a run is charged the difference, a new one all of it).
backend_ticks() {
  local pid
  for pid in $(sql "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); do
    [ -r "/proc/$pid/stat" ] && awk -v pid="$pid" '{print pid, $14 + $15}' "/proc/$pid/stat"
  done
}
backend_ticks_used() {  # before after
  awk 'NR == FNR { before[$1] = $2; next } { used += $2 - ($1 in before ? before[$1] : 0) } END { print used + 0 }' <(echo "$1") <(echo "$2")
}
# Waits until the consumers have caught up: the log's head and the events
# applied by every consumer stop moving. (Checkpoint rows themselves move even
# when idle, and the sealer signs a checkpoint every 10 s.)
progress() { sql "SELECT (SELECT max(position) FROM events), (SELECT sum(events_applied) FROM projector_checkpoints)"; }
settle() {
  local previous current
  previous="$(progress)"
  for _ in $(seq 1 150); do
    sleep 2
    current="$(progress)"
    [ "$current" = "$previous" ] && return 0
    previous="$current"
  done
}
per_alert_costs() {  # before-writes after-writes service-ticks alerts backend-ticks
  [ "$4" -gt 0 ] || return 0
  awk -F'|' -v alerts="$4" -v ticks="$3" -v pg_ticks="$5" -v hz="$(getconf CLK_TCK)" '
    NR == FNR { before[$1] = $2; next }
    { delta = $2 - before[$1]; if (delta <= 0) next
      if ($1 == "xact") xact = delta; else { rows += delta; if (delta / alerts >= 0.01) printf "table %s %.2f\n", $1, delta / alerts } }
    END { printf "total %.2f ms service CPU, %.2f ms PostgreSQL CPU, %.2f transactions, %.2f rows written\n", 1000 * ticks / hz / alerts, 1000 * pg_ticks / hz / alerts, xact / alerts, rows / alerts }
  ' <(echo "$1") <(echo "$2") >"$work/costs"
  echo "   per alert: $(sed -n 's/^total //p' "$work/costs")"
  echo "   rows per alert by table: $(sed -n 's/^table //p' "$work/costs" | sort -k2 -rn | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')"
}

# What the bench database's backends are doing during a run, sampled every
# 100 ms through one psql session: the average number of backends in each
# state and wait event ("active running" is on CPU; "idle" waits for the
# service). If req/s fall while CPU per alert stays, the time went to a wait,
# and these lines name it.
sample_waits() {  # seconds output-file
  local samples=$(( $1 * 10 ))
  for _ in $(seq 1 "$samples"); do
    echo "SELECT state || ' ' || coalesce(wait_event_type || ':' || wait_event, 'running') FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend';"
    sleep 0.1
  done | psql -qAt -h 127.0.0.1 -U postgres -d "$database" \
    | sort | uniq -c | sort -rn | awk -v n="$samples" '{ count = $1; $1 = ""; printf "%s%s %.2f", (NR > 1 ? ", " : ""), substr($0, 2), count / n }' >"$2"
}

stored() { psql -qAt -h 127.0.0.1 -U postgres -d "$database" -c "SELECT count(*) FROM events WHERE event_type = 'AlertReceived'"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(psql -At -h 127.0.0.1 -U postgres -c 'show server_version')"
for source in ${ALERTLEDGER_BENCH_SOURCES:-generic alertmanager}; do
  for connections in 8 32; do
    mapfile -t signature < <(sign "$work/$source.json")
    settle
    before=$(stored)
    writes_before="$(writes)"
    ticks_before=$(cpu_ticks)
    backends_before="$(backend_ticks)"
    echo
    echo "== $source, $connections connections, ${duration}s"
    echo "   wrk -t2 -c$connections -d${duration}s --latency -s bench/unique-delivery.lua -H 'X-API-Key: ...' -H '${signature[0]}' -H 'X-Signature: ...' $url/api/v1/webhooks/$source"
    sample_waits "$duration" "$work/waits" &
    sampler_pid=$!
    BODY_FILE="$work/$source.json" RUN_ID="$source-$connections" \
      wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/unique-delivery.lua \
        -H "X-API-Key: $api_key" -H "${signature[0]}" -H "${signature[1]}" \
        "$url/api/v1/webhooks/$source" | sed 's/^/   /'
    after=$(stored)
    wait "$sampler_pid" || true
    echo "   PostgreSQL backends by state and wait (average during the run): $(cat "$work/waits")"
    echo "   alerts stored during the run: $((after - before)) ($(( (after - before) / duration ))/s)"
    settle
    per_alert_costs "$writes_before" "$(writes)" $(( $(cpu_ticks) - ticks_before )) $(( $(stored) - before )) \
      "$(backend_ticks_used "$backends_before" "$(backend_ticks)")"
  done
done
