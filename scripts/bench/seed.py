#!/usr/bin/env python3
"""Seeds the bench server through its public API (Python 3 standard library only).

For each of N users: POST /api/v1/auth/register, POST /api/v1/auth/login (access token),
POST /api/v1/account/deposits {"amount": "1000000"}. Writes one line per user,
`access_token<TAB>email<TAB>password`, to --out (read by scripts/bench/wrk.lua), then checks
that every request shape the load phases send answers 2xx once, so a wrong body fails here
loudly instead of as a phase full of errors.
"""

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def call(base: str, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def expect(what: str, status: int, body: object, ok: tuple[int, ...] = (200, 201)) -> None:
    if status not in ok:
        sys.exit(f"seed: {what} answered {status}: {str(body)[:300]}")


def seed_one(base: str, run: str, i: int) -> tuple[str, str, str]:
    email = f"bench-{run}-{i}@example.com"
    password = f"Bench-{secrets.token_hex(8)}-pw"
    status, body = call(base, "POST", "/api/v1/auth/register", {"email": email, "password": password})
    expect(f"register {email}", status, body)
    status, body = call(base, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    expect(f"login {email}", status, body)
    assert isinstance(body, dict)
    token = body["access_token"]
    status, body = call(base, "POST", "/api/v1/account/deposits", {"amount": "1000000"}, token)
    expect(f"deposit {email}", status, body)
    return token, email, password


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--out", required=True)
    ap.add_argument("--parallel", type=int, default=8)
    args = ap.parse_args()
    run = secrets.token_hex(3)
    started = time.monotonic()
    with ThreadPoolExecutor(args.parallel) as pool:
        users = list(pool.map(lambda i: seed_one(args.base, run, i), range(args.users)))
    with open(args.out, "w", encoding="utf-8") as f:
        for token, email, password in users:
            f.write(f"{token}\t{email}\t{password}\n")

    # One of each request the load phases send, checked once.
    token = users[0][0]
    order = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00", "time_in_force": "gtc"}
    for what, method, path, body in [
        ("quote", "GET", "/api/v1/market-data/quotes/AAPL", None),
        ("account", "GET", "/api/v1/account", None),
        ("order", "POST", "/api/v1/orders", order),
        ("orders list", "GET", "/api/v1/orders?limit=50", None),
    ]:
        status, answer = call(args.base, method, path, body, token)
        expect(what, status, answer)
        if what == "order" and isinstance(answer, dict) and answer.get("status") != "new":
            sys.exit(f"seed: the bench order did not rest (status {answer.get('status')}): {answer}")
    print(f"seed: {args.users} users registered, logged in and funded in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
