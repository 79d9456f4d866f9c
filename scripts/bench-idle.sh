#!/usr/bin/env bash
# What an idle service writes (see BENCHMARKS.md, "What an alert costs").
#
# Starts the service on a fresh database of the local PostgreSQL with one
# tenant and no traffic, waits 15 s for it to settle, then counts over 30 s
# the transactions committed in its database, the rows its tables were
# updated by, and the service's CPU time.
#
# Usage: scripts/bench-idle.sh [BINARY]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-}"
if [ -z "$bin" ]; then
  cargo build --quiet --bin alertledger
  bin=target/debug/alertledger
fi
database=alertledger_idle
port=18098
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export ALERTLEDGER_JWT_SECRET="bench-only-jwt-secret-of-32-bytes-or-more"
export ALERTLEDGER_MASTER_KEY="$(openssl rand -base64 32)"
export RUST_LOG=warn
"$bin" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.3; done
"$bin" tenant create --name "Idle Ltd" --slug idle >/dev/null 2>&1
sleep 15
sql() { psql -qAt -h 127.0.0.1 -U postgres -d "$database" -c "SELECT pg_stat_force_next_flush()" -c "$1" | tail -n +2; }
counts() { sql "SELECT 'xact', xact_commit FROM pg_stat_database WHERE datname = current_database()
                UNION ALL SELECT relname, n_tup_upd FROM pg_stat_user_tables ORDER BY 1"; }
before="$(counts)"; cpu_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
sleep 30
after="$(counts)"; cpu_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
echo "idle for 30 s: service CPU $(( (cpu_after - cpu_before) * 1000 / $(getconf CLK_TCK) )) ms"
awk -F'|' 'NR == FNR { before[$1] = $2; next } $2 - before[$1] > 0 { printf "  %s: %d\n", ($1 == "xact" ? "transactions committed" : $1 " rows updated"), $2 - before[$1] }' \
  <(echo "$before") <(echo "$after")
