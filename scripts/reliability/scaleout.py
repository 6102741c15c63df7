#!/usr/bin/env python3
"""Scale-out suite: three instances of the release build on different ports over one PostgreSQL
and one Redis, with load spread across them.

Asserts:
- every triggered order is filled exactly once although every instance runs an execution engine
  (one fill row per order, filled quantity = ordered quantity, one fill activity per order);
- one rate-limit budget is shared: the login limit counts attempts made on any instance;
- a logout on one instance ends the session on the others at once;
- an SSE stream resumed on another instance with Last-Event-ID gets exactly the missed events;
- `brokerage check-invariants` finds the book sound.
Writes target/reliability/scaleout.json; exits non-zero on any violation.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
import uuid
from decimal import ROUND_DOWN, Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PASSWORD, REPO, Customer, Server, all_pages, base_env, call, check_invariants,  # noqa: E402
                     free_port, fresh_database, psql)

OUT = os.path.join(REPO, "target", "reliability")
ORDERS = int(os.environ.get("SCALEOUT_ORDERS", "60"))


def instances(db: str, redis: str, tag: str, extra: dict[str, str]) -> list[Server]:
    secret, key = "scaleout-jwt-secret-" + uuid.uuid4().hex, os.urandom(32).hex()
    servers = []
    for i in range(3):
        env = base_env(db, redis, free_port(), secret, key)
        env["BROKERAGE__TRADING__ENGINE_INTERVAL_MS"] = "100"
        env.update(extra)
        servers.append(Server(env, os.path.join(OUT, f"scaleout-{tag}-{i}.log")))
    for s in servers:
        s.start()
    return servers


def sse_events(base: str, token: str, last_event_id: str | None, want: int, timeout: float = 20.0) -> list[tuple[str, str, dict]]:
    """Reads `want` events from GET /api/v1/events, then disconnects: (id, event, data)."""
    req = urllib.request.Request(base + "/api/v1/events")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "text/event-stream")
    if last_event_id is not None:
        req.add_header("Last-Event-ID", last_event_id)
    events: list[tuple[str, str, dict]] = []
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        fields: dict[str, str] = {}
        while len(events) < want and time.monotonic() < deadline:
            line = resp.readline()
            if not line:
                break
            text = line.decode().rstrip("\r\n")
            if text == "":
                if "data" in fields:
                    events.append((fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])))
                fields = {}
            elif not text.startswith(":"):
                name, _, value = text.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
    return events


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    admin, redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not admin or not redis:
        print("scaleout: DATABASE_URL and REDIS_URL must be set", file=sys.stderr)
        return 2
    problems: list[str] = []
    result: dict[str, object] = {}
    with fresh_database(admin, "scaleout") as db:
        servers = instances(db, redis, "engine", {})
        bases = [s.base for s in servers]
        try:
            # --- each triggered order filled once, with three engines racing for it
            customers = [Customer.register(bases[i % 3], "scale") for i in range(6)]
            status, quote, _ = call(bases[0], "GET", "/api/v1/market-data/quotes/AAPL", token=customers[0].token)
            if status != 200 or not isinstance(quote, dict):
                raise RuntimeError(f"quote answered {status}: {quote}")
            # A buy stop below the ask is triggered by the next engine pass (stops never fill at
            # placement), so every instance's engine sees every order at about the same time.
            stop = (Decimal(quote["ask"]) * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
            placed: list[tuple[int, str]] = []
            lock = threading.Lock()

            def place(n: int) -> None:
                who = n % len(customers)
                body = {"symbol": "AAPL", "side": "buy", "type": "stop", "qty": "1", "stop_price": str(stop), "time_in_force": "gtc"}
                status, order, _ = call(bases[n % 3], "POST", "/api/v1/orders", body, customers[who].token,
                                        {"Idempotency-Key": str(uuid.uuid4())})
                if status != 201 or not isinstance(order, dict):
                    problems.append(f"placing a stop answered {status}: {order}")
                    return
                with lock:
                    placed.append((who, order["id"]))

            threads = [threading.Thread(target=place, args=(n,)) for n in range(ORDERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deadline = time.monotonic() + 30
            unfilled = list(placed)
            while unfilled and time.monotonic() < deadline:
                time.sleep(0.3)
                still = []
                for who, oid in unfilled:
                    status, order, _ = call(bases[0], "GET", f"/api/v1/orders/{oid}", token=customers[who].token)
                    if status != 200 or order.get("status") != "filled":
                        still.append((who, oid))
                unfilled = still
            if unfilled:
                problems.append(f"{len(unfilled)} triggered orders were never filled")
            fills_per_order = psql(db, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM fills GROUP BY order_id) f")
            fill_rows = int(psql(db, "SELECT count(*) FROM fills"))
            fill_activities = 0
            for c in customers:
                fill_activities += sum(1 for a in all_pages(bases[1], "/api/v1/account/activities?type=fill", c.token))
            if int(fills_per_order) != 1 or fill_rows != len(placed) or fill_activities != len(placed):
                problems.append(f"{len(placed)} orders: {fill_rows} fill rows, {fill_activities} fill activities, "
                                f"at most {fills_per_order} fills per order")
            # Which instance's engine booked the fills (from each one's Prometheus counter).
            per_instance = {}
            for i, s in enumerate(servers):
                _, _, raw = call(s.base, "GET", "/metrics")
                per_instance[f"instance_{i}"] = sum(
                    int(float(line.rsplit(" ", 1)[1]))
                    for line in raw.decode(errors="replace").splitlines()
                    if line.startswith("brokerage_engine_fills_total")
                )
            if sum(per_instance.values()) != len(placed):
                problems.append(f"engine fill counters {per_instance} do not add up to {len(placed)} orders")
            result.update(orders_triggered=len(placed), fill_rows=fill_rows, fill_activities=fill_activities,
                          engine_fills_per_instance=per_instance)

            # --- a logout on one instance is honoured by the others
            c = customers[0]
            c.login(bases[0])
            before = [call(b, "GET", "/api/v1/account", token=c.token)[0] for b in bases]
            status, _, _ = call(bases[2], "POST", "/api/v1/auth/logout", token=c.token)
            after = [call(b, "GET", "/api/v1/account", token=c.token)[0] for b in bases]
            if before != [200, 200, 200] or status != 204 or after != [401, 401, 401]:
                problems.append(f"logout across instances: before {before}, logout {status}, after {after}")
            result["logout_honoured_by"] = sum(1 for s in after if s == 401)

            # --- SSE resumed on another instance gets exactly the missed events
            c = customers[1]
            c.login(bases[0])
            limit = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00", "time_in_force": "gtc"}
            got: list[tuple[str, str, dict]] = []
            reader = threading.Thread(target=lambda: got.extend(sse_events(bases[0], c.token, None, 3)))
            reader.start()
            time.sleep(1.0)
            for i in range(3):
                call(bases[1], "POST", "/api/v1/orders", limit, c.token)
            reader.join()
            if len(got) != 3:
                problems.append(f"live SSE on instance 0 got {len(got)} of 3 events")
            missed_ids = []
            for i in range(4):
                status, order, _ = call(bases[2], "POST", "/api/v1/orders", limit, c.token)
                missed_ids.append(order.get("id") if isinstance(order, dict) else None)
            last = got[-1][0] if got else "0"
            resumed = sse_events(bases[1], c.token, last, 4)
            resumed_orders = [e[2].get("order", {}).get("id") for e in resumed]
            cursors = [int(e[0]) for e in got + resumed if e[0].isdigit()]
            if resumed_orders != missed_ids or cursors != list(range(cursors[0], cursors[0] + len(cursors))):
                problems.append(f"SSE resume on instance 1 after {last}: got {resumed_orders} cursors {cursors}, wanted {missed_ids}")
            result["sse_events_live"], result["sse_events_resumed"] = len(got), len(resumed)
        finally:
            for s in servers:
                s.stop()

        # --- one rate-limit budget: the login limit counts attempts on every instance
        servers = instances(db, redis, "limits", {
            "BROKERAGE__RATE_LIMIT__ENABLED": "true",
            "BROKERAGE__RATE_LIMIT__LOGIN_LIMIT": "6",
            "BROKERAGE__RATE_LIMIT__KEY_PREFIX": f"scaleout-{uuid.uuid4().hex[:8]}:",
        })
        try:
            email = f"limit-{uuid.uuid4().hex[:8]}@example.com"
            call(servers[0].base, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
            statuses = [call(servers[i % 3].base, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})[0]
                        for i in range(9)]
            allowed = sum(1 for s in statuses if s == 200)
            if allowed != 6 or statuses[6:] != [429, 429, 429]:
                problems.append(f"login limit 6 across three instances: answers {statuses}")
            result["logins_allowed_of_9_across_3_instances"] = allowed
        finally:
            for s in servers:
                s.stop()

        clean, report = check_invariants(db)
        if not clean:
            problems.append("invariant violations:\n" + report)
        result["invariant_violations"] = 0 if clean else len(report.splitlines())

    result["problems"] = problems
    with open(os.path.join(OUT, "scaleout.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "problems"}))
    for p in problems:
        print("scaleout: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
