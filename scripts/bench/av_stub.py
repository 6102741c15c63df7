#!/usr/bin/env python3
"""A local stand-in for Alpha Vantage's GLOBAL_QUOTE endpoint, for `make bench` only.

The bench server runs with `market_data.provider = alpha_vantage` pointed here, so quotes go
through the production path (Redis quote cache in front of the HTTP provider) and the quote
phase measures cache hits: the first request fills the cache, the rest never reach this stub.
Prints the port it listens on (127.0.0.1, chosen by the OS) to --port-file, then serves until
killed. Counts the calls it answered in --calls-file (one line per call) so the report can
show how many requests missed the cache.
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PRICE = "219.7800"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--calls-file", required=True)
    args = ap.parse_args()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            q = parse_qs(urlparse(self.path).query)
            symbol = (q.get("symbol") or [""])[0].upper()
            function = (q.get("function") or [""])[0]
            with lock, open(args.calls_file, "a", encoding="utf-8") as f:
                f.write(f"{function} {symbol}\n")
            if function == "GLOBAL_QUOTE" and symbol:
                body = {"Global Quote": {"01. symbol": symbol, "05. price": PRICE, "07. latest trading day": "2026-11-25"}}
            else:
                body = {"Error Message": "Invalid API call (bench stub)"}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *a: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file, "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
