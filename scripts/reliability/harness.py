"""Shared pieces of the reliability suites (Python 3 standard library only).

- `call`: one HTTP request, answering (status, parsed body, raw bytes); connection failures
  answer status 0, so a suite can tell "no answer" (outcome unknown) from an answer.
- `Server`: the release binary started with a given environment, waited for until ready,
  stopped gracefully or killed with SIGKILL.
- `fresh_database`: a database of its own on the throwaway PostgreSQL server, dropped at exit.
- `Customer`: a registered, logged-in, funded user.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("BROKERAGE_BIN", os.path.join(REPO, "target", "release", "brokerage"))
PASSWORD = "reliability-Suite-pw-2026"


def call_with_headers(base: str, method: str, path: str, body: object = None, token: str | None = None,
                      headers: dict[str, str] | None = None,
                      timeout: float = 30.0) -> tuple[int, object, bytes, dict[str, str]]:
    """Like `call`, plus the answer's headers (names lower-cased); status 0 and no headers when
    there was no answer (refused, reset, or nothing within `timeout`)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status, got = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as e:
        raw, status, got = e.read(), e.code, e.headers
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout, OSError,
            http.client.HTTPException):
        return 0, None, b"", {}
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, parsed, raw, {k.lower(): v for k, v in got.items()}


def call(base: str, method: str, path: str, body: object = None, token: str | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, object, bytes]:
    """One request: (status, parsed body, raw body); status 0 when there was no answer."""
    status, parsed, raw, _ = call_with_headers(base, method, path, body, token, headers, timeout)
    return status, parsed, raw


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(admin_url: str, sql: str) -> str:
    out = subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class fresh_database:
    """`with fresh_database(url) as db_url:` a new database on the same server, dropped after."""

    def __init__(self, admin_url: str, prefix: str):
        self.admin_url = admin_url
        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        parts = urllib.parse.urlsplit(admin_url)
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))

    def __enter__(self) -> str:
        psql(self.admin_url, f'CREATE DATABASE "{self.name}"')
        return self.url

    def __exit__(self, *exc: object) -> None:
        try:
            psql(self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except subprocess.CalledProcessError:
            pass


def base_env(database_url: str | None, redis_url: str | None, port: int, jwt_secret: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKERAGE__")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update({
        "BROKERAGE__HTTP__HOST": "127.0.0.1",
        "BROKERAGE__HTTP__PORT": str(port),
        "BROKERAGE__RATE_LIMIT__ENABLED": "false",
        "BROKERAGE__AUTH__JWT_SECRET": jwt_secret,
        "BROKERAGE__SECURITY__ENCRYPTION_KEY": key,
        "BROKERAGE__LOG__FILTER": "warn",
    })
    return env


@dataclass
class Server:
    env: dict[str, str]
    log_path: str
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def port(self) -> int:
        return int(self.env["BROKERAGE__HTTP__PORT"])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60.0) -> float:
        """Starts the server; returns the seconds until /health/ready answered 200."""
        log = open(self.log_path, "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen([BINARY, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        while time.monotonic() - started < wait:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            status, _, _ = call(self.base, "GET", "/health/ready", timeout=2)
            if status == 200:
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {wait}s; see {self.log_path}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode if self.proc else None


@dataclass
class Customer:
    email: str
    token: str
    acked: list = field(default_factory=list)

    @staticmethod
    def register(base: str, tag: str, deposit: str | None = "100000") -> "Customer":
        email = f"{tag}-{secrets.token_hex(5)}@example.com"
        status, body, _ = call(base, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
        if status != 201:
            raise RuntimeError(f"register answered {status}: {body}")
        customer = Customer(email, "")
        customer.login(base)
        if deposit:
            status, body, _ = call(base, "POST", "/api/v1/account/deposits", {"amount": deposit}, customer.token)
            if status != 201:
                raise RuntimeError(f"deposit answered {status}: {body}")
        return customer

    def login(self, base: str) -> None:
        status, body, _ = call(base, "POST", "/api/v1/auth/login", {"email": self.email, "password": PASSWORD})
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"login answered {status}: {body}")
        self.token = body["access_token"]


def all_pages(base: str, path: str, token: str) -> list[dict]:
    """Every item of a paged list endpoint."""
    items: list[dict] = []
    after = None
    sep = "&" if "?" in path else "?"
    while True:
        url = f"{path}{sep}limit=500" + (f"&after={after}" if after else "")
        status, body, _ = call(base, "GET", url, token=token)
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"GET {url} answered {status}: {body}")
        items.extend(body["data"])
        after = body.get("next_cursor")
        if not after:
            return items


def check_invariants(database_url: str) -> tuple[bool, str]:
    """Runs `brokerage check-invariants` against the database: (clean?, its output)."""
    env = dict(os.environ, DATABASE_URL=database_url)
    env.pop("REDIS_URL", None)
    out = subprocess.run([BINARY, "check-invariants"], env=env, capture_output=True, text=True)
    return out.returncode == 0, (out.stdout + out.stderr).strip()
