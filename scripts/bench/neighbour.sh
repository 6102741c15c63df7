#!/usr/bin/env bash
# What a CPU-bound neighbour does to order placement's latency, with no logins at all: the
# control experiment behind the login-storm analysis in docs/benchmarks.md.
#
#   bash scripts/bench/neighbour.sh [NEIGHBOUR]     NEIGHBOUR: logins (default) | nice10x2 | nice10x1 | idlex2
#
# Needs the release binary (make bench builds it) and the throwaway services of make test
# (bash scripts/test-services.sh start). Runs order placement (32 connections, 8 s) alone, then
# again beside the neighbour, and prints wrk's p50/p90/p99 for both.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NEIGHBOUR="${1:-logins}"
BIN="${BENCH_BIN:-$ROOT/target/release/brokerage}"
OUT="$ROOT/target/bench/neighbour"
mkdir -p "$OUT"
set -a
# shellcheck disable=SC1091
. "$ROOT/target/services/env"
set +a
DB="neighbour_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $DB" >/dev/null
SERVER_DB_URL="${DATABASE_URL%/*}/$DB"
PORT=18181
export DATABASE_URL="$SERVER_DB_URL" REDIS_URL="${REDIS_URL%/}/14"
export BROKERAGE__HTTP__HOST=127.0.0.1 BROKERAGE__HTTP__PORT=$PORT BROKERAGE__RATE_LIMIT__ENABLED=false
export BROKERAGE__AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT=1000000000
export BROKERAGE__AUTH__JWT_SECRET="neighbour-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
export BROKERAGE__SECURITY__ENCRYPTION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export BROKERAGE__LOG__FORMAT=json BROKERAGE__LOG__FILTER=info
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$BIN" migrate >/dev/null 2>&1
"$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; psql -q "${SERVER_DB_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null' EXIT
sleep 1
python3 "$HERE/seed.py" --base "http://127.0.0.1:$PORT" --users 200 --out "$OUT/users.tsv" >/dev/null
export BENCH_USERS="$OUT/users.tsv"
orders() {
    BENCH_MODE=order BENCH_OUT="$OUT/$1.json" wrk -t 2 -c 32 -d 8s --timeout 10s -s "$HERE/wrk.lua" \
        "http://127.0.0.1:$PORT" >/dev/null
    python3 -c "import json; d=json.load(open('$OUT/$1.json')); print(f\"$1: {d['requests']/(d['duration_us']/1e6):,.0f} req/s, p50 {d['p50_us']/1000:.0f} ms, p90 {d['p90_us']/1000:.0f} ms, p99 {d['p99_us']/1000:.0f} ms, answers >= 400 {d['status_errors']}\")"
}
orders alone
case "$NEIGHBOUR" in
logins) BENCH_MODE=login BENCH_OUT="$OUT/logins.json" wrk -t 1 -c 8 -d 12s --timeout 10s -s "$HERE/wrk.lua" \
    "http://127.0.0.1:$PORT" >/dev/null & ;;
nice10x2) for _ in 1 2; do timeout 12 nice -n 10 sha256sum /dev/zero & done ;;
nice10x1) timeout 12 nice -n 10 sha256sum /dev/zero & ;;
idlex2) for _ in 1 2; do timeout 12 chrt -i 0 sha256sum /dev/zero & done ;;
*) echo "unknown neighbour $NEIGHBOUR" >&2; exit 2 ;;
esac
sleep 2
orders "beside_$NEIGHBOUR"
wait $(jobs -p | grep -v "^$SERVER\$") 2>/dev/null || true
