#!/usr/bin/env bash
# Runs every reliability suite present in scripts/reliability/ against the release binary
# (target/release/brokerage, or BROKERAGE_BIN), one after the other, and fails if any fails.
# Each suite writes target/reliability/<suite>.json; see docs/reliability.md.
#
#   bash scripts/reliability/run.sh            every suite present
#   bash scripts/reliability/run.sh faults     only the named ones
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The order suites run in; a suite that is not there (yet) is skipped.
SUITES=(faults crash scaleout)
if [ "$#" -gt 0 ]; then SUITES=("$@"); fi

bin="${BROKERAGE_BIN:-target/release/brokerage}"
if [ ! -x "$bin" ]; then
    echo "reliability: $bin missing; build it: cargo build --release -p brokerage-app --bin brokerage" >&2
    exit 2
fi
mkdir -p target/reliability

# crash.py and scaleout.py run on a database of their own (created and dropped by them) on the
# throwaway PostgreSQL + Redis that `make test` uses (started here when not running);
# faults.py starts and stops servers of its own, since it stops them on purpose.
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
    bash scripts/test-services.sh start
    # shellcheck disable=SC1091
    . target/services/env
fi
export DATABASE_URL REDIS_URL

failed=()
ran=0
for suite in "${SUITES[@]}"; do
    script="scripts/reliability/$suite.py"
    if [ ! -f "$script" ]; then
        echo "reliability: $suite: no $script, skipped"
        continue
    fi
    ran=$((ran + 1))
    printf '\n==== reliability suite: %s (%s)\n' "$suite" "$(date -u +%H:%M:%S)"
    start=$SECONDS
    if python3 "$script"; then
        echo "reliability: $suite passed in $((SECONDS - start))s"
    else
        echo "reliability: $suite FAILED (exit $?) in $((SECONDS - start))s; details in target/reliability/$suite.json" >&2
        failed+=("$suite")
    fi
done

[ "$ran" -gt 0 ] || {
    echo "reliability: no suite found" >&2
    exit 2
}
if [ "${#failed[@]}" -gt 0 ]; then
    echo "reliability: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "reliability: all $ran suite(s) passed"
