#!/usr/bin/env python3
"""Crash suite: a mixed load (deposits, withdrawals, orders, cancels) against the release build on
PostgreSQL + Redis while the server is killed with SIGKILL and restarted several times.

Asserts afterwards:
- every request that got a 2xx is in the database (activities, orders, cancels);
- retrying every request with its Idempotency-Key (those cut off by a crash included) yields
  exactly one effect per key: the account holds one activity / order per key that succeeded;
- an acknowledged request retried with its key replays the first answer byte for byte;
- `brokerage check-invariants` finds the book sound (ledger balanced, cash and shares conserved,
  holds and fills consistent).
Writes target/reliability/crash.json; exits non-zero on any violation.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REPO, Customer, Server, all_pages, base_env, call, check_invariants,  # noqa: E402
                     free_port, fresh_database)

CUSTOMERS = int(os.environ.get("CRASH_CUSTOMERS", "8"))
THREADS = int(os.environ.get("CRASH_THREADS", "6"))
CRASHES = int(os.environ.get("CRASH_KILLS", "4"))
SECONDS_BETWEEN_KILLS = float(os.environ.get("CRASH_INTERVAL", "3"))
OUT = os.path.join(REPO, "target", "reliability")


class Op:
    def __init__(self, who: int, kind: str, method: str, path: str, body: object | None, key: str | None):
        self.who, self.kind, self.method, self.path, self.body, self.key = who, kind, method, path, body, key
        self.status = 0
        self.response: object = None
        self.raw = b""
        self.first_ack: tuple[int, bytes] | None = None

    def send(self, base: str, token: str) -> None:
        headers = {"Idempotency-Key": self.key} if self.key else None
        self.status, self.response, self.raw = call(base, self.method, self.path, self.body, token, headers, timeout=10)
        if 200 <= self.status < 300 and self.first_ack is None:
            self.first_ack = (self.status, self.raw)


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    admin = os.environ.get("DATABASE_URL")
    redis = os.environ.get("REDIS_URL")
    if not admin or not redis:
        print("crash: DATABASE_URL and REDIS_URL must be set (make test-reliability provides them)", file=sys.stderr)
        return 2
    problems: list[str] = []
    with fresh_database(admin, "crash") as db:
        env = base_env(db, redis, free_port(), "crash-suite-jwt-secret-" + uuid.uuid4().hex, os.urandom(32).hex())
        # A request cut off by a crash holds its key this long; retries wait it out.
        env["BROKERAGE__IDEMPOTENCY__LOCK_SECS"] = "2"
        server = Server(env, os.path.join(OUT, "crash-server.log"))
        ready = [server.start()]
        customers = [Customer.register(server.base, "crash") for _ in range(CUSTOMERS)]
        ops: list[Op] = []
        resting: list[tuple[int, str]] = []
        lock = threading.Lock()
        stop = threading.Event()
        rng = random.Random(20261125)

        def worker(seed: int) -> None:
            r = random.Random(seed)
            while not stop.is_set():
                who = r.randrange(CUSTOMERS)
                pick = r.random()
                if pick < 0.3:
                    op = Op(who, "deposit", "POST", "/api/v1/account/deposits", {"amount": str(r.randint(1, 100))}, str(uuid.uuid4()))
                elif pick < 0.45:
                    op = Op(who, "withdrawal", "POST", "/api/v1/account/withdrawals", {"amount": str(r.randint(1, 20))}, str(uuid.uuid4()))
                elif pick < 0.75:
                    order = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00", "time_in_force": "gtc"}
                    op = Op(who, "order", "POST", "/api/v1/orders", order, str(uuid.uuid4()))
                elif pick < 0.85:
                    order = {"symbol": "MSFT", "side": "buy", "type": "market", "qty": "0.01"}
                    op = Op(who, "order", "POST", "/api/v1/orders", order, str(uuid.uuid4()))
                else:
                    with lock:
                        mine = [i for i, (w, _) in enumerate(resting) if w == who]
                        target = resting.pop(mine[0])[1] if mine else None
                    if target is None:
                        continue
                    op = Op(who, "cancel", "DELETE", f"/api/v1/orders/{target}", None, None)
                op.send(server.base, customers[who].token)
                with lock:
                    ops.append(op)
                    if op.kind == "order" and op.status == 201 and isinstance(op.response, dict) and op.response.get("status") == "new":
                        resting.append((who, op.response["id"]))
                if op.status == 0:
                    time.sleep(0.05)  # the server is down: do not spin

        threads = [threading.Thread(target=worker, args=(rng.random(),)) for _ in range(THREADS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for _ in range(CRASHES):
            time.sleep(SECONDS_BETWEEN_KILLS * (0.5 + rng.random()))
            server.kill9()
            time.sleep(0.3)
            ready.append(server.start())
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        load_seconds = time.monotonic() - started

        # Every request without a final answer (cut off, or its key still held) is retried with
        # its key until it has one.
        deadline = time.monotonic() + 60
        pending = [op for op in ops if op.key and (op.status == 0 or op.status in (409, 503))]
        cut_off = len([op for op in ops if op.status == 0])
        while pending and time.monotonic() < deadline:
            for op in pending:
                op.send(server.base, customers[op.who].token)
            pending = [op for op in pending if op.status == 0 or op.status in (409, 503)]
            if pending:
                time.sleep(0.5)
        if pending:
            problems.append(f"{len(pending)} requests never got a final answer after the crashes")

        # Acknowledged requests replay their first answer byte for byte.
        replay_mismatch = 0
        for op in ops:
            if op.key and op.first_ack:
                status, _, raw = call(server.base, op.method, op.path, op.body, customers[op.who].token,
                                      {"Idempotency-Key": op.key})
                if (status, raw) != op.first_ack:
                    replay_mismatch += 1
                    if replay_mismatch <= 3:
                        problems.append(f"{op.kind} {op.key}: replay answered {status} {raw[:200]!r}, first {op.first_ack[0]} {op.first_ack[1][:200]!r}")
        if replay_mismatch:
            problems.append(f"{replay_mismatch} acknowledged requests did not replay byte for byte")

        # What the database holds, per customer.
        lost = 0
        double = 0
        for i, c in enumerate(customers):
            activities = all_pages(server.base, "/api/v1/account/activities", c.token)
            orders = all_pages(server.base, "/api/v1/orders?status=all", c.token)
            activity_ids = {a["id"] for a in activities}
            order_by_id = {o["id"]: o for o in orders}
            mine = [op for op in ops if op.who == i]
            for op in mine:
                if not (200 <= op.status < 300) or not isinstance(op.response, dict):
                    continue
                if op.kind in ("deposit", "withdrawal") and op.response["id"] not in activity_ids:
                    lost += 1
                    problems.append(f"acknowledged {op.kind} {op.response['id']} is missing")
                if op.kind == "order" and op.response["id"] not in order_by_id:
                    lost += 1
                    problems.append(f"acknowledged order {op.response['id']} is missing")
                if op.kind == "cancel" and order_by_id.get(op.response["id"], {}).get("status") != "canceled":
                    lost += 1
                    problems.append(f"acknowledged cancel of {op.response['id']} is not canceled")
            for kind, count in (("deposit", sum(1 for a in activities if a["type"] == "deposit") - 1),
                                ("withdrawal", sum(1 for a in activities if a["type"] == "withdrawal")),
                                ("order", len(orders))):
                keys = {op.key for op in mine if op.kind == kind and 200 <= op.status < 300}
                if count != len(keys):
                    double += abs(count - len(keys))
                    problems.append(f"customer {i}: {count} {kind}s stored for {len(keys)} successful keys")

        clean, report = check_invariants(db)
        if not clean:
            problems.append("invariant violations:\n" + report)
        exit_code = server.stop()

    acked = sum(1 for op in ops if 200 <= op.status < 300)
    result = {
        "requests": len(ops),
        "acknowledged": acked,
        "crashes": CRASHES,
        "cut_off_by_a_crash": cut_off,
        "load_seconds": round(load_seconds, 1),
        "ready_seconds_after_restart_max": round(max(ready[1:] or [0.0]), 3),
        "acknowledged_writes_lost": lost,
        "duplicate_effects": double,
        "replay_mismatches": replay_mismatch,
        "invariant_violations": 0 if clean else len(report.splitlines()),
        "final_exit_code": exit_code,
        "problems": problems,
    }
    with open(os.path.join(OUT, "crash.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "problems"}))
    for p in problems[:20]:
        print("crash: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
