#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis for the test suite.
#
#   scripts/test-services.sh start   start them (or reuse ours if already running), write target/services/env
#   scripts/test-services.sh stop    stop them (only ours; nothing else is touched)
#   scripts/test-services.sh env     print target/services/env
#   scripts/test-services.sh status  say what is running
#   scripts/test-services.sh pg-stop | pg-start        stop / start only PostgreSQL, keeping its data
#   scripts/test-services.sh redis-stop | redis-start  stop / start only Redis on its recorded port
#                                    (fault-injection suites; `start` must have run once before)
#
# BROKERAGE_SERVICES_DIR (default target/services; a relative path is taken from the repository root)
# moves the whole state directory, so a second, independent pair of servers can run next to the
# default one (scripts/reliability uses target/reliability/services with its own ports).
#
# Nothing here uses or touches the machine's own PostgreSQL/Redis: the servers listen on 127.0.0.1 on
# free ports (defaults 55432/56379, overridable with BROKERAGE_PG_PORT/BROKERAGE_REDIS_PORT), keep their
# data under target/services/ and are made for speed, not durability (fsync=off, no Redis persistence).
#
# When run as root, PostgreSQL runs as the `postgres` OS user (it refuses to run as root). If that user
# cannot reach target/services/ (e.g. the checkout lives under a root-only directory), the cluster goes to
# /tmp/brokerage-pg-<hash of the repo path> instead; the location is recorded in target/services/pg.base.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SERVICES_DIR="${BROKERAGE_SERVICES_DIR:-$REPO_ROOT/target/services}"
case "$SERVICES_DIR" in
/*) ;;
*) SERVICES_DIR="$REPO_ROOT/$SERVICES_DIR" ;;
esac
ENV_FILE="$SERVICES_DIR/env"
PG_BASE_FILE="$SERVICES_DIR/pg.base"      # where the cluster lives (target/services/postgres or /tmp/...)
PG_PORT_FILE="$SERVICES_DIR/pg.port"
REDIS_DIR="$SERVICES_DIR/redis"
REDIS_PORT_FILE="$SERVICES_DIR/redis.port"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"

PG_DEFAULT_PORT="${BROKERAGE_PG_PORT:-55432}"
REDIS_DEFAULT_PORT="${BROKERAGE_REDIS_PORT:-56379}"
WAIT_SECONDS="${BROKERAGE_SERVICES_WAIT:-60}"

log() { printf 'test-services: %s\n' "$*" >&2; }
die() {
    printf 'test-services: ERROR: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- ports

port_in_use() {
    local port="$1"
    local listening
    if command -v ss >/dev/null 2>&1; then
        listening="$(ss -ltn 2>/dev/null | awk 'NR > 1 {print $4}' || true)"
        if grep -Eq "[:.]${port}\$" <<<"$listening"; then
            return 0
        fi
    fi
    # Also try to connect (catches listeners ss cannot see, and works where ss is missing).
    if command -v timeout >/dev/null 2>&1; then
        timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port}" 2>/dev/null && return 0
    else
        (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && return 0
    fi
    return 1
}

# free_port START [EXCLUDE]: first free port at or after START (EXCLUDE is skipped).
free_port() {
    local port="$1" exclude="${2:-}" tries=0
    while [ "$tries" -lt 200 ]; do
        if [ "$port" != "$exclude" ] && ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
        port=$((port + 1))
        tries=$((tries + 1))
    done
    die "no free TCP port found in ${1}..${port}"
}

# ---------------------------------------------------------------- installing

APT_UPDATED=0
apt_install() {
    local -a sudo_cmd=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 ||
            die "$* not installed and not root without sudo; install them yourself: apt-get install -y $*"
        sudo_cmd=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "$* not installed and apt-get is not available; install PostgreSQL and Redis server yourself"
    log "installing $* with apt-get (needs network access to the Debian/Ubuntu mirrors)"
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update ||
            die "apt-get update failed; cannot install $*"
        APT_UPDATED=1
    fi
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ||
        die "apt-get install $* failed; install them yourself, or pass DATABASE_URL and REDIS_URL"
}

PG_BIN=""
find_pg_bin() {
    local dir
    if [ -n "${BROKERAGE_PG_BIN:-}" ]; then
        PG_BIN="$BROKERAGE_PG_BIN"
    else
        PG_BIN=""
        # Highest installed major version (Debian/Ubuntu layout).
        for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
            if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
                PG_BIN="$dir"
                break
            fi
        done
        # Other layouts: server binaries on PATH.
        if [ -z "$PG_BIN" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
            PG_BIN="$(dirname "$(command -v initdb)")"
        fi
    fi
    [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
}

pg_isready_bin() {
    if [ -x "$PG_BIN/pg_isready" ]; then
        echo "$PG_BIN/pg_isready"
    else
        command -v pg_isready || true
    fi
}

ensure_binaries() {
    local -a missing=()
    find_pg_bin || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
    find_pg_bin || die "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin even after installing"
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found even after installing"
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found even after installing"
    [ -n "$(pg_isready_bin)" ] || die "pg_isready not found (package postgresql-client)"
}

# ---------------------------------------------------------------- PostgreSQL

# The OS user that owns and runs the cluster.
PG_USER=""
pg_user() {
    if is_root; then
        if ! getent passwd postgres >/dev/null 2>&1; then
            log "creating the system user postgres"
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin postgres || die "could not create the postgres OS user"
        fi
        PG_USER=postgres
    else
        PG_USER="$(id -un)"
    fi
}

# as_pg CMD...: run CMD as the cluster's owner, from / (its cwd may be unreadable to that user).
# The lock descriptor (fd 9) is closed so that a server started this way does not hold the lock.
as_pg() {
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$PG_USER" -- "$@") 9>&-
        else
            local q
            q="$(printf '%q ' "$@")"
            (cd / && su -s /bin/sh "$PG_USER" -c "$q") 9>&-
        fi
    else
        (cd / && "$@") 9>&-
    fi
}

repo_hash() {
    # The default state directory keeps its historical name; another one gets its own fallback.
    local key="$REPO_ROOT"
    if [ "$SERVICES_DIR" != "$REPO_ROOT/target/services" ]; then key="$SERVICES_DIR"; fi
    if command -v sha256sum >/dev/null 2>&1; then
        printf '%s' "$key" | sha256sum | cut -c1-12
    else
        printf '%s' "$key" | cksum | cut -d' ' -f1
    fi
}

# prepare_pg_base DIR: create DIR owned by the cluster's user; succeed only if that user can use it.
prepare_pg_base() {
    local dir="$1"
    if [ -e "$dir" ] && [ "$(stat -c %U "$dir")" != "$PG_USER" ]; then
        if is_root; then
            # Left by another user (e.g. a run without root): it is throwaway, start over.
            rm -rf "$dir"
        else
            return 1
        fi
    fi
    mkdir -p "$dir" || return 1
    chmod 700 "$dir" || return 1
    if is_root; then chown "$PG_USER:" "$dir" || return 1; fi
    as_pg test -d "$dir" -a -w "$dir" -a -x "$dir" 2>/dev/null
}

# The unix socket lives in the data directory; its path must stay below the ~107 byte sun_path limit.
socket_path_ok() {
    local data="$1/data/.s.PGSQL.65535"
    [ "${#data}" -le 100 ]
}

PG_BASE=""
choose_pg_base() {
    local primary="$SERVICES_DIR/postgres"
    local fallback
    fallback="${TMPDIR:-/tmp}/brokerage-pg-$(repo_hash)"
    if [ -f "$PG_BASE_FILE" ]; then
        PG_BASE="$(cat "$PG_BASE_FILE")"
        # Only ever one of our two locations (prepare_pg_base may wipe it).
        if { [ "$PG_BASE" = "$primary" ] || [ "$PG_BASE" = "$fallback" ]; } && prepare_pg_base "$PG_BASE"; then
            return 0
        fi
    fi
    if socket_path_ok "$primary" && prepare_pg_base "$primary"; then
        PG_BASE="$primary"
    else
        log "user $PG_USER cannot use $primary (permissions or path length); using $fallback"
        prepare_pg_base "$fallback" ||
            die "user $PG_USER cannot use $fallback either; check permissions of $(dirname "$fallback")"
        PG_BASE="$fallback"
    fi
    echo "$PG_BASE" >"$PG_BASE_FILE"
}

pg_data() { echo "$PG_BASE/data"; }

# Port of the running cluster if it is ours and alive, else nothing (and non-zero).
pg_running_port() {
    local data pidfile pid port
    [ -n "$PG_BASE" ] || return 1
    data="$(pg_data)"
    pidfile="$data/postmaster.pid"
    [ -f "$pidfile" ] || return 1
    pid="$(sed -n 1p "$pidfile" 2>/dev/null || true)"
    port="$(sed -n 4p "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$port" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ] || return 1
    as_pg "$PG_BIN/pg_ctl" status -D "$data" >/dev/null 2>&1 || return 1
    echo "$port"
}

pg_wait_ready() {
    local port="$1" isready deadline
    isready="$(pg_isready_bin)"
    deadline=$((SECONDS + WAIT_SECONDS))
    until "$isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

pg_initdb() {
    local data
    data="$(pg_data)"
    if [ -f "$data/PG_VERSION" ]; then
        local have want
        have="$(cat "$data/PG_VERSION")"
        want="$("$PG_BIN/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
        if [ "$have" = "$want" ] && [ -f "$data/postgresql.conf" ] && grep -q 'brokerage throwaway' "$data/postgresql.conf"; then
            return 0
        fi
        log "existing cluster in $data is from PostgreSQL $have (or incomplete); recreating it"
    fi
    rm -rf "$data"
    log "initdb $data ($PG_BIN, as user $PG_USER)"
    as_pg "$PG_BIN/initdb" -D "$data" -A trust -U postgres --encoding=UTF8 --locale=C --no-sync \
        >"$SERVICES_DIR/initdb.log" 2>&1 || {
        cat "$SERVICES_DIR/initdb.log" >&2
        die "initdb failed (output above, also in $SERVICES_DIR/initdb.log)"
    }
    # Append as the owner so the file keeps its ownership and mode.
    as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- brokerage throwaway test cluster (scripts/test-services.sh); speed over durability ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
}

pg_start() {
    local port data logfile attempt out
    pg_user
    choose_pg_base
    data="$(pg_data)"
    logfile="$PG_BASE/postgres.log"

    if port="$(pg_running_port)"; then
        log "PostgreSQL already running (ours) on 127.0.0.1:$port, data $data"
    else
        pg_initdb
        port="$PG_DEFAULT_PORT"
        for attempt in 1 2 3 4 5; do
            port="$(free_port "$port" "$(redis_running_port 2>/dev/null || true)")"
            log "starting PostgreSQL on 127.0.0.1:$port (data $data, log $logfile)"
            if out="$(as_pg "$PG_BIN/pg_ctl" start -D "$data" -l "$logfile" -w -t "$WAIT_SECONDS" -o "-p $port" 2>&1)"; then
                break
            fi
            if port_in_use "$port" && ! pg_running_port >/dev/null; then
                log "port $port was taken meanwhile; trying another"
                port=$((port + 1))
                continue
            fi
            printf '%s\n' "$out" >&2
            tail -n 30 "$logfile" >&2 2>/dev/null || true
            die "PostgreSQL did not start (log above, full log in $logfile)"
        done
        pg_running_port >/dev/null || die "PostgreSQL did not start after $attempt attempts (see $logfile)"
    fi
    pg_wait_ready "$port" || die "PostgreSQL on 127.0.0.1:$port did not answer pg_isready within ${WAIT_SECONDS}s (see $logfile)"
    echo "$port" >"$PG_PORT_FILE"
    PG_PORT="$port"
}

pg_stop() {
    [ -f "$PG_BASE_FILE" ] || return 0
    PG_BASE="$(cat "$PG_BASE_FILE")"
    [ -d "$(pg_data)" ] || return 0
    find_pg_bin || {
        log "PostgreSQL binaries not found; cannot stop the cluster in $(pg_data)"
        return 1
    }
    pg_user
    if pg_running_port >/dev/null; then
        log "stopping PostgreSQL (data $(pg_data))"
        as_pg "$PG_BIN/pg_ctl" stop -D "$(pg_data)" -m fast -w -t "$WAIT_SECONDS" >/dev/null ||
            as_pg "$PG_BIN/pg_ctl" stop -D "$(pg_data)" -m immediate -w >/dev/null
    fi
}

# ---------------------------------------------------------------- Redis

redis_ping() {
    local port="$1"
    [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]
}

# Port of our running redis-server, else non-zero.
redis_running_port() {
    local pid port served
    [ -f "$REDIS_PIDFILE" ] && [ -f "$REDIS_PORT_FILE" ] || return 1
    pid="$(cat "$REDIS_PIDFILE" 2>/dev/null || true)"
    port="$(cat "$REDIS_PORT_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$port" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # The server answering on that port must be the process from our pidfile.
    served="$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
        tr -d '\r' | sed -n 's/^process_id://p' || true)"
    [ "$served" = "$pid" ] || return 1
    echo "$port"
}

redis_start() {
    local port attempt deadline logfile="$REDIS_DIR/redis.log" loglines
    mkdir -p "$REDIS_DIR"
    if port="$(redis_running_port)"; then
        log "Redis already running (ours) on 127.0.0.1:$port"
    else
        rm -f "$REDIS_PIDFILE"
        port="$REDIS_DEFAULT_PORT"
        for attempt in 1 2 3 4 5; do
            port="$(free_port "$port" "${PG_PORT:-}")"
            echo "$port" >"$REDIS_PORT_FILE"
            log "starting Redis on 127.0.0.1:$port (dir $REDIS_DIR, log $logfile)"
            loglines="$( (wc -l <"$logfile") 2>/dev/null || echo 0)"
            redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
                --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" --logfile "$logfile" </dev/null >/dev/null 2>&1 9>&- ||
                log "redis-server exited with an error"
            deadline=$((SECONDS + WAIT_SECONDS))
            until redis_running_port >/dev/null; do
                [ "$SECONDS" -lt "$deadline" ] || break
                # The daemonized server logs "... aborting." when it cannot listen (e.g. the port got taken).
                if grep -Eqi 'abort|fatal' <<<"$(tail -n +"$((loglines + 1))" "$logfile" 2>/dev/null || true)"; then break; fi
                sleep 0.2
            done
            redis_running_port >/dev/null && break
            if port_in_use "$port"; then
                log "port $port is taken by something else; trying another"
                port=$((port + 1))
                continue
            fi
            tail -n 30 "$logfile" >&2 2>/dev/null || true
            die "Redis did not start (log above, full log in $logfile)"
        done
        redis_running_port >/dev/null || die "Redis did not start after $attempt attempts (see $REDIS_DIR/redis.log)"
    fi
    redis_ping "$port" || die "Redis on 127.0.0.1:$port does not answer PING"
    REDIS_PORT="$port"
}

redis_stop() {
    local pid deadline
    command -v redis-cli >/dev/null 2>&1 || return 0
    redis_running_port >/dev/null || return 0
    pid="$(cat "$REDIS_PIDFILE")"
    log "stopping Redis (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$REDIS_PIDFILE"
}

# ---------------------------------------------------------------- commands

lock() {
    mkdir -p "$SERVICES_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$SERVICES_DIR/.lock"
        flock -w 300 9 || die "another test-services.sh holds $SERVICES_DIR/.lock"
    fi
}

cmd_start() {
    lock
    ensure_binaries
    PG_PORT=""
    REDIS_PORT=""
    pg_start
    redis_start
    local tmp="$ENV_FILE.tmp.$$"
    cat >"$tmp" <<EOF
export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/
EOF
    mv -f "$tmp" "$ENV_FILE"
    log "ready: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT; variables in $ENV_FILE"
}

cmd_stop() {
    lock
    local rc=0
    pg_stop || rc=1
    redis_stop || rc=1
    rm -f "$ENV_FILE"
    [ "$rc" -eq 0 ] || die "could not stop everything"
    log "stopped"
}

# pg-start: the existing cluster again, on the port it had (no initdb, data kept).
cmd_pg_start() {
    lock
    local port data logfile
    [ -f "$PG_BASE_FILE" ] && [ -f "$PG_PORT_FILE" ] || die "no recorded cluster in $SERVICES_DIR; run: $0 start"
    find_pg_bin || die "PostgreSQL binaries not found"
    pg_user
    PG_BASE="$(cat "$PG_BASE_FILE")"
    data="$(pg_data)"
    port="$(cat "$PG_PORT_FILE")"
    logfile="$PG_BASE/postgres.log"
    [ -f "$data/PG_VERSION" ] || die "no cluster in $data; run: $0 start"
    if pg_running_port >/dev/null; then
        log "PostgreSQL already running (ours) on 127.0.0.1:$(pg_running_port)"
    else
        log "starting PostgreSQL again on 127.0.0.1:$port (data $data kept)"
        as_pg "$PG_BIN/pg_ctl" start -D "$data" -l "$logfile" -w -t "$WAIT_SECONDS" -o "-p $port" >/dev/null ||
            die "PostgreSQL did not start on port $port (see $logfile)"
    fi
    pg_wait_ready "$port" || die "PostgreSQL on 127.0.0.1:$port did not answer pg_isready within ${WAIT_SECONDS}s"
}

cmd_pg_stop() {
    lock
    pg_stop || die "could not stop PostgreSQL"
    log "PostgreSQL stopped (data kept; $0 pg-start starts it again)"
}

# redis-start: our Redis again on its recorded port (no persistence: it starts empty).
cmd_redis_start() {
    lock
    local port deadline logfile="$REDIS_DIR/redis.log"
    [ -f "$REDIS_PORT_FILE" ] || die "no recorded Redis in $SERVICES_DIR; run: $0 start"
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found"
    port="$(cat "$REDIS_PORT_FILE")"
    if redis_running_port >/dev/null; then
        log "Redis already running (ours) on 127.0.0.1:$port"
        return 0
    fi
    port_in_use "$port" && die "port $port is taken by something else; cannot start Redis there"
    mkdir -p "$REDIS_DIR"
    rm -f "$REDIS_PIDFILE"
    log "starting Redis again on 127.0.0.1:$port"
    redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" --logfile "$logfile" </dev/null >/dev/null 2>&1 9>&- ||
        log "redis-server exited with an error"
    deadline=$((SECONDS + WAIT_SECONDS))
    until redis_running_port >/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || die "Redis did not start on port $port (see $logfile)"
        sleep 0.1
    done
    redis_ping "$port" || die "Redis on 127.0.0.1:$port does not answer PING"
}

cmd_redis_stop() {
    lock
    redis_stop || die "could not stop Redis"
    log "Redis stopped ($0 redis-start starts it again on the same port)"
}

cmd_env() {
    [ -f "$ENV_FILE" ] || die "$ENV_FILE does not exist; run: $0 start"
    cat "$ENV_FILE"
}

cmd_status() {
    local port rc=0
    if [ -f "$PG_BASE_FILE" ] && find_pg_bin; then
        PG_BASE="$(cat "$PG_BASE_FILE")"
        pg_user
        if port="$(pg_running_port)"; then log "PostgreSQL: running on 127.0.0.1:$port (data $(pg_data))"; else
            log "PostgreSQL: not running"
            rc=1
        fi
    else
        log "PostgreSQL: not running"
        rc=1
    fi
    if command -v redis-cli >/dev/null 2>&1 && port="$(redis_running_port)"; then log "Redis: running on 127.0.0.1:$port"; else
        log "Redis: not running"
        rc=1
    fi
    return "$rc"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
pg-start) cmd_pg_start ;;
pg-stop) cmd_pg_stop ;;
redis-start) cmd_redis_start ;;
redis-stop) cmd_redis_stop ;;
*)
    echo "usage: $0 start|stop|env|status|pg-stop|pg-start|redis-stop|redis-start" >&2
    exit 2
    ;;
esac
