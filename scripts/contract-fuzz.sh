#!/usr/bin/env bash
# Contract fuzzing: schemathesis (PyPI, pinned below) generates requests from the served OpenAPI
# document (`GET /api-docs/openapi.json`, checked in as docs/openapi.json) and checks every answer
# of a real `brokerage` server against it, as an authenticated customer with cash.
#
#   scripts/contract-fuzz.sh [SCHEMATHESIS OPTIONS...]     (make test-contract)
#
# Steps: make a venv under target/venv-schemathesis with schemathesis==$SCHEMATHESIS_VERSION; build
# the debug binary (`cargo build -p brokerage-app --bin brokerage`, or use $BROKERAGE_BIN); start
# it on a free 127.0.0.1 port on the real stack, the throwaway PostgreSQL and Redis
# (scripts/test-services.sh start; a fresh database of its own, dropped at the end) — or in demo
# mode with CONTRACT_FUZZ_BACKEND=memory —, with rate limits off; register a user, deposit cash,
# log in, and run `schemathesis run` (every check on) with the bearer token, a bounded number of
# examples per operation (CONTRACT_FUZZ_MAX_EXAMPLES, default 100) and a fixed seed
# (CONTRACT_FUZZ_SEED). Any failure exits non-zero. The server is stopped at exit (by its pid).
# Output: target/contract-fuzz/ (server log, schemathesis' JUnit report).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
OUT="$REPO_ROOT/target/contract-fuzz"
VENV="$REPO_ROOT/target/venv-schemathesis"
CARGO="${CARGO:-cargo}"
SCHEMATHESIS_VERSION="4.32.5"
# Hypothesis too (schemathesis allows any 6.x): 6.170.27, what pip chose on 2026-12-06,
# crashed inside CPython 3.11's ast module while describing a filter lambda
# ("AST constructor recursion depth mismatch"), a tool error reported as a contract failure.
HYPOTHESIS_VERSION="6.170.23"
MAX_EXAMPLES="${CONTRACT_FUZZ_MAX_EXAMPLES:-100}"
SEED="${CONTRACT_FUZZ_SEED:-20261125}"
BACKEND="${CONTRACT_FUZZ_BACKEND:-postgres}"
PASSWORD="correct horse battery staple"

log() { printf 'contract-fuzz: %s\n' "$*" >&2; }
die() {
    printf 'contract-fuzz: ERROR: %s\n' "$*" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
FUZZ_DB=""
ADMIN_URL=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$FUZZ_DB" ]; then
        psql "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$FUZZ_DB\" WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $FUZZ_DB"
    fi
}
trap cleanup EXIT

ensure_schemathesis() {
    if [ -x "$VENV/bin/schemathesis" ] \
        && [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" = "schemathesis, version $SCHEMATHESIS_VERSION" ] \
        && [ "$("$VENV/bin/python" -c 'import hypothesis; print(hypothesis.__version__)' 2>/dev/null)" = "$HYPOTHESIS_VERSION" ]; then
        return
    fi
    log "installing schemathesis==$SCHEMATHESIS_VERSION (hypothesis==$HYPOTHESIS_VERSION) into $VENV"
    python3 -m venv "$VENV" >"$OUT/venv.log" 2>&1 || {
        # Debian splits venv support (ensurepip) into python3-venv.
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >>"$OUT/venv.log" 2>&1 || true
            apt-get install -y -qq python3-venv >>"$OUT/venv.log" 2>&1 || true
            rm -rf "$VENV"
            python3 -m venv "$VENV" >>"$OUT/venv.log" 2>&1
        fi
    } || { cat "$OUT/venv.log" >&2; die "python3 -m venv failed"; }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
        "hypothesis==$HYPOTHESIS_VERSION" >>"$OUT/venv.log" 2>&1 || { tail -n 30 "$OUT/venv.log" >&2; die "pip install schemathesis failed"; }
}

# api METHOD PATH [TOKEN] [BODY]: the response body; fails unless the status is 2xx.
api() {
    local method="$1" path="$2" token="${3:-}" body="${4:-}"
    local args=(--silent --show-error --fail-with-body --max-time 30 -X "$method" "$BASE$path")
    if [ -n "$token" ]; then args+=(-H "Authorization: Bearer $token"); fi
    if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
    curl "${args[@]}"
}

main() {
    mkdir -p "$OUT"
    command -v python3 >/dev/null 2>&1 || die "python3 is needed"
    ensure_schemathesis

    local bin="${BROKERAGE_BIN:-}"
    if [ -z "$bin" ]; then
        log "building the brokerage binary"
        (cd "$REPO_ROOT" && "$CARGO" build --quiet -p brokerage-app --bin brokerage) || die "cargo build failed"
        bin="$REPO_ROOT/target/debug/brokerage"
    fi
    [ -x "$bin" ] || die "no brokerage binary at $bin"

    local -a storage=(-u DATABASE_URL -u REDIS_URL)
    if [ "$BACKEND" = "postgres" ]; then
        if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
            bash "$REPO_ROOT/scripts/test-services.sh" start
            # shellcheck disable=SC1091
            . "$REPO_ROOT/target/services/env"
        fi
        # A database of its own, so the run never meets another test's rows.
        ADMIN_URL="$DATABASE_URL"
        FUZZ_DB="contract_fuzz_$$"
        psql "$ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$FUZZ_DB\"" >/dev/null \
            || die "could not create database $FUZZ_DB on $ADMIN_URL"
        storage=(DATABASE_URL="${ADMIN_URL%/*}/$FUZZ_DB" REDIS_URL="$REDIS_URL")
    elif [ "$BACKEND" != "memory" ]; then
        die "CONTRACT_FUZZ_BACKEND must be postgres or memory, not $BACKEND"
    fi

    local port
    port="$(free_port)"
    BASE="http://127.0.0.1:$port"
    log "starting $bin ($BACKEND) on $BASE"
    env -u DATABASE_URL -u REDIS_URL -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \
        "${storage[@]}" \
        BROKERAGE__HTTP__HOST=127.0.0.1 BROKERAGE__HTTP__PORT="$port" BROKERAGE__HTTP__WORKERS=2 \
        BROKERAGE__RATE_LIMIT__ENABLED=false \
        BROKERAGE__WEBHOOKS__FUNDING_SECRET="contract-fuzz-funding-secret" \
        BROKERAGE__AUTH__JWT_SECRET="contract-fuzz-secret-contract-fuzz-secret" \
        BROKERAGE__SECURITY__ENCRYPTION_KEY="$(printf '0f%.0s' $(seq 1 32))" \
        BROKERAGE__LOG__FORMAT=json \
        "$bin" serve >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 150); do
        if curl --silent --fail --max-time 1 "$BASE/health/ready" >/dev/null 2>&1; then break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 40 "$OUT/server.log" >&2; die "the server exited"; }
        [ "$i" -lt 150 ] || die "the server was not ready within 30 s"
        sleep 0.2
    done

    local email token
    email="fuzz-$(date +%s)-$$@example.com"
    api POST /api/v1/auth/register "" "{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" >/dev/null \
        || die "register failed"
    token="$(api POST /api/v1/auth/login "" "{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" || die "login failed"
    api POST /api/v1/account/deposits "$token" '{"amount":"1000000"}' >/dev/null || die "deposit failed"
    # One resting order, so that the order routes also meet a real id.
    api POST /api/v1/orders "$token" '{"symbol":"AAPL","side":"buy","type":"limit","qty":"1","limit_price":"1","time_in_force":"gtc"}' \
        >/dev/null || die "placing an order failed"
    # Access tokens live 15 minutes: far longer than the run.

    log "schemathesis $SCHEMATHESIS_VERSION: every check, at most $MAX_EXAMPLES examples per operation, seed $SEED"
    # Excluded operations, because they would end or change the session the run relies on:
    #  - POST /api/v1/auth/logout ends the session: every later request would get 401.
    #  - POST /api/v1/auth/password ends every session of the user when it succeeds.
    #  - POST /api/v1/auth/2fa/{setup,enable,disable}: turning 2FA on would not end the token,
    #    but the run has no way to make TOTP codes, and setup replaces the pending secret.
    # And GET /api/v1/events, a Server-Sent Events stream: it never ends by itself, so every
    # generated request would hold until the request timeout (30 s each, most of an hour per
    # run). Its contract is tested by tests/api/events.rs (live events, resume with
    # Last-Event-ID, a bad Last-Event-ID refused with 400, accounts isolated).
    # The admin routes answer a customer with 403 (documented), so they stay in.
    #
    # Every check is on: schemathesis 4 runs all of them unless told otherwise (server errors,
    # status codes, response schemas and headers, content types, negative data rejection,
    # positive data acceptance, missing auth, use after free, ...). `--checks all` is not passed
    # because on the command line it would override the per-operation setting below: only
    # positive_data_acceptance (every schema-valid request must be accepted) is off, and only for
    # these operations, whose rules JSON Schema in the document cannot state:
    #  - place_order: rules between fields (exactly one of `qty`/`notional`, which prices each
    #    order type needs), quantities with at most 9 and prices with at most 4 decimal places;
    #  - deposit, withdraw: a positive amount with at most 4 decimal places, also as a JSON
    #    number (whose generated values carry binary floating-point noise);
    #  - register: the password policy refuses common passwords;
    #  - create_api_key (and the three above): the same generated Idempotency-Key with another
    #    body is rightly 422 `idempotency_key_reused`.
    #  - replace_order: the same field rules as place_order;
    #  - close_position: `qty` or `percentage`, not both (query parameters cannot say "one of");
    #  - create_webhook: an https URL to a public host, without credentials, control characters
    #    or a fragment (checked by the domain, beyond what a JSON Schema pattern can say).
    cat >"$OUT/schemathesis.toml" <<'TOML'
[checks]
enabled = true

[[operations]]
include-operation-id = ["place_order", "replace_order", "close_position", "deposit", "withdraw", "register", "create_api_key", "create_webhook"]
checks.positive_data_acceptance.enabled = false
TOML
    local status=0
    # From $OUT, where schemathesis keeps its cache (.schemathesis/).
    (cd "$OUT" && "$VENV/bin/schemathesis" --config-file "$OUT/schemathesis.toml" run "$BASE/api-docs/openapi.json" \
        --url "$BASE" \
        -H "Authorization: Bearer $token" \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers 2 \
        --request-timeout 30 \
        --exclude-path /api/v1/auth/logout \
        --exclude-path /api/v1/auth/password \
        --exclude-path-regex '^/api/v1/auth/2fa/' \
        --exclude-path /api/v1/events \
        --report junit --report-junit-path "$OUT/junit.xml" \
        "$@") || status=$?
    if [ "$status" -ne 0 ]; then
        log "schemathesis found failures (exit $status); server log: $OUT/server.log"
        exit "$status"
    fi
    # Thousands of generated requests (orders, deposits, cancels, replaces…) later, the book
    # must still be sound: the invariant checker over the run's own database.
    if [ -n "$FUZZ_DB" ]; then
        env -u REDIS_URL DATABASE_URL="${ADMIN_URL%/*}/$FUZZ_DB" "$bin" check-invariants \
            || die "the book is not sound after the run (brokerage check-invariants above)"
    fi
    if grep -q '"level":"ERROR"' "$OUT/server.log"; then
        log "note: the server logged errors during the run (see $OUT/server.log)"
    fi
    log "ok: no failures"
}

main "$@"
