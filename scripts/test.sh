#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL.
#
# Makes sure PostgreSQL answers at DATABASE_URL (default: the local server on
# 127.0.0.1:5432, user postgres): starts the local cluster if it is installed
# but down, installs it from Debian's packages if it is missing and we are root.
# Each test then creates (and drops) a database of its own on that server.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

postgres_answers() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$DATABASE_URL"
}

start_local_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing PostgreSQL from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "test.sh: starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
}

if ! postgres_answers; then
  start_local_postgres
  for _ in $(seq 1 60); do
    postgres_answers && break
    sleep 0.5
  done
fi
if ! postgres_answers; then
  echo "test.sh: PostgreSQL does not answer at $DATABASE_URL; start it or set DATABASE_URL" >&2
  exit 1
fi

# moto, the local AWS double (STS, SSM) the remediation tests call through
# the real AWS SDK: installed from PyPI into a virtualenv under target/ (kept
# between runs), started on a free loopback port for this run only.
MOTO_VENV="${MOTO_VENV:-target/moto-venv}"
if ! "$MOTO_VENV/bin/python" -c 'import moto.server' >/dev/null 2>&1; then
  echo "test.sh: installing moto[server] into $MOTO_VENV" >&2
  mkdir -p "$(dirname "$MOTO_VENV")"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install -q 'moto[server]>=5.1,<6' >&2
fi
moto_port="$("$MOTO_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p target
"$MOTO_VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$moto_port" >target/moto.log 2>&1 &
moto_pid=$!
moto_answers() {
  "$MOTO_VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/')" >/dev/null 2>&1
}
for _ in $(seq 1 150); do
  moto_answers && break
  sleep 0.2
done
if ! moto_answers; then
  echo "test.sh: moto did not start; its log:" >&2
  cat target/moto.log >&2
  kill "$moto_pid" 2>/dev/null || true
  exit 1
fi
export ALERTLEDGER_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
# Dummy credentials and region for moto (it accepts any).
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
# PagerDuty's official Python client (`pagerduty` from PyPI, pinned), which
# tests/pagerduty_drop_in.rs drives through tests/pagerduty_client/send.py
# against the PagerDuty drop-in routes: a virtualenv under target/ (kept
# between runs) whose interpreter the test finds in this variable.
PAGERDUTY_VENV="${PAGERDUTY_VENV:-target/pagerduty-venv}"
PAGERDUTY_CLIENT_VERSION=7.2.0
if ! "$PAGERDUTY_VENV/bin/python" -c "import pagerduty, sys; sys.exit(pagerduty.__version__ != '$PAGERDUTY_CLIENT_VERSION')" >/dev/null 2>&1; then
  echo "test.sh: installing pagerduty==$PAGERDUTY_CLIENT_VERSION into $PAGERDUTY_VENV" >&2
  mkdir -p "$(dirname "$PAGERDUTY_VENV")"
  python3 -m venv "$PAGERDUTY_VENV"
  "$PAGERDUTY_VENV/bin/pip" install -q "pagerduty==$PAGERDUTY_CLIENT_VERSION" >&2
fi
export ALERTLEDGER_TEST_PAGERDUTY_PYTHON="$PWD/$PAGERDUTY_VENV/bin/python"
# A real Prometheus Alertmanager from Debian's packages for
# tests/alertmanager_real.rs (which starts its own instance on free loopback
# ports; the package's service is never started here).
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: installing Prometheus Alertmanager from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-alertmanager >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-alertmanager >&2; }
fi
if command -v prometheus-alertmanager >/dev/null 2>&1; then
  ALERTLEDGER_TEST_ALERTMANAGER="$(command -v prometheus-alertmanager)"
  export ALERTLEDGER_TEST_ALERTMANAGER
fi
# The dashboard's browser test (tests/dashboard_browser.rs) drives Debian's
# headless Chromium with playwright-core from tests/browser (package-lock.json
# committed; playwright-core downloads no browser of its own).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: installing Chromium from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; }
fi
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: installing Node.js and npm from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2; }
fi
if command -v npm >/dev/null 2>&1 && [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "test.sh: installing playwright-core for the browser test" >&2
  (cd tests/browser && npm ci --no-audit --no-fund >&2)
fi

# cargo ends on per-binary lines (often doc tests with 0 tests); close with the
# suite's total so a reader of the last line sees what really ran.
log="$(mktemp)"
trap 'rm -f "$log"; kill "$moto_pid" 2>/dev/null || true' EXIT
status=0
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# The served API against its own OpenAPI document (docs/openapi.md); its
# summary line ("schemathesis: ...") closes its output.
fuzz_status=0
scripts/schemathesis.sh 2>&1 | tee -a "$log" || fuzz_status=$?
[ "$fuzz_status" = 0 ] || status=$fuzz_status
grep '^schemathesis: ' "$log" | tail -n 1 || true
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
