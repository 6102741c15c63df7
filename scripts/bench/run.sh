#!/usr/bin/env bash
# `make bench`: a repeatable load benchmark of the release server on PostgreSQL + Redis, its
# database ceiling measured with pgbench in the same run, and Criterion micro-benchmarks of the
# pure hot paths. Writes target/bench/results.json and the results table of docs/benchmarks.md.
#
# Steps: build (release binary + criterion benches) → criterion → throwaway services
# (scripts/test-services.sh) with a fresh `bench_<timestamp>` database and a Redis database of
# its own → migrations → spawn the server and time it to /health/ready → seed users through the
# API → wrk phases (warm-up, then measured; order placement and the account read in rounds
# alternating with pgbench running the same SQL, their ceiling) → report (scripts/bench/report.py).
# Everything it starts it stops, and the bench database is dropped at the end.
#
# Knobs (environment): BENCH_DURATION (seconds per measured phase, 12), BENCH_WARMUP (2),
# BENCH_CONNECTIONS (32), BENCH_USERS (200, seeded through the API, the ones the load uses),
# BENCH_EXTRA_ACCOUNTS (100000 more customers and accounts, inserted directly, that stay idle),
# BENCH_WORKER_NICE (-5, the HTTP workers' nice value),
# BENCH_CEILING_ROUNDS (3) and BENCH_CEILING_SLICE (6 s: each round measures the app, then pgbench),
# BENCH_STORM_CONNECTIONS (8, the login storm), BENCH_STORM_ROUNDS (5) and BENCH_STORM_SLICE (8 s:
# each round measures order placement alone, then during the storm),
# BENCH_REDIS_DB (13), BENCH_LOG_FILTER (the server's log filter, default `info`),
# BENCH_BIN (use this server binary instead of building one), BENCH_SKIP_CRITERION=1,
# BENCH_HOLD=1 (pause after seeding, everything up, for profiling by hand: see below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
HERE="$ROOT/scripts/bench"
OUT="$ROOT/target/bench"
RAW="$OUT/raw"
CARGO="${CARGO:-cargo}"

DURATION="${BENCH_DURATION:-12}"
WARMUP="${BENCH_WARMUP:-2}"
CONNS="${BENCH_CONNECTIONS:-32}"
THREADS=2
N_USERS="${BENCH_USERS:-200}"
EXTRA_ACCOUNTS="${BENCH_EXTRA_ACCOUNTS:-100000}"
STORM_CONNS="${BENCH_STORM_CONNECTIONS:-8}"
CEILING_ROUNDS="${BENCH_CEILING_ROUNDS:-3}"
CEILING_SLICE="${BENCH_CEILING_SLICE:-6}"
STORM_ROUNDS="${BENCH_STORM_ROUNDS:-5}"
STORM_SLICE="${BENCH_STORM_SLICE:-8}"
REDIS_DB="${BENCH_REDIS_DB:-13}"
LOG_FILTER="${BENCH_LOG_FILTER:-info}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: ERROR: %s\n' "$*" >&2
    exit 1
}

BENCH_STARTED=$SECONDS
rm -rf "$RAW"
mkdir -p "$RAW"
cd "$ROOT"

# ---------------------------------------------------------------- tools

ensure_tools() {
    local -a missing=()
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-contrib)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    if [ "${#missing[@]}" -gt 0 ]; then
        local -a sudo_cmd=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; install them: apt-get install -y ${missing[*]}"
            sudo_cmd=(sudo)
        fi
        log "installing ${missing[*]} with apt-get"
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null ||
            die "apt-get update failed; install ${missing[*]} yourself"
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
            die "apt-get install ${missing[*]} failed"
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is required"
}

# ---------------------------------------------------------------- cleanup

SERVER_PID=""
STUB_PID=""
STORM_PID=""
BENCH_DB=""
ADMIN_URL=""
REDIS_PORT=""

cleanup() {
    local rc=$?
    set +e
    [ -n "$STORM_PID" ] && kill "$STORM_PID" 2>/dev/null
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    [ -n "$STUB_PID" ] && kill "$STUB_PID" 2>/dev/null && wait "$STUB_PID" 2>/dev/null
    if [ -n "$BENCH_DB" ] && [ -n "$ADMIN_URL" ]; then
        psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null 2>&1 &&
            log "dropped database $BENCH_DB"
    fi
    [ -n "$REDIS_PORT" ] && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -n "$REDIS_DB" flushdb >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- build

ensure_tools
if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$BENCH_BIN"
    log "using BENCH_BIN=$BIN (not building)"
else
    log "building the release server (cargo build --release -p brokerage-app --bin brokerage)"
    "$CARGO" build --release -p brokerage-app --bin brokerage
    BIN="$ROOT/target/release/brokerage"
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

# ---------------------------------------------------------------- criterion

if [ "${BENCH_SKIP_CRITERION:-0}" != 1 ]; then
    log "criterion micro-benchmarks (short measurement)"
    for spec in brokerage-security:jwt brokerage-domain:orders; do
        pkg="${spec%%:*}"
        bench="${spec##*:}"
        "$CARGO" bench -p "$pkg" --bench "$bench" -- --warm-up-time 1 --measurement-time 2 --noplot \
            2>&1 | tee "$RAW/criterion-$bench.log" | grep -E '^[a-z_]+ +time:|time:' || true
        grep -q 'time:' "$RAW/criterion-$bench.log" || die "criterion bench $pkg/$bench failed (see $RAW/criterion-$bench.log)"
    done
fi
BUILD_DONE=$SECONDS

# ---------------------------------------------------------------- services

log "throwaway PostgreSQL and Redis (scripts/test-services.sh start)"
bash "$ROOT/scripts/test-services.sh" start
# shellcheck disable=SC1091
. "$ROOT/target/services/env"
ADMIN_URL="$DATABASE_URL"
BENCH_DB="bench_$(date -u +%Y%m%d%H%M%S)_$$"
PG_HOSTPORT="$(sed -E 's#^postgres(ql)?://[^@]*@([^/]+)/.*#\2#' <<<"$ADMIN_URL")"
PG_HOST="${PG_HOSTPORT%%:*}"
PG_PORT="${PG_HOSTPORT##*:}"
BENCH_DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$BENCH_DB"
psql -q "$ADMIN_URL" -c "CREATE DATABASE \"$BENCH_DB\"" >/dev/null
log "fresh database $BENCH_DB on $PG_HOST:$PG_PORT"
REDIS_PORT="$(sed -E 's#^redis://[^:]+:([0-9]+).*#\1#' <<<"$REDIS_URL")"
BENCH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/$REDIS_DB"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -n "$REDIS_DB" flushdb >/dev/null

# ---------------------------------------------------------------- market-data stub

python3 "$HERE/av_stub.py" --port-file "$RAW/stub.port" --calls-file "$RAW/stub-calls.log" &
STUB_PID=$!
for _ in $(seq 1 100); do [ -s "$RAW/stub.port" ] && break; sleep 0.05; done
[ -s "$RAW/stub.port" ] || die "the market-data stub did not start"
STUB_PORT="$(cat "$RAW/stub.port")"
: >"$RAW/stub-calls.log"

# ---------------------------------------------------------------- server

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
export DATABASE_URL="$BENCH_DATABASE_URL" REDIS_URL="$BENCH_REDIS_URL"
export BROKERAGE__HTTP__HOST=127.0.0.1 BROKERAGE__HTTP__PORT="$PORT"
export BROKERAGE__RATE_LIMIT__ENABLED=false
# PostgreSQL shares these two cores: the HTTP workers get priority over its backends, as
# docs/operations.md ("CPU priority") advises for such a box (the bench runs as root here; without
# CAP_SYS_NICE the server warns and keeps nice 0). BENCH_WORKER_NICE=0 measures without.
export BROKERAGE__HTTP__WORKER_NICE="${BENCH_WORKER_NICE:--5}"
# Every login counts against a per-account limit (10 per 15 minutes, whatever the outcome); the
# login phases log each seeded account in dozens of times, so the limit is lifted like the others.
export BROKERAGE__AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT=1000000000
export BROKERAGE__AUTH__JWT_SECRET="bench-jwt-secret-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
export BROKERAGE__SECURITY__ENCRYPTION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export BROKERAGE__MARKET_DATA__PROVIDER=alpha_vantage
export BROKERAGE__MARKET_DATA__BASE_URL="http://127.0.0.1:$STUB_PORT"
export BROKERAGE__MARKET_DATA__API_KEY=bench
export BROKERAGE__MARKET_DATA__CACHE_TTL_SECONDS=3600
export BROKERAGE__MARKET_DATA__CALLS_PER_MINUTE=1000
export BROKERAGE__LOG__FORMAT=json BROKERAGE__LOG__FILTER="$LOG_FILTER"
unset RUST_LOG OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT

log "migrations ($BIN migrate)"
"$BIN" migrate >"$RAW/migrate.log" 2>&1 || {
    tail -20 "$RAW/migrate.log" >&2
    die "migrate failed"
}

now_ns() { date +%s%N; }
spawn_start=$(now_ns)
# A session of its own, as a service has: on a kernel with autogroups its scheduling group is
# then its own (the workers' negative nice is given to it), not the one of this script, wrk and
# pgbench.
setsid "$BIN" serve >"$RAW/server.log" 2>&1 &
SERVER_PID=$!
ready_ms=""
while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/health/ready" || true)"
    if [ "$code" = 200 ]; then
        ready_ms=$((($(now_ns) - spawn_start) / 1000000))
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || {
        tail -30 "$RAW/server.log" >&2
        die "the server exited during start-up"
    }
    [ $((($(now_ns) - spawn_start) / 1000000000)) -lt 30 ] || die "the server was not ready within 30 s"
    sleep 0.005
done
log "server pid $SERVER_PID on $BASE, ready ${ready_ms} ms after spawn"

proc_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
RSS_IDLE_KB="$(proc_kb VmRSS)"

# ---------------------------------------------------------------- seed

log "seeding $N_USERS users (register, login, deposit 1000000) through the API"
python3 "$HERE/seed.py" --base "$BASE" --users "$N_USERS" --out "$RAW/users.tsv"
RSS_SEEDED_KB="$(proc_kb VmRSS)"

psql -q "$BENCH_DATABASE_URL" -v ON_ERROR_STOP=1 -v extra="$EXTRA_ACCOUNTS" >/dev/null <<'SQL'
CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM accounts;
ALTER TABLE bench_ids ADD PRIMARY KEY (n);
-- The rest of a brokerage's customers, who are not trading right now: with only the seeded
-- accounts the tables are so small that PostgreSQL's plans flip between a sequential and an index
-- scan from one run to the next (the primary-key ceiling moved 33 k <-> 43 k tps with it).
INSERT INTO users (id, email, password_hash, role, status, totp_enabled, created_at)
    SELECT gen_random_uuid(), 'idle-' || g || '@bench.invalid', '$argon2id$idle', 'customer', 'active', false, now()
    FROM generate_series(1, :extra) AS g;
INSERT INTO accounts (id, user_id, currency, cash, held, status, created_at)
    SELECT gen_random_uuid(), id, 'USD', 1000, 0, 'active', now() FROM users WHERE email LIKE 'idle-%@bench.invalid';
-- Table maintenance at fixed points (settle, below) instead of whenever autovacuum wakes: a
-- vacuum landing inside one 12 s run and not another moved order throughput and the ceiling
-- by up to 25 % between identical runs.
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = false)', t);
    END LOOP;
END $$;
SQL
N_ACCOUNTS="$(psql -qtA "$BENCH_DATABASE_URL" -c 'SELECT count(*) FROM bench_ids')"

# The load generator's and the ceiling's command lines, for the phases and BENCH_HOLD alike:
# wrk with the bench's script (connections, threads, seconds and the URL follow), pgbench on the
# bench database's server with prepared statements over TCP (seconds, script and the database
# name follow).
WRK=(wrk --timeout 10s -s "$HERE/wrk.lua")
PGBENCH=(pgbench -h "$PG_HOST" -p "$PG_PORT" -U postgres -n -M prepared -j "$THREADS"
    -D naccounts="$N_ACCOUNTS")

# BENCH_HOLD=1: stop here with everything up, for profiling one load by hand (perf, pg_stat_*):
# the commands the phases would run go to target/bench/raw/hold.sh; the run goes on (phases,
# report, cleanup) once that file is deleted, and Ctrl-C tears everything down.
if [ "${BENCH_HOLD:-0}" = 1 ]; then
    cat >"$RAW/hold.sh" <<HOLD
# Sourced by hand; delete this file to let the bench go on. The seeded access tokens expire
# 15 minutes after seeding (at $(date -u -d '+15 min' +%H:%M) UTC): later requests are all 401s.
export BASE=$BASE SERVER_PID=$SERVER_PID BENCH_DATABASE_URL=$BENCH_DATABASE_URL
# wrk for MODE (order, account, orders_list, quote, login):
app() { BENCH_MODE="\$1" BENCH_USERS=$RAW/users.tsv BENCH_OUT=/dev/null $(printf '%q ' "${WRK[@]}")-t $THREADS -c $CONNS -d "\${2:-10}s" $BASE; }
# pgbench for SCRIPT (pgbench_order.sql, pgbench_account.sql):
ceiling() { $(printf '%q ' "${PGBENCH[@]}")-c $CONNS -T "\${2:-10}" -f $HERE/\$1 $BENCH_DB; }
HOLD
    log "holding (BENCH_HOLD=1): . $RAW/hold.sh, then e.g. 'app order 10' or 'ceiling pgbench_order.sql 10'; rm it to go on"
    while [ -e "$RAW/hold.sh" ]; do sleep 1; done
fi

# ---------------------------------------------------------------- load phases

db_xacts() {
    psql -qtA "$ADMIN_URL" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$BENCH_DB'"
}
redis_cmds() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" {print $2}'
}
REDIS_PIDFILE="$ROOT/target/services/redis/redis.pid"
PGDATA_DIR="$(cat "$ROOT/target/services/pg.base" 2>/dev/null || true)/data"
cpu_snapshot() { python3 "$HERE/cpu.py" "${SERVER_PID:-0}" "$BENCH_DB" "$REDIS_PIDFILE" "$PGDATA_DIR"; }

# run_wrk NAME MODE CONNECTIONS THREADS SECONDS: wrk's own CPU time goes to NAME.wrkcpu.
run_wrk() {
    local name="$1" mode="$2" conns="$3" threads="$4" secs="$5" TIMEFORMAT='%3U %3S'
    { time BENCH_MODE="$mode" BENCH_USERS="$RAW/users.tsv" BENCH_OUT="$RAW/$name.json" \
        "${WRK[@]}" -t "$threads" -c "$conns" -d "${secs}s" "$BASE" \
        >"$RAW/$name.wrk.txt" 2>&1; } 2>"$RAW/$name.wrkcpu"
}

# Answers that were not 2xx, by the server's own request counter (/metrics is on the public port:
# no admin port is set), so a 3xx counts too (wrk's status_errors are >= 400 only).
server_non2xx() {
    curl -sf "$BASE/metrics" | awk '/^http_server_requests_total\{/ && !/status="2/ { n += $NF } END { print n + 0 }'
}

# Counters around a measured run: Postgres transactions of the bench database, Redis commands,
# non-2xx answers, CPU (cpu.py), the server's RSS.
X0="" R0="" C0="" N0=""
counters_start() {
    N0="$(server_non2xx)"
    X0="$(db_xacts)"
    R0="$(redis_cmds)"
    C0="$(cpu_snapshot)"
}
counters_end() {
    local name="$1"
    local c1
    c1="$(cpu_snapshot)"
    python3 - "$RAW/$name.counters.json" "$(python3 "$HERE/cpu.py" delta "$C0" "$c1")" "$RAW/$name.wrkcpu" <<PY
import json, sys
d = json.loads(sys.argv[2])
d.pop("seconds", None)  # the phase is timed by wrk
tck = $(getconf CLK_TCK)
try:
    wrk_s = sum(float(x) for x in open(sys.argv[3]).read().split()[-2:])
except (OSError, ValueError):
    wrk_s = 0.0
json.dump({
    "pg_xacts": $(($(db_xacts) - X0)),
    "server_non2xx": $(($(server_non2xx) - N0)),
    "redis_cmds": $(($(redis_cmds) - R0)),
    "server_cpu_ticks": d["server"],
    "cpu_s": {k: round(v / tck, 2) for k, v in d.items()} | {"wrk": wrk_s},
    "rss_hwm_kb": $(proc_kb VmHWM),
    "rss_kb": $(proc_kb VmRSS),
}, open(sys.argv[1], "w"))
PY
}

# Every measured run (the app's and pgbench's) starts from vacuumed, analysed tables, as
# pgbench's own runs do.
settle() {
    psql -q "$BENCH_DATABASE_URL" -v ON_ERROR_STOP=1 -c 'VACUUM ANALYZE' >/dev/null || die "VACUUM ANALYZE failed"
}

# phase NAME MODE: warm-up, then the measured run with its counters.
phase() {
    local name="$1" mode="$2"
    log "phase $name: ${WARMUP}s warm-up, ${DURATION}s measured, $CONNS connections"
    settle
    run_wrk "$name.warmup" "$mode" "$CONNS" "$THREADS" "$WARMUP"
    counters_start
    run_wrk "$name" "$mode" "$CONNS" "$THREADS" "$DURATION"
    counters_end "$name"
}

# pgb_run NAME SCRIPT SECONDS [ROUND [CLIENTS]]: pgbench running SCRIPT (the app's SQL for NAME)
# at the same concurrency (or CLIENTS), prepared statements over TCP; with ROUND, a measured
# slice with its latency log and CPU, else a warm-up. The server stays up, idle (its engine pass
# and Redis pings show in the `other` column).
pgb_run() {
    local name="$1" script="$2" secs="$3" round="${4:-}" clients="${5:-$CONNS}"
    local -a cmd=("${PGBENCH[@]}" -c "$clients" -T "$secs" -f "$HERE/$script")
    if [ -z "$round" ]; then
        (cd "$RAW" && "${cmd[@]}" "$BENCH_DB" >"$RAW/pgbench-$name.warmup.txt" 2>&1) ||
            die "pgbench $name warm-up failed: $(tail -5 "$RAW/pgbench-$name.warmup.txt")"
        return
    fi
    local out="pgbench-$name.$round"
    # PostgreSQL's backends exit with pgbench, so their CPU is sampled while it runs: from 1 s
    # after the start to about the middle. A snapshot takes a second or more on the saturated
    # machine; one started 3 s before the end read backends that had already exited (0 cores).
    local c0 c1 TIMEFORMAT='%3U %3S' pid
    { time (cd "$RAW" && "${cmd[@]}" -l --log-prefix="$out.log" "$BENCH_DB" >"$RAW/$out.txt" 2>&1); } 2>"$RAW/$out.cpu" &
    pid=$!
    sleep 1
    c0="$(cpu_snapshot)"
    sleep "$((secs > 8 ? secs / 2 - 1 : 1))"
    c1="$(cpu_snapshot)"
    printf '%s\n%s\n' "$c0" "$c1" >"$RAW/cpu-snapshots-$out.txt"
    wait "$pid" || die "pgbench $name failed: $(tail -5 "$RAW/$out.txt")"
    python3 - "$RAW/$out.counters.json" "$(python3 "$HERE/cpu.py" delta "$c0" "$c1")" "$RAW/$out.cpu" "$secs" <<PY
import json, sys
d = json.loads(sys.argv[2])
tck = $(getconf CLK_TCK)
interval = d.pop("seconds")
try:
    client = sum(float(x) for x in open(sys.argv[3]).read().split()[-2:])
except (OSError, ValueError):
    client = 0.0
cores = {k: round(v / tck / interval, 2) for k, v in d.items()}
cores["pgbench"] = round(client / float(sys.argv[4]), 2)
json.dump({"cores": cores, "interval_s": round(interval, 2)}, open(sys.argv[1], "w"))
PY
}

# PostgreSQL connections the server holds for this database (after a load: every lane's).
server_pg_connections() {
    psql -qtA "$ADMIN_URL" -c "SELECT count(*) FROM pg_stat_activity
        WHERE datname = '$BENCH_DB' AND backend_type = 'client backend'"
}

# paired NAME MODE SCRIPT [AT_POOL]: the app's phase and its ceiling, pgbench running the same
# SQL (SCRIPT), in CEILING_ROUNDS rounds of a CEILING_SLICE-second app slice then a pgbench
# slice. This shared machine's speed drifts by tens of percent within a run, so app and ceiling
# are measured seconds apart and compared round by round (report.py: the median of the rounds'
# ratios); measured minutes apart, one binary's order ratio came out anywhere from 61 to 95 %.
# With AT_POOL, each round also runs pgbench with as many clients as the server holds
# PostgreSQL connections (NAME_at_pool; not a target: PostgreSQL does more with fewer backends,
# so this is the stricter ceiling for a server whose pool is smaller than the load).
paired() {
    local name="$1" mode="$2" script="$3" at_pool="${4:-}" round held=""
    log "phase $name: ${WARMUP}s warm-up, then $CEILING_ROUNDS rounds of ${CEILING_SLICE}s of the app" \
        "and ${CEILING_SLICE}s of pgbench ($script), $CONNS connections each"
    settle
    run_wrk "$name.warmup" "$mode" "$CONNS" "$THREADS" "$WARMUP"
    pgb_run "$name" "$script" "$WARMUP"
    for round in $(seq 1 "$CEILING_ROUNDS"); do
        settle
        counters_start
        run_wrk "$name.$round" "$mode" "$CONNS" "$THREADS" "$CEILING_SLICE"
        counters_end "$name.$round"
        if [ -n "$at_pool" ] && [ -z "$held" ]; then
            held="$(server_pg_connections)"
            echo "$held" >"$RAW/$name.server_pg_connections"
        fi
        settle
        pgb_run "$name" "$script" "$CEILING_SLICE" "$round"
        if [ -n "$at_pool" ] && [ "${held:-0}" -gt 0 ]; then
            settle
            pgb_run "${name}_at_pool" "$script" "$CEILING_SLICE" "$round" "$held"
        fi
    done
}

phase quote quote
paired account account pgbench_account.sql
paired order order pgbench_order.sql at_pool
phase orders_list orders_list
phase login login

# Login storm: order placement with a concurrent login load on its own connections, against
# order placement alone in the same minutes. This machine's speed drifts by tens of percent
# within one run (other tenants), so one storm run against the order phase a minute earlier
# measured the drift as much as the storm: STORM_ROUNDS rounds of a calm slice then a storm
# slice, each round's storm p99 against its own calm one (report.py: the median of the rises).
log "phase order_storm: $STORM_ROUNDS rounds of ${STORM_SLICE}s order placement ($CONNS connections) alone," \
    "then ${STORM_SLICE}s during a login storm ($STORM_CONNS connections)"
settle
run_wrk order_calm.warmup order "$CONNS" "$THREADS" "$WARMUP"
run_wrk login_storm.warmup login "$STORM_CONNS" 1 "$WARMUP"
for round in $(seq 1 "$STORM_ROUNDS"); do
    run_wrk "order_calm.$round" order "$CONNS" "$THREADS" "$STORM_SLICE"
    run_wrk "login_storm.$round" login "$STORM_CONNS" 1 "$((STORM_SLICE + 2))" &
    STORM_PID=$!
    sleep 1 # the hashing pool busy before the orders start
    counters_start
    run_wrk "order_storm.$round" order "$CONNS" "$THREADS" "$STORM_SLICE"
    counters_end "order_storm.$round"
    wait "$STORM_PID" || true
    STORM_PID=""
done

RSS_HWM_KB="$(proc_kb VmHWM)"
RSS_END_KB="$(proc_kb VmRSS)"
SERVER_THREADS="$(proc_kb Threads)"


# ---------------------------------------------------------------- report

BENCH_SECONDS=$((SECONDS - BENCH_STARTED))
python3 - "$RAW/meta.json" <<PY
import json, sys
json.dump({
    "ready_ms": $ready_ms,
    "rss_idle_kb": ${RSS_IDLE_KB:-0},
    "rss_seeded_kb": ${RSS_SEEDED_KB:-0},
    "rss_hwm_kb": ${RSS_HWM_KB:-0},
    "rss_end_kb": ${RSS_END_KB:-0},
    "server_threads": ${SERVER_THREADS:-0},
    "users": $N_USERS,
    "extra_accounts": $EXTRA_ACCOUNTS,
    "accounts": $N_ACCOUNTS,
    "connections": $CONNS,
    "wrk_threads": $THREADS,
    "storm_connections": $STORM_CONNS,
    "storm_rounds": $STORM_ROUNDS,
    "storm_slice_s": $STORM_SLICE,
    "ceiling_rounds": $CEILING_ROUNDS,
    "ceiling_slice_s": $CEILING_SLICE,
    "duration_s": $DURATION,
    "warmup_s": $WARMUP,
    "log_filter": "$LOG_FILTER",
    "worker_nice": $BROKERAGE__HTTP__WORKER_NICE,
    "clk_tck": $(getconf CLK_TCK),
    "build_and_criterion_s": $BUILD_DONE,
    "total_s": $BENCH_SECONDS,
    "postgres": "$(psql -qtA "$ADMIN_URL" -c 'SHOW server_version' | tr -d '"')",
    "redis": "$(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/')",
    "wrk": "$(wrk --version 2>&1 | head -1 | awk '{print $2}')",
    "stub_calls": $(wc -l <"$RAW/stub-calls.log"),
    "loadavg_at_start": "$LOAD_BEFORE",
}, open(sys.argv[1], "w"), indent=1)
PY
python3 "$HERE/report.py" --raw "$RAW" --out "$OUT/results.json" --doc "$ROOT/docs/benchmarks.md" --criterion "$ROOT/target/criterion"
log "done in $((SECONDS - BENCH_STARTED)) s; results in $OUT/results.json and docs/benchmarks.md"
