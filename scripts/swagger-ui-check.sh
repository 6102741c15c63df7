#!/usr/bin/env bash
# Renders the Swagger UI (/api-docs) of a real `brokerage` server in headless Chromium and checks
# that it shows the API's operations, using only what the binary serves (no internet).
#
#   scripts/swagger-ui-check.sh
#
# Steps: build the binary (`cargo build -p brokerage-app --bin brokerage`, debug; or use
# $BROKERAGE_BIN), start it in demo mode on a free 127.0.0.1 port, load /api-docs/ in Debian's
# Chromium (installed with apt-get when missing; the run fails if it cannot be), let it render
# with a virtual-time budget, and check the DOM: the title, one `opblock` per documented
# operation, known paths such as /api/v1/orders, and no Content-Security-Policy violation in the
# browser's console. $SWAGGER_UI_SCREENSHOT=FILE.png also saves a screenshot. The server is
# stopped at the end (by its pid).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
OUT="$REPO_ROOT/target/swagger-ui-check"
CARGO="${CARGO:-cargo}"
BUDGET_MS="${SWAGGER_UI_BUDGET_MS:-20000}"

log() { printf 'swagger-ui-check: %s\n' "$*" >&2; }
die() {
    printf 'swagger-ui-check: ERROR: %s\n' "$*" >&2
    exit 1
}

find_chromium() {
    local c
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

ensure_chromium() {
    if find_chromium >/dev/null; then
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "chromium is not installed and installing it needs root (apt-get install -y chromium)"
    command -v apt-get >/dev/null 2>&1 || die "chromium is not installed and there is no apt-get to install it"
    log "installing Debian's chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$OUT/apt.log" 2>&1 || { cat "$OUT/apt.log" >&2; die "apt-get update failed"; }
    apt-get install -y -qq --no-install-recommends chromium >>"$OUT/apt.log" 2>&1 \
        || { tail -n 30 "$OUT/apt.log" >&2; die "apt-get install chromium failed"; }
    find_chromium >/dev/null || die "chromium is still missing after apt-get install"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
PROFILE_DIR=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$PROFILE_DIR" ]; then rm -rf "$PROFILE_DIR"; fi
}
trap cleanup EXIT

# chromium_run ARGS...: headless Chromium as this machine allows it (root, no network).
chromium_run() {
    PROFILE_DIR="$(mktemp -d)"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$PROFILE_DIR" \
        --enable-logging=stderr --v=0 "$@"
    local rc=$?
    rm -rf "$PROFILE_DIR"
    PROFILE_DIR=""
    return "$rc"
}

main() {
    mkdir -p "$OUT"
    ensure_chromium
    CHROMIUM="$(find_chromium)"
    log "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"

    local bin="${BROKERAGE_BIN:-}"
    if [ -z "$bin" ]; then
        log "building the brokerage binary"
        (cd "$REPO_ROOT" && "$CARGO" build --quiet -p brokerage-app --bin brokerage) || die "cargo build failed"
        bin="$REPO_ROOT/target/debug/brokerage"
    fi
    [ -x "$bin" ] || die "no brokerage binary at $bin"

    local port base
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    log "starting $bin in demo mode on $base"
    env -u DATABASE_URL -u REDIS_URL -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \
        BROKERAGE__HTTP__HOST=127.0.0.1 BROKERAGE__HTTP__PORT="$port" BROKERAGE__HTTP__WORKERS=1 \
        BROKERAGE__LOG__FORMAT=json \
        "$bin" serve >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        if curl --silent --fail --max-time 1 "$base/health/live" >/dev/null 2>&1; then break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 40 "$OUT/server.log" >&2; die "the server exited"; }
        [ "$i" -lt 100 ] || die "the server did not answer /health/live within 20 s"
        sleep 0.2
    done

    curl --silent --fail --max-time 5 "$base/api-docs/openapi.json" -o "$OUT/openapi.json" \
        || die "GET /api-docs/openapi.json failed"
    local operations
    operations="$(python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
print(sum(1 for item in doc["paths"].values() for m in item if m in ("get", "put", "post", "delete", "patch")))' "$OUT/openapi.json")"
    log "the document has $operations operations"

    log "rendering $base/api-docs/ in headless Chromium (virtual time budget ${BUDGET_MS} ms)"
    chromium_run --virtual-time-budget="$BUDGET_MS" --dump-dom "$base/api-docs/" \
        >"$OUT/dom.html" 2>"$OUT/chromium.log" || { tail -n 40 "$OUT/chromium.log" >&2; die "chromium failed"; }

    local failed=0 blocks
    blocks="$(grep -o 'class="opblock opblock-' "$OUT/dom.html" | wc -l)"
    if [ "$blocks" -ne "$operations" ]; then
        log "expected $operations operation blocks (opblock) in the page, found $blocks"
        failed=1
    fi
    for needle in 'Brokerage API' '/api/v1/orders' '/api/v1/auth/login' 'opblock-tag' 'models'; do
        grep -q -- "$needle" "$OUT/dom.html" || { log "the rendered page lacks '$needle'"; failed=1; }
    done
    if grep -E "Content Security Policy|Refused to (load|execute|apply|connect)" "$OUT/chromium.log"; then
        log "the browser refused something under the page's Content-Security-Policy (above)"
        failed=1
    fi
    if [ -n "${SWAGGER_UI_SCREENSHOT:-}" ]; then
        chromium_run --virtual-time-budget="$BUDGET_MS" --window-size=1280,2400 \
            --screenshot="$SWAGGER_UI_SCREENSHOT" "$base/api-docs/" >/dev/null 2>&1 \
            && log "screenshot: $SWAGGER_UI_SCREENSHOT"
    fi
    if [ "$failed" -ne 0 ]; then
        log "DOM: $OUT/dom.html, browser log: $OUT/chromium.log, server log: $OUT/server.log"
        die "the Swagger UI did not render the API"
    fi
    log "ok: the Swagger UI renders $blocks operations from $base/api-docs/"
}

main "$@"
