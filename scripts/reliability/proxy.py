"""A fault-injecting TCP proxy (Python 3 standard library only), switchable at run time.

    proxy = FaultProxy(listen_port, upstream_port).start()   # runs its own asyncio loop in a thread
    proxy.set_mode("latency", 200)   # every chunk from the upstream is delayed 200 ms (+200 ms per round trip)
    proxy.set_mode("reset")          # every open connection gets a TCP RST; new ones are accepted and RST at once
    proxy.set_mode("hang")           # connections stay open but nothing is forwarded; new ones are accepted, then silence
    proxy.set_mode("pass")           # plain forwarding (connections stalled by "hang" are reset first:
                                     #   a partition that heals leaves dead connections behind, not late bytes)
    proxy.stop()

Run as a program (`python3 proxy.py LISTEN_PORT UPSTREAM_PORT`) it reads modes from stdin, one per
line (`pass`, `latency 200`, `reset`, `hang`), for poking at a server by hand.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading

MODES = ("pass", "latency", "reset", "hang")
CHUNK = 65536


def _rst(writer: asyncio.StreamWriter) -> None:
    """Closes with a TCP RST (SO_LINGER 0), not a FIN: the peer sees 'connection reset'."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class _Conn:
    def __init__(self, client: asyncio.StreamWriter):
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task] = []
        self.stalled = False  # saw "hang": reset when the hang ends

    def kill(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                _rst(w)
        for t in self.tasks:
            t.cancel()


class FaultProxy:
    def __init__(self, listen_port: int, upstream_port: int, host: str = "127.0.0.1", name: str = "proxy"):
        self.listen_port = listen_port
        self.upstream_port = upstream_port
        self.host = host
        self.name = name
        self.mode = "pass"
        self.latency_ms = 0
        self.faults = 0          # mode switches away from "pass"
        self.connections = 0     # accepted client connections
        self.resets = 0          # connections reset by the proxy
        self._conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---------------------------------------------------------------- control (any thread)

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-loop", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise RuntimeError(f"{self.name}: cannot listen on {self.listen_port}: {self._error}")
        return self

    def set_mode(self, mode: str, latency_ms: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        assert self._loop is not None
        done = threading.Event()

        def apply() -> None:
            self._apply(mode, latency_ms)
            done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(5)

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            if self._server:
                self._server.close()
            for c in list(self._conns):
                c.kill()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        try:
            fut.result(5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)

    # ---------------------------------------------------------------- the loop's side

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, self.host, self.listen_port, reuse_address=True))
        except OSError as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _apply(self, mode: str, latency_ms: int) -> None:
        previous = self.mode
        if mode != "pass" and (mode != previous or latency_ms != self.latency_ms):
            self.faults += 1
        self.mode, self.latency_ms = mode, latency_ms
        if mode == "reset":
            for c in list(self._conns):
                self.resets += 1
                c.kill()
        elif previous == "hang" and mode != "hang":
            for c in list(self._conns):
                if c.stalled:
                    self.resets += 1
                    c.kill()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            if self.mode == "reset":
                self.resets += 1
                _rst(writer)
                return
            while self.mode == "hang":
                conn.stalled = True
                await asyncio.sleep(0.05)
            if conn.stalled:  # the hang ended while we waited: _apply reset it
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
            except OSError:
                _rst(writer)  # upstream down: the client sees a refused/reset connection
                return
            conn.upstream = up_writer
            conn.tasks = [
                asyncio.ensure_future(self._pump(conn, reader, up_writer, delay=False)),
                asyncio.ensure_future(self._pump(conn, up_reader, writer, delay=True)),
            ]
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        finally:
            self._conns.discard(conn)
            for w in (conn.client, conn.upstream):
                if w is not None and not w.is_closing():
                    w.close()

    async def _pump(self, conn: _Conn, src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: bool) -> None:
        try:
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                while self.mode == "hang":
                    conn.stalled = True
                    await asyncio.sleep(0.05)
                if conn.stalled:
                    return
                if delay and self.mode == "latency" and self.latency_ms > 0:
                    await asyncio.sleep(self.latency_ms / 1000)
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side finished: half-close the other so the peer sees EOF (not a stall).
            try:
                if dst.can_write_eof() and not dst.is_closing():
                    dst.write_eof()
            except OSError:
                pass


def main() -> None:
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    proxy = FaultProxy(listen, upstream).start()
    print(f"proxy 127.0.0.1:{listen} -> 127.0.0.1:{upstream}; modes: pass | latency MS | reset | hang", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            proxy.set_mode(parts[0], int(parts[1]) if len(parts) > 1 else 0)
            print(f"mode {proxy.mode} {proxy.latency_ms or ''}".rstrip(), flush=True)
        except ValueError as e:
            print(e, flush=True)
    proxy.stop()


if __name__ == "__main__":
    main()
