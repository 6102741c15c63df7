#!/usr/bin/env python3
"""CPU accounting for one bench phase: prints a JSON snapshot of cumulative CPU ticks.

    cpu.py SERVER_PID BENCH_DB REDIS_PIDFILE [PGDATA]   a snapshot (JSON)
    cpu.py delta SNAPSHOT_A SNAPSHOT_B                   ticks spent between two snapshots (JSON)

`machine_busy` is every CPU's non-idle time (/proc/stat), so `machine_busy` minus the parts we
know (server, PostgreSQL, Redis, wrk) is what other processes on the machine took during the
phase (e.g. someone else's build). PostgreSQL is every child of the cluster's postmaster (its
pid from PGDATA/postmaster.pid: the bench's backends and the WAL writer, checkpointer, …), as
the throwaway cluster serves only the bench while it runs; without PGDATA, the backends whose
title (`postgres: user DATABASE host(port) state`) names BENCH_DB. A process's delta counts
only if it is alive at the second snapshot (one that exits takes its ticks with it), from 0 if
it was born between. `at` is when the counters were read: on a saturated machine this script
takes a second or more, so callers time intervals by it, not by when they started it.
"""

import json
import os
import sys
import time


def ticks(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def parent(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def main() -> None:
    if sys.argv[1] == "delta":
        a, b = json.loads(sys.argv[2]), json.loads(sys.argv[3])
        pg_a = a.get("postgres_pids", {})
        out = {k: b[k] - a[k] for k in ("machine_busy", "server", "redis")}
        out["seconds"] = round(b.get("at", 0) - a.get("at", 0), 3)
        out["postgres"] = sum(t - pg_a.get(pid, 0) for pid, t in b.get("postgres_pids", {}).items())
        print(json.dumps(out))
        return
    server_pid, bench_db, redis_pidfile = sys.argv[1:4]
    postmaster = None
    if len(sys.argv) > 4 and sys.argv[4]:
        try:
            with open(os.path.join(sys.argv[4], "postmaster.pid"), encoding="utf-8") as f:
                postmaster = f.readline().strip()
        except OSError:
            postmaster = None
    # Find the processes first, then read every counter at once: on a saturated machine this
    # script runs slowly, and counters read seconds apart do not add up.
    pg_pids: list[str] = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not title.startswith("postgres: "):
            continue
        if (parent(pid) == postmaster) if postmaster is not None else (f" {bench_db} " in title):
            pg_pids.append(pid)
    try:
        with open(redis_pidfile, encoding="utf-8") as f:
            redis_pid = f.read().strip()
    except OSError:
        redis_pid = ""
    at = time.time()
    with open("/proc/stat", encoding="utf-8") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)
    pg = {pid: ticks(pid) for pid in pg_pids}
    redis = ticks(redis_pid) if redis_pid else 0
    print(json.dumps({
        "at": at,
        "machine_busy": sum(cpu[:8]) - idle,
        "server": ticks(server_pid),
        "postgres_pids": pg,
        "redis": redis,
    }))


if __name__ == "__main__":
    main()
