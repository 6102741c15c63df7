#!/usr/bin/env bash
# The floor of GET /api/v1/account on this machine (docs/benchmarks.md, "What limits each
# number"): a bare actix-web + tokio-postgres server (scripts/bench/floor/) doing one prepared
# primary-key read per request, loaded exactly as `make bench` loads the real endpoint (wrk,
# 2 threads, 32 connections), then the pgbench primary-key read of the bench on the same data.
#
#   bash scripts/bench/floor.sh          (BENCH_DURATION, default 12 s)
#
# Needs the release server (make bench builds it; it seeds the accounts through the API) and
# the throwaway services of make test (bash scripts/test-services.sh start).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${BENCH_BIN:-$ROOT/target/release/brokerage}"
SECS="${BENCH_DURATION:-12}"
OUT="$ROOT/target/bench/floor"
mkdir -p "$OUT"
cargo build --release --quiet --manifest-path "$HERE/floor/Cargo.toml" --target-dir "$ROOT/target/bench-floor"
FLOOR="$ROOT/target/bench-floor/release/brokerage-bench-floor"
set -a
# shellcheck disable=SC1091
. "$ROOT/target/services/env"
set +a
ADMIN_URL="$DATABASE_URL"
DB="floor_$$"
psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
DB_URL="${ADMIN_URL%/*}/$DB"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; wait 2>/dev/null; psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null' EXIT

# 200 accounts, registered and funded through the API, as make bench does.
PORT=18191
DATABASE_URL="$DB_URL" "$BIN" migrate >/dev/null 2>&1
env DATABASE_URL="$DB_URL" REDIS_URL="${REDIS_URL%/}/14" BROKERAGE__HTTP__HOST=127.0.0.1 BROKERAGE__HTTP__PORT=$PORT \
    BROKERAGE__RATE_LIMIT__ENABLED=false BROKERAGE__LOG__FILTER=warn \
    BROKERAGE__AUTH__JWT_SECRET="floor-$(python3 -c 'import secrets; print(secrets.token_hex(24))')" \
    BROKERAGE__SECURITY__ENCRYPTION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
    "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER=$!
sleep 1
python3 "$HERE/seed.py" --base "http://127.0.0.1:$PORT" --users 200 --out "$OUT/users.tsv" >/dev/null
kill $SERVER
wait $SERVER 2>/dev/null || true

PORT=18192
DATABASE_URL="$DB_URL" PORT=$PORT "$FLOOR" >"$OUT/floor.log" 2>&1 &
SERVER=$!
sleep 0.5
export BENCH_USERS="$OUT/users.tsv" BENCH_MODE=account
BENCH_OUT="$OUT/warmup.json" wrk -t 2 -c 32 -d 2s --timeout 10s -s "$HERE/wrk.lua" "http://127.0.0.1:$PORT" >/dev/null
t0=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
BENCH_OUT="$OUT/floor.json" wrk -t 2 -c 32 -d "${SECS}s" --timeout 10s -s "$HERE/wrk.lua" "http://127.0.0.1:$PORT" >/dev/null
t1=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
kill $SERVER
wait $SERVER 2>/dev/null || true
SERVER=""

psql -q "$DB_URL" -c "CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM accounts;
                      ALTER TABLE bench_ids ADD PRIMARY KEY (n);"
pg_host="$(python3 -c "import urllib.parse,sys; u=urllib.parse.urlparse(sys.argv[1]); print(u.hostname, u.port or 5432, u.username or 'postgres')" "$DB_URL")"
read -r host port user <<<"$pg_host"
PG=(pgbench -h "$host" -p "$port" -U "$user" -n -M prepared -c 32 -j 2 -D naccounts=200 -f "$HERE/pgbench_account.sql")
"${PG[@]}" -T 2 "$DB" >/dev/null 2>&1
tps="$("${PG[@]}" -T "$SECS" "$DB" 2>/dev/null | awk '/^tps/ {print $3}')"
python3 - "$OUT/floor.json" "$tps" "$((t1 - t0))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
tps, ticks, hz = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rps = d["requests"] / (d["duration_us"] / 1e6)
cpu_us = ticks / hz / d["requests"] * 1e6
print(f"floor server: {rps:,.0f} req/s, p50 {d['p50_us']/1000:.2f} ms, p99 {d['p99_us']/1000:.2f} ms, "
      f"answers >= 400 {d['status_errors']}, server CPU {cpu_us:.0f} µs/request")
print(f"pgbench primary-key read: {tps:,.0f} tps; floor / pgbench = {rps / tps:.0%}")
PY
