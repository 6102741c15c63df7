#!/usr/bin/env python3
"""Dependency-fault suite (issue #8 item 3), Python 3 standard library only.

Runs the release binary on its own PostgreSQL and Redis (scripts/test-services.sh with
BROKERAGE_SERVICES_DIR=target/reliability/services, ports 57432/57379), reaching both THROUGH
fault-injecting TCP proxies (proxy.py), under a steady mixed load from a few threads, and injects
one fault per phase: added latency, connection resets, a hang, answers slower than the app waits,
sessions killed by the server, the server stopped then started.

It asserts what docs/operations.md ("Outages", "Rate limits") documents:
- every answer is the operation's success status or 503 `unavailable` in the error envelope
  (401 only once Redis lost its sessions; the client logs in again); never another 5xx;
- no request takes longer than the request timeout + 2 s, and every request gets an answer;
- during a Redis outage login fails closed (503 with Retry-After, never 200) and authenticated
  calls answer 503 (sessions cannot be checked);
- readiness goes 503 while the dependency is gone and back to 200 by itself, without restarting
  the app, which never crashes or panics;
- `brokerage check-invariants` finds the book sound after every phase.

Writes target/reliability/faults.json; exit status 0 only when every check holds.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BINARY, PASSWORD, REPO, Customer, Server, base_env, call, call_with_headers,  # noqa: E402
                     check_invariants, free_port, fresh_database)
from proxy import FaultProxy  # noqa: E402

OUT_DIR = os.path.join(REPO, "target", "reliability")
SERVICES_DIR = os.path.join(OUT_DIR, "services")
PG_PORT, REDIS_PORT = 57432, 57379
SERVICES_ENV = {"BROKERAGE_SERVICES_DIR": SERVICES_DIR, "BROKERAGE_PG_PORT": str(PG_PORT),
                "BROKERAGE_REDIS_PORT": str(REDIS_PORT)}

REQUEST_TIMEOUT = 3              # BROKERAGE__HTTP__REQUEST_TIMEOUT_SECS for the suite
HANG_LIMIT = REQUEST_TIMEOUT + 2  # an answer later than this is a hang
CLIENT_TIMEOUT = REQUEST_TIMEOUT + 7
# The session cache (crates/redis/src/session_cache.rs) answers for sessions it confirmed until
# it sees its revocation channel down: a ping every SESSION_CACHE_MS / 2, answered within 1 s.
# Past that bound an outage must fail closed; within it a cached session may still pass (no
# revocation can reach Redis while it is out).
SESSION_CACHE_MS = 1000
SESSION_CACHE_DETECT = SESSION_CACHE_MS / 2000 + 1.0
RECOVERY_LIMIT = 30.0            # readiness must be 200 again within this many seconds
WORKERS = 4
LATENCY_MS = 200
PG_STOP_CYCLES = 4

# name, dependency, fault, seconds under fault
PHASES = [
    ("baseline", None, None, 4),
    ("pg_latency", "pg", "latency", 6),
    ("pg_reset", "pg", "reset", 5),
    ("pg_hang", "pg", "hang", 8),
    ("pg_slow", "pg", "slow", 8),
    ("pg_terminate", "pg", "terminate", 4),
    ("pg_stop_start", "pg", "stop", 15),
    ("redis_latency", "redis", "latency", 6),
    ("redis_reset", "redis", "reset", 5),
    ("redis_hang", "redis", "hang", 8),
    ("redis_slow", "redis", "slow", 6),
    ("redis_stop_start", "redis", "stop", 6),
    ("final", None, None, 4),
]
# Faults that take the dependency away: readiness must go 503, the API must answer 503.
# "slow" is latency beyond what the app waits for: Postgres answers after the request timeout
# (the request-timeout middleware must answer 503), Redis after its 500 ms response timeout.
OUTAGES = {"reset", "hang", "stop", "slow"}
# "terminate": the app's sessions killed by the server (pg_terminate_backend, SQLSTATE 57P01, what a
# restart or failover does) while their statements wait inside PostgreSQL; the rest keeps working.
SLOW_MS = {"pg": (REQUEST_TIMEOUT + 1) * 1000, "redis": 1000}

SUCCESS = {"account": 200, "order": 201, "deposit": 201, "quote": 200, "login": 200}
CYCLE = ["account", "order", "deposit", "quote", "account", "order", "deposit", "quote", "login"]


def log(msg: str) -> None:
    print(f"faults [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def services(cmd: str) -> None:
    env = dict(os.environ, **SERVICES_ENV)
    subprocess.run(["bash", os.path.join(REPO, "scripts", "test-services.sh"), cmd], env=env, check=True)


def services_env() -> dict[str, str]:
    out: dict[str, str] = {}
    with open(os.path.join(SERVICES_DIR, "env")) as f:
        for line in f:
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].strip().split("=", 1)
                out[k] = v
    return out


def with_port(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if ":" in parts.netloc.split("@")[-1] else parts.netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


class State:
    """What the main thread tells the workers, and what they record."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "setup"
        self.part = "fault"
        self.stop = threading.Event()
        self.sessions_lost = False    # Redis restarted empty: 401 is the expected answer to old tokens
        self.records: list[dict] = []

    def record(self, rec: dict) -> None:
        with self.lock:
            self.records.append(rec)


def worker(state: State, base: str, customer: Customer, index: int) -> None:
    i = index  # workers start at different points of the cycle
    while not state.stop.is_set():
        op = CYCLE[i % len(CYCLE)]
        i += 1
        phase, part = state.phase, state.part
        headers: dict[str, str] = {}
        if op == "account":
            args = ("GET", "/api/v1/account", None)
        elif op == "order":
            args = ("POST", "/api/v1/orders", {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1,
                                               "limit_price": "1.00", "time_in_force": "gtc"})
        elif op == "deposit":
            args = ("POST", "/api/v1/account/deposits", {"amount": "1"})
            headers["Idempotency-Key"] = str(uuid.uuid4())
        elif op == "quote":
            args = ("GET", "/api/v1/market-data/quotes/AAPL", None)
        else:
            args = ("POST", "/api/v1/auth/login", {"email": customer.email, "password": PASSWORD})
        token = None if op == "login" else customer.token
        started = time.monotonic()
        status, body, raw, got = call_with_headers(base, args[0], args[1], args[2], token, headers,
                                                   timeout=CLIENT_TIMEOUT)
        ended = time.monotonic()
        code = body.get("error") if isinstance(body, dict) else None
        state.record({"phase": phase, "part": part, "op": op, "status": status, "error": code,
                      "retry_after": got.get("retry-after"), "start": started, "end": ended,
                      "latency": ended - started, "raw": raw[:200].decode(errors="replace") if status >= 500 else None})
        if op == "login" and status == 200 and isinstance(body, dict):
            customer.token = body["access_token"]
        elif status == 401 and op != "login":
            # Sessions gone (Redis restarted empty): log in again, as a client would.
            s, b, _, _ = call_with_headers(base, "POST", "/api/v1/auth/login",
                                           {"email": customer.email, "password": PASSWORD},
                                           timeout=CLIENT_TIMEOUT)
            if s == 200 and isinstance(b, dict):
                customer.token = b["access_token"]
        if status in (0, 503):
            time.sleep(0.05)  # a client backing off a little; keeps the log readable


def idem_deposit(base: str, customer: Customer, key: str) -> tuple[int, bool, str | None]:
    """A deposit of 1 with `key`: (status, replayed?, the activity's id)."""
    status, body, _, got = call_with_headers(base, "POST", "/api/v1/account/deposits", {"amount": "1"},
                                             customer.token, {"Idempotency-Key": key}, timeout=CLIENT_TIMEOUT)
    return status, got.get("idempotent-replayed") == "true", body.get("id") if isinstance(body, dict) else None


def terminate_waiting_sessions(db_url: str) -> int:
    """Holds the accounts table for 1 s (deposits and orders queue on their row locks inside
    PostgreSQL), then terminates the sessions waiting on it: each waiting statement gets FATAL
    57P01 "terminating connection due to administrator command" as its answer."""
    locker = subprocess.Popen(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-qc",
                               "BEGIN; LOCK TABLE accounts IN EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    out = subprocess.run(["psql", db_url, "-qtAc",
                          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND wait_event_type = 'Lock'"],
                         capture_output=True, text=True)
    locker.wait(10)
    try:
        return int(out.stdout.strip() or 0)
    except ValueError:
        return -1


def readiness(base: str) -> tuple[int, object]:
    status, body, _ = call(base, "GET", "/health/ready", timeout=CLIENT_TIMEOUT)
    return status, body


def wait_ready(server: Server, limit: float) -> float | None:
    """Seconds until /health/ready answers 200 (None if not within `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if server.proc and server.proc.poll() is not None:
            return None
        if readiness(server.base)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def run_invariants(db_url: str) -> dict:
    ok, out = check_invariants(db_url)
    if "usage:" in out and "check-invariants" not in out.split("usage:", 1)[1].splitlines()[0]:
        # The binary predates `brokerage check-invariants`: run the very SQL it runs, loudly.
        res = subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-qtA", "-f",
                              os.path.join(REPO, "scripts", "check-invariants.sql")],
                             capture_output=True, text=True)
        rows = [r for r in res.stdout.splitlines() if r.strip()]
        return {"method": "psql scripts/check-invariants.sql (binary has no check-invariants command)",
                "ok": res.returncode == 0 and not rows, "violations": len(rows) if res.returncode == 0 else None,
                "output": (res.stdout + res.stderr).strip()[:2000]}
    return {"method": "brokerage check-invariants", "ok": ok, "violations": 0 if ok else None, "output": out[:2000]}


def main() -> int:
    os.makedirs(OUT_DIR, exist_ok=True)
    t0 = time.monotonic()
    failures: list[str] = []
    report: dict = {"suite": "faults", "binary": BINARY, "request_timeout_secs": REQUEST_TIMEOUT,
                    "hang_limit_secs": HANG_LIMIT, "workers": WORKERS, "phases": {}}
    if not os.access(BINARY, os.X_OK):
        print(f"faults: {BINARY} missing; build it: cargo build --release -p brokerage-app --bin brokerage",
              file=sys.stderr)
        return 2
    services("start")
    pg_proxy = redis_proxy = None
    server = None
    state = State()
    threads: list[threading.Thread] = []
    try:
        svc = services_env()
        admin_url = svc["DATABASE_URL"]
        # The ports the servers really got (test-services.sh moves on when 57432/57379 are taken).
        pg_port = urllib.parse.urlsplit(admin_url).port or PG_PORT
        redis_port = urllib.parse.urlsplit(svc["REDIS_URL"]).port or REDIS_PORT
        with fresh_database(admin_url, "faults") as db_url:
            pg_proxy = FaultProxy(free_port(), pg_port, name="pg-proxy").start()
            redis_proxy = FaultProxy(free_port(), redis_port, name="redis-proxy").start()
            proxies = {"pg": pg_proxy, "redis": redis_proxy}
            app_port = free_port()
            env = base_env(with_port(db_url, pg_proxy.listen_port), f"redis://127.0.0.1:{redis_proxy.listen_port}/",
                           app_port, "faults-suite-jwt-secret-0123456789abcdef", "ab" * 32)
            env.update({
                "BROKERAGE__HTTP__REQUEST_TIMEOUT_SECS": str(REQUEST_TIMEOUT),
                "BROKERAGE__DATABASE__CONNECT_TIMEOUT_MS": "1000",
                "BROKERAGE__REDIS__CONNECT_TIMEOUT_MS": "1000",
                # Limits on (they are what fails closed for login), far above the suite's load.
                "BROKERAGE__RATE_LIMIT__ENABLED": "true",
                "BROKERAGE__RATE_LIMIT__LOGIN_LIMIT": "100000",
                "BROKERAGE__RATE_LIMIT__TRADING_LIMIT": "100000",
                "BROKERAGE__RATE_LIMIT__GENERAL_LIMIT": "100000",
                "BROKERAGE__AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT": "100000",
                "BROKERAGE__AUTH__SESSION_CACHE_MS": str(SESSION_CACHE_MS),
                "BROKERAGE__LOG__FILTER": "warn",
            })
            log_path = os.path.join(OUT_DIR, "faults-server.log")
            open(log_path, "w").close()
            server = Server(env, log_path)
            server.start()
            log(f"server on {server.base}; postgres via :{pg_proxy.listen_port}, redis via :{redis_proxy.listen_port}")
            customers = [Customer.register(server.base, f"faults{i}") for i in range(WORKERS)]
            probe = Customer.register(server.base, "faults-probe")
            threads = [threading.Thread(target=worker, args=(state, server.base, c, i * 2), daemon=True)
                       for i, c in enumerate(customers)]
            state.phase = "baseline"
            for t in threads:
                t.start()

            for name, dep, fault, seconds in PHASES:
                ph: dict = {"dependency": dep, "fault": fault, "fault_seconds": seconds}
                report["phases"][name] = ph
                log(f"phase {name}: {fault or 'no fault'} on {dep or '-'} for {seconds}s")
                with state.lock:
                    state.phase, state.part = name, "fault"
                fault_start = time.monotonic()
                ready_seen_cycles: collections.Counter = collections.Counter()
                if fault == "latency":
                    proxies[dep].set_mode("latency", LATENCY_MS)
                elif fault == "slow":
                    proxies[dep].set_mode("latency", SLOW_MS[dep])
                elif fault in ("reset", "hang"):
                    proxies[dep].set_mode(fault)
                elif fault == "terminate":
                    ph["sessions_terminated"] = terminate_waiting_sessions(db_url)
                elif fault == "stop":
                    if dep == "redis":
                        probe_key = str(uuid.uuid4())
                        probe_first = idem_deposit(server.base, probe, probe_key)
                    if dep == "pg":
                        # A statement in flight when PostgreSQL goes is the case that matters (a
                        # restart or failover under load) and it is a matter of timing: stop and
                        # start it PG_STOP_CYCLES times, the last stop lasting the rest of the phase.
                        for _ in range(PG_STOP_CYCLES - 1):
                            services("pg-stop")
                            time.sleep(1.0)
                            ready_seen_cycles[readiness(server.base)[0]] += 1
                            services("pg-start")
                            wait_ready(server, RECOVERY_LIMIT)
                            time.sleep(1.0)
                    services(f"{dep}-stop")
                # Readiness while the fault lasts (every ~0.5 s).
                ready_seen: collections.Counter = collections.Counter(ready_seen_cycles)
                while time.monotonic() - fault_start < seconds:
                    rs, _ = readiness(server.base)
                    ready_seen[rs] += 1
                    time.sleep(0.5)
                fault_end = time.monotonic()
                if fault in ("latency", "slow", "reset", "hang"):
                    proxies[dep].set_mode("pass")
                elif fault == "stop":
                    services(f"{dep}-start")
                    if dep == "redis":
                        state.sessions_lost = True
                with state.lock:
                    state.part = "recovery"
                recovered = wait_ready(server, RECOVERY_LIMIT)
                if fault == "stop" and dep == "redis":
                    probe.login(server.base)  # its session went with Redis
                    again = idem_deposit(server.base, probe, probe_key)
                    if again[0] != 201:
                        verdict = f"answered {again[0]}"
                    elif again[1]:
                        verdict = "replayed"
                    elif again[2] and again[2] == probe_first[2]:
                        verdict = "same deposit (the key is also kept in PostgreSQL)"
                    else:
                        verdict = ("executed again (the key was forgotten with Redis: a retry of a deposit "
                                   "whose answer was lost deposits twice)")
                    report["idempotency_key_after_redis_loss"] = {"before": probe_first[0], "retry": again[0],
                                                                  "verdict": verdict}
                ph["readiness_during_fault"] = {str(k): v for k, v in sorted(ready_seen.items())}
                ph["readiness_recovery_seconds"] = None if recovered is None else round(recovered, 2)
                ph["window"] = (fault_start, fault_end)
                if recovered is None:
                    failures.append(f"{name}: readiness not 200 within {RECOVERY_LIMIT}s after the fault ended")
                if fault in OUTAGES and ready_seen.get(503, 0) == 0:
                    failures.append(f"{name}: readiness never answered 503 during the outage ({dict(ready_seen)})")
                if fault is None and set(ready_seen) - {200}:
                    failures.append(f"{name}: readiness not always 200 without a fault ({dict(ready_seen)})")
                # Let the load run a little in the recovered state, so each phase shows its recovery.
                time.sleep(2)
                if server.proc.poll() is not None:
                    failures.append(f"{name}: the app exited with {server.proc.returncode}")
                    break
                ph["app_alive"] = True
                ph["invariants"] = run_invariants(db_url)
                if not ph["invariants"]["ok"]:
                    failures.append(f"{name}: invariants violated: {ph['invariants']['output'][:300]}")

            state.stop.set()
            for t in threads:
                t.join(CLIENT_TIMEOUT + 5)
            report["app_starts"] = server.starts
            if server.starts != 1:
                failures.append(f"the app was started {server.starts} times (must recover without a restart)")
            analyse(state, report, failures)
            server.stop()
            with open(log_path, errors="replace") as f:
                text = f.read()
            panics = text.count("panicked at")
            report["panics_in_log"] = panics
            # Not a failure of this suite, a known limit (docs/reliability.md): a money movement that
            # committed while Redis could not keep its idempotent answer can run again on a retry.
            report["idempotency_answers_not_stored"] = text.count("could not store the idempotent answer")
            if panics:
                failures.append(f"{panics} panic(s) in {log_path}")
    finally:
        state.stop.set()
        if server:
            server.kill9()
        for p in (pg_proxy, redis_proxy):
            if p:
                p.stop()
        try:
            services("stop")
        except subprocess.CalledProcessError:
            log("warning: could not stop the suite's services")
    # One per fault phase, plus the extra PostgreSQL stops of pg_stop_start.
    report["fault_phases"] = sum(1 for _, _, f, _ in PHASES if f)
    report["faults_injected"] = report["fault_phases"] + PG_STOP_CYCLES - 1
    report["seconds"] = round(time.monotonic() - t0, 1)
    report["failures"] = failures
    report["ok"] = not failures
    for ph in report["phases"].values():
        ph.pop("window", None)
    with open(os.path.join(OUT_DIR, "faults.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=False)
    with open(os.path.join(OUT_DIR, "faults.md"), "w") as f:
        f.write(markdown(report))
    summary(report)
    return 0 if not failures else 1


def markdown(report: dict) -> str:
    """The table docs/reliability.md shows (target/reliability/faults.md)."""
    lines = ["| phase | fault | requests | statuses under fault | statuses in recovery | max latency s "
             "| readiness during fault | readiness back after s | bad 5xx | hangs | invariants |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(h: dict | None) -> str:
        return " ".join(f"{k}×{v}" for k, v in (h or {}).items()) or "–"

    for name, ph in report["phases"].items():
        fault = "–" if not ph["fault"] else f"{ph['dependency']} {ph['fault']}"
        inv = ph.get("invariants", {})
        lines.append(
            f"| {name} | {fault} | {ph.get('requests', 0)} | {fmt(ph.get('status_histogram', {}).get('fault'))} "
            f"| {fmt(ph.get('status_histogram', {}).get('recovery'))} | {ph.get('max_latency_seconds')} "
            f"| {fmt(ph.get('readiness_during_fault'))} | {ph.get('readiness_recovery_seconds')} "
            f"| {ph.get('bad_5xx')} | {ph.get('hangs_beyond_timeout')} | {'ok' if inv.get('ok') else 'VIOLATED'} |")
    t = report.get("totals", {})
    lines.append("")
    lines.append(f"Faults injected {report['faults_injected']}, requests {report.get('requests_sent')}, "
                 f"5xx other than 503: {t.get('bad_5xx')}, hangs beyond {HANG_LIMIT} s: {t.get('hangs')}, "
                 f"no answer: {t.get('no_answer')}, unexpected statuses: {t.get('unexpected_status')}, "
                 f"invariant violations: {t.get('invariant_violations')}, panics: {report.get('panics_in_log')}, "
                 f"app starts: {report.get('app_starts')}, {report['seconds']} s, "
                 f"{'passed' if report['ok'] else 'FAILED'}.")
    return "\n".join(lines) + "\n"


def analyse(state: State, report: dict, failures: list[str]) -> None:
    records = state.records
    report["requests_sent"] = len(records)
    totals = {"bad_5xx": 0, "hangs": 0, "no_answer": 0, "unexpected_status": 0, "invariant_violations": 0}
    for name, ph in report["phases"].items():
        dep, fault = ph["dependency"], ph["fault"]
        window = ph.get("window")
        mine = [r for r in records if r["phase"] == name]
        hist: dict = {}
        for part in ("fault", "recovery"):
            c = collections.Counter(str(r["status"]) for r in mine if r["part"] == part)
            hist[part] = dict(sorted(c.items()))
        ph["requests"] = len(mine)
        ph["status_histogram"] = hist
        ph["max_latency_seconds"] = round(max((r["latency"] for r in mine), default=0.0), 3)
        by_op: dict = {}
        for r in mine:
            by_op.setdefault(r["op"], collections.Counter())[str(r["status"])] += 1
        ph["by_operation"] = {op: dict(sorted(c.items())) for op, c in sorted(by_op.items())}
        bad_5xx = [r for r in mine if r["status"] >= 500 and not (r["status"] == 503 and r["error"] == "unavailable")]
        hangs = [r for r in mine if r["latency"] > HANG_LIMIT]
        no_answer = [r for r in mine if r["status"] == 0]
        allowed_401 = name in ("redis_stop_start", "final") and state.sessions_lost
        unexpected = [r for r in mine if r["status"] not in (0, 503, SUCCESS[r["op"]])
                      and not (r["status"] == 401 and allowed_401 and r["op"] != "login")
                      and r["status"] < 500]
        ph.update({"bad_5xx": len(bad_5xx), "hangs_beyond_timeout": len(hangs), "no_answer": len(no_answer),
                   "unexpected_status": len(unexpected)})
        totals["bad_5xx"] += len(bad_5xx)
        totals["hangs"] += len(hangs)
        totals["no_answer"] += len(no_answer)
        totals["unexpected_status"] += len(unexpected)
        if not ph.get("invariants", {}).get("ok", False):
            totals["invariant_violations"] += ph.get("invariants", {}).get("violations") or 1
        for label, rows in (("5xx other than 503 unavailable", bad_5xx), ("answers slower than "
                            f"{HANG_LIMIT}s", hangs), ("requests without an answer", no_answer),
                            ("unexpected statuses", unexpected)):
            if rows:
                sample = [(r["op"], r["status"], r["error"], round(r["latency"], 2), r["raw"]) for r in rows[:5]]
                failures.append(f"{name}: {len(rows)} {label}, e.g. {sample}")
        if fault is None:
            # Without a fault nearly everything succeeds; a rare 503 is tolerated because on a busy
            # machine (CI, 2 shared cores) Redis can miss the rate limiter's 500 ms budget, which
            # fails login closed exactly as documented. It is counted, and must stay rare.
            not_ok = [r for r in mine if r["status"] != SUCCESS[r["op"]] and not (r["status"] == 401 and allowed_401)]
            ph["failed_without_fault"] = len(not_ok)
            if len(not_ok) > max(1, len(mine) // 100) or any(r["status"] != 503 for r in not_ok):
                failures.append(f"{name}: {len(not_ok)} failed requests without a fault, e.g. "
                                f"{[(r['op'], r['status'], r['error']) for r in not_ok[:5]]}")
        if window and fault in OUTAGES:
            # Requests wholly inside the outage (after a 1 s grace for in-flight work to finish).
            inside = [r for r in mine if r["part"] == "fault" and r["start"] >= window[0] + 1.0
                      and r["end"] <= window[1]]
            ph["requests_inside_outage"] = len(inside)
            served = [r for r in inside if r["status"] == 503]
            if inside and not served:
                failures.append(f"{name}: no 503 during the outage ({len(inside)} requests)")
            if dep == "redis":
                logins_ok = [r for r in inside if r["op"] == "login" and r["status"] == 200]
                auth_ok = [r for r in inside if r["op"] != "login" and r["status"] in (200, 201)
                           and r["start"] >= window[0] + 1.0 + SESSION_CACHE_DETECT]
                ph["authenticated_ok_from_session_cache"] = sum(
                    1 for r in inside if r["op"] != "login" and r["status"] in (200, 201)) - len(auth_ok)
                no_retry_after = [r for r in inside if r["op"] == "login" and r["status"] == 503
                                  and r["retry_after"] is None]
                ph["logins_inside_outage"] = dict(collections.Counter(
                    str(r["status"]) for r in inside if r["op"] == "login"))
                if logins_ok:
                    failures.append(f"{name}: {len(logins_ok)} logins succeeded while Redis was out (must fail closed)")
                if auth_ok:
                    failures.append(f"{name}: {len(auth_ok)} authenticated calls succeeded while Redis was out, "
                                    f"more than {SESSION_CACHE_DETECT}s in (sessions cannot be checked: must fail closed)")
                if no_retry_after:
                    failures.append(f"{name}: {len(no_retry_after)} login 503s without Retry-After (documented)")
    report["totals"] = totals


def summary(report: dict) -> None:
    print()
    print(f"{'phase':<18} {'requests':>8} {'max s':>6} {'ready s':>7}  statuses (fault | recovery)")
    for name, ph in report["phases"].items():
        h = ph.get("status_histogram", {})
        print(f"{name:<18} {ph.get('requests', 0):>8} {ph.get('max_latency_seconds', 0):>6} "
              f"{str(ph.get('readiness_recovery_seconds')):>7}  {h.get('fault')} | {h.get('recovery')}")
    print(f"faults injected {report['faults_injected']}, requests {report.get('requests_sent')}, "
          f"totals {report.get('totals')}, {report['seconds']}s")
    for f in report["failures"]:
        print(f"FAIL: {f}")
    print("faults: OK" if report["ok"] else "faults: FAILED", flush=True)


if __name__ == "__main__":
    # SIGTERM (CI cancelling) unwinds through main's `finally`: the app, proxies and services stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
