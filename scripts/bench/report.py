#!/usr/bin/env python3
"""Turns the raw output of scripts/bench/run.sh into target/bench/results.json, a table on
standard output, and the generated section of docs/benchmarks.md (between the
`<!-- bench:results:begin -->` and `<!-- bench:results:end -->` markers; the rest of the
document is left as written). Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"

PHASES = [
    ("order", "POST /api/v1/orders (limit buy, rests)"),
    ("account", "GET /api/v1/account"),
    ("orders_list", "GET /api/v1/orders?limit=50"),
    ("quote", "GET /api/v1/market-data/quotes/AAPL (cache hit)"),
    ("login", "POST /api/v1/auth/login (argon2id)"),
    ("order_calm", "POST /api/v1/orders alone, between the storm's rounds"),
    ("order_storm", "POST /api/v1/orders during the login storm"),
    ("login_storm", "POST /api/v1/auth/login, the storm itself"),
]
# Phases run in rounds (NAME.1.json, NAME.2.json, ...: the storm's calm and storm slices,
# interleaved; order placement and the account read, each round followed by its pgbench slice):
# merged into one phase, with each round's p99 and throughput kept for the rise and the ratios.
ROUNDS_OF = ("order_calm", "order_storm", "login_storm", "order", "account")
CEILINGS = [("order", "order placement transaction"), ("account", "account primary-key read")]
CRITERION = [
    ("jwt_verify", "JWT verify, first sight (JwtIssuer::verify, HS256)"),
    ("jwt_verify_repeat", "JWT verify, the same token again (remembered)"),
    ("jwt_issue", "JWT issue (JwtIssuer::issue)"),
    ("order_parse_and_submit", "OrderSpec::parse + Order::submitted"),
    ("settlement_reserve_fill", "settlement::reserve + settlement::fill"),
    ("trigger_evaluate", "triggers::evaluate (fill decision, trailing stop)"),
    ("ledger_postings", "ledger::postings + is_balanced (a fill's journal entry)"),
]


def load(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return percentile(sorted(values), 50)


def numbered(read: Callable[[int], dict | None]) -> list[dict]:
    """read(1), read(2), ... up to the first round that is missing."""
    out = []
    while (r := read(len(out) + 1)) is not None:
        out.append(r)
    return out


def rounds(raw: str, name: str) -> list[dict]:
    return numbered(lambda i: load(os.path.join(raw, f"{name}.{i}.json")))


def merged_rounds(raw: str, name: str) -> dict | None:
    """The rounds of a phase as one wrk result: counts summed; p50/p90/p99/mean the median of
    the rounds' values (wrk keeps no histogram to merge), max the largest."""
    rs = rounds(raw, name)
    if not rs:
        return None
    out = {k: sum(r[k] for r in rs) for k in ("requests", "duration_us", "bytes", "connect_errors",
                                                "read_errors", "write_errors", "status_errors", "timeouts")}
    out |= {k: median([r[k] for r in rs]) for k in ("p50_us", "p90_us", "p99_us", "mean_us")}
    out["max_us"] = max(r["max_us"] for r in rs)
    out["rounds_p99_us"] = [r["p99_us"] for r in rs]
    out["rounds_rps"] = [r["requests"] * 1e6 / r["duration_us"] if r["duration_us"] else 0.0 for r in rs]
    # Counters (CPU, transactions) taken around every round (NAME.1.counters.json, ...), summed.
    per_round = [load(os.path.join(raw, f"{name}.{i}.counters.json")) for i in range(1, len(rs) + 1)]
    if all(per_round):
        out["counters"] = summed_counters(per_round)
    return out


def summed_counters(cs: list[dict]) -> dict:
    """Counters of several runs as one: counts and CPU seconds summed, memory the largest."""
    out = {k: sum(c[k] for c in cs) for k in ("pg_xacts", "server_non2xx", "redis_cmds", "server_cpu_ticks")}
    out["cpu_s"] = {k: sum(c["cpu_s"][k] for c in cs) for k in cs[0]["cpu_s"]}
    out |= {k: max(c[k] for c in cs) for k in ("rss_hwm_kb", "rss_kb")}
    return out


def wrk_phase(raw: str, name: str, meta: dict) -> dict | None:
    w = load(os.path.join(raw, f"{name}.json"))
    if w is None and name in ROUNDS_OF:
        w = merged_rounds(raw, name)
    if w is None:
        return None
    secs = w["duration_us"] / 1e6
    n = w["requests"]
    socket_errors = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    out = {
        "requests": n,
        "seconds": round(secs, 2),
        "throughput_rps": round(n / secs, 1) if secs else 0.0,
        "p50_ms": round(w["p50_us"] / 1000, 2),
        "p90_ms": round(w["p90_us"] / 1000, 2),
        "p99_ms": round(w["p99_us"] / 1000, 2),
        "max_ms": round(w["max_us"] / 1000, 2),
        "socket_errors": socket_errors,
    }
    if "rounds_p99_us" in w:
        out["rounds"] = len(w["rounds_p99_us"])
        out["rounds_p99_ms"] = [round(v / 1000, 2) for v in w["rounds_p99_us"]]
        out["rounds_rps"] = [round(v, 1) for v in w["rounds_rps"]]
    c = w.get("counters") or load(os.path.join(raw, f"{name}.counters.json"))
    # Non-2xx answers: the server's own count for the run (3xx included) when the phase has
    # counters, never less than wrk's count of answers >= 400.
    non_2xx = w["status_errors"]
    if c is not None and "server_non2xx" in c:
        non_2xx = max(non_2xx, c["server_non2xx"])
    out["non_2xx"] = non_2xx
    out["errors"] = non_2xx + socket_errors
    if c is not None and n:
        out["pg_xacts_per_request"] = round(c["pg_xacts"] / n, 2)
        out["redis_cmds_per_request"] = round(c["redis_cmds"] / n, 2)
        out["server_cpu_ms_per_request"] = round(c["server_cpu_ticks"] * 1000 / meta.get("clk_tck", 100) / n, 3)
        out["server_cpu_cores"] = round(c["server_cpu_ticks"] / meta.get("clk_tck", 100) / secs, 2)
        if c.get("cpu_s"):
            out["postgres_cpu_ms_per_request"] = round(c["cpu_s"]["postgres"] * 1000 / n, 3)
        out["rss_hwm_mib"] = round(c["rss_hwm_kb"] / 1024, 1)
        cpu = c.get("cpu_s")
        if cpu and secs:
            known = cpu["server"] + cpu["postgres"] + cpu["redis"] + cpu["wrk"]
            out["cpu_cores"] = {
                "server": round(cpu["server"] / secs, 2),
                "postgres": round(cpu["postgres"] / secs, 2),
                "redis": round(cpu["redis"] / secs, 2),
                "wrk": round(cpu["wrk"] / secs, 2),
                "other": round(max(cpu["machine_busy"] - known, 0) / secs, 2),
                "machine_busy": round(cpu["machine_busy"] / secs, 2),
            }
    return out


def pgbench_round(raw: str, prefix: str) -> dict | None:
    """One pgbench run: its report (PREFIX.txt), latency log (PREFIX.log.*) and CPU."""
    try:
        with open(os.path.join(raw, f"{prefix}.txt"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    tps = re.search(r"tps = ([0-9.]+) \((?:without|excluding)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    lat = []
    for path in glob.glob(os.path.join(raw, f"{prefix}.log.*")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]) / 1000)
    lat.sort()
    c = load(os.path.join(raw, f"{prefix}.counters.json"))
    return {
        "tps": float(tps.group(1)) if tps else 0.0,
        "failed": int(failed.group(1)) if failed else 0,
        "transactions": len(lat),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "cores": (c or {}).get("cores"),
    }


def pgbench_phase(raw: str, name: str) -> dict | None:
    """The ceiling's rounds (pgbench-NAME.1, .2, ...) as one: tps the mean of the rounds' (they
    are equally long), p50/p99 the median of theirs, as for the app's rounds; CPU averaged."""
    rs = numbered(lambda i: pgbench_round(raw, f"pgbench-{name}.{i}"))
    if not rs:
        return None
    tps = sum(r["tps"] for r in rs) / len(rs)
    out_cpu = None
    cores = [r["cores"] for r in rs if r["cores"]]
    if cores:
        avg = {k: sum(c.get(k, 0.0) for c in cores) / len(cores) for k in cores[0]}
        out_cpu = {
            "postgres": round(avg["postgres"], 2),
            "pgbench": round(avg["pgbench"], 2),
            "server": round(avg["server"], 2),
            "other": round(max(avg["machine_busy"] - avg["postgres"] - avg["pgbench"] - avg["redis"]
                               - avg["server"], 0), 2),
            "machine_busy": round(avg["machine_busy"], 2),
        }
    return {
        "cpu_cores": out_cpu,
        "postgres_cpu_ms_per_tx": round(out_cpu["postgres"] * 1000 / tps, 3) if (out_cpu and tps) else None,
        "throughput_tps": round(tps, 1),
        "rounds_tps": [round(r["tps"], 1) for r in rs],
        "transactions": sum(r["transactions"] for r in rs),
        "p50_ms": round(median([r["p50_ms"] for r in rs]), 2),
        "p99_ms": round(median([r["p99_ms"] for r in rs]), 2),
        "rounds_p99_ms": [round(r["p99_ms"], 2) for r in rs],
        "failed": sum(r["failed"] for r in rs),
    }


def criterion(dir_: str) -> dict:
    out = {}
    for name, _ in CRITERION:
        est = load(os.path.join(dir_, name, "new", "estimates.json"))
        if est:
            out[name] = {"median_ns": round(est["median"]["point_estimate"], 1)}
    return out


def machine() -> dict:
    model, mem_kb = "unknown", 0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def round_ratios(app_rps: list, pg_tps: list) -> list | None:
    """Each app slice against the pgbench slice right after it, or None when they do not pair."""
    if app_rps and len(app_rps) == len(pg_tps) and all(pg_tps):
        return [round(a / b, 3) for a, b in zip(app_rps, pg_tps)]
    return None


def per_round(app_rps: list, pg_tps: list, ratios: list) -> str:
    return ", ".join(f"{fmt(a)} / {fmt(b)} ({r * 100:.0f} %)" for a, b, r in zip(app_rps, pg_tps, ratios))


def fmt(v: object, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--criterion", required=True)
    args = ap.parse_args()

    meta = load(os.path.join(args.raw, "meta.json")) or {}
    phases = {name: wrk_phase(args.raw, name, meta) for name, _ in PHASES}
    ceiling = {name: pgbench_phase(args.raw, name) for name, _ in CEILINGS}
    micro = criterion(args.criterion)
    # The app against its ceiling round by round (each app slice and the pgbench slice right
    # after it), the median of the rounds' ratios; the ratio of the totals is kept beside it.
    for name, _ in CEILINGS:
        p, c = phases.get(name), ceiling.get(name)
        if not (p and c and c["throughput_tps"]):
            continue
        p["ratio_of_totals_vs_pgbench"] = round(p["throughput_rps"] / c["throughput_tps"], 3)
        ratios = round_ratios(p.get("rounds_rps") or [], c["rounds_tps"])
        if ratios:
            p["rounds_ratio_vs_pgbench"] = ratios
            p["ratio_vs_pgbench"] = round(median(ratios), 3)
        else:
            p["ratio_vs_pgbench"] = p["ratio_of_totals_vs_pgbench"]

    # The stricter ceiling: pgbench with as many clients as the server held PostgreSQL
    # connections (run.sh's `order_at_pool`), against the same app rounds. Reported, not a target.
    at_pool = pgbench_phase(args.raw, "order_at_pool")
    p = phases.get("order")
    ratios = round_ratios((p or {}).get("rounds_rps") or [], at_pool["rounds_tps"]) if at_pool else None
    if at_pool and p and ratios:
        try:
            with open(os.path.join(args.raw, "order.server_pg_connections"), encoding="utf-8") as f:
                at_pool["clients"] = int(f.read().strip())
        except (OSError, ValueError):
            at_pool["clients"] = None
        p["rounds_ratio_vs_pgbench_at_pool"] = ratios
        p["ratio_vs_pgbench_at_pool"] = round(median(ratios), 3)
        ceiling["order_at_pool"] = at_pool

    def get(phase: str, key: str) -> float | None:
        p = phases.get(phase)
        return None if p is None else p.get(key)

    # The storm's rise: each round's storm p99 against the calm slice just before it (same
    # minute, same table sizes: this shared machine's speed drifts by tens of percent within a
    # run), the median of the rounds' rises. Against the order phase at the start, for reference.
    storm_rise = storm_rise_vs_order_phase = None
    calm, storm = get("order_calm", "rounds_p99_ms"), get("order_storm", "rounds_p99_ms")
    if calm and storm and len(calm) == len(storm) and all(calm):
        storm_rise = round(median([(s / c - 1) * 100 for c, s in zip(calm, storm)]), 1)
    if get("order", "p99_ms") and get("order_storm", "p99_ms") is not None:
        storm_rise_vs_order_phase = round((get("order_storm", "p99_ms") / get("order", "p99_ms") - 1) * 100, 1)
    rss_mib = round(meta.get("rss_hwm_kb", 0) / 1024, 1)
    total_errors = sum(p["errors"] for p in phases.values() if p)

    def target(name: str, measured: object, ok: bool | None, goal: str) -> dict:
        return {"target": name, "goal": goal, "measured": measured, "pass": ok}

    def ge(v: float | None, t: float) -> bool | None:
        return None if v is None else v >= t

    def le(v: float | None, t: float) -> bool | None:
        return None if v is None else v <= t

    targets = [
        target("order placement throughput", get("order", "ratio_vs_pgbench"), ge(get("order", "ratio_vs_pgbench"), 0.75),
               "≥ 75 % of the pgbench ceiling"),
        target("order placement p99", get("order", "p99_ms"), le(get("order", "p99_ms"), 25), "≤ 25 ms"),
        target("account read throughput", get("account", "ratio_vs_pgbench"), ge(get("account", "ratio_vs_pgbench"), 0.5),
               "≥ 50 % of the pgbench PK read"),
        target("account read p99", get("account", "p99_ms"), le(get("account", "p99_ms"), 10), "≤ 10 ms"),
        target("cached quote throughput", get("quote", "throughput_rps"), ge(get("quote", "throughput_rps"), 25000),
               "≥ 25,000 req/s"),
        target("cached quote p99", get("quote", "p99_ms"), le(get("quote", "p99_ms"), 5), "≤ 5 ms"),
        target("order p99 rise during login storm (%)", storm_rise, le(storm_rise, 25), "≤ +25 %"),
        target("server peak RSS (MiB, VmHWM)", rss_mib, le(rss_mib, 150), "≤ 150 MB"),
        target("ready after spawn (ms)", meta.get("ready_ms"), le(meta.get("ready_ms"), 1000), "≤ 1 s"),
        target("non-2xx and socket errors, all phases", total_errors, total_errors == 0, "0"),
        target("make bench wall time (s)", meta.get("total_s"), le(meta.get("total_s"), 600), "< 10 min"),
    ]

    results = {
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "setup": meta,
        "phases": phases,
        "pgbench": ceiling,
        "criterion": micro,
        "targets": targets,
        "storm_rise_vs_order_phase_pct": storm_rise_vs_order_phase,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    # ------------------------------------------------------------ markdown
    m = results["machine"]
    lines = [
        f"Run of {results['generated_at']} on {m['nproc']} × {m['cpu_model']}, {m['ram_gib']} GiB RAM "
        f"(Linux {m['kernel']}); PostgreSQL {meta.get('postgres', '?')}, Redis {meta.get('redis', '?')}, "
        f"wrk {meta.get('wrk', '?')}. {meta.get('users', '?')} seeded users (and {meta.get('extra_accounts', 0):,} idle accounts); {meta.get('connections', '?')} "
        f"connections ({meta.get('wrk_threads', '?')} wrk threads); {meta.get('warmup_s', '?')} s warm-up + "
        f"{meta.get('duration_s', '?')} s measured per phase (order placement and the account read: "
        f"{meta.get('ceiling_rounds', '?')} × {meta.get('ceiling_slice_s', '?')} s, alternating with their pgbench "
        f"ceilings); server log filter `{meta.get('log_filter', '?')}`; "
        f"HTTP workers at nice {meta.get('worker_nice', 0)}.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | errors | vs pgbench | PG xacts/req | Redis cmds/req | server CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in PHASES:
        p = phases.get(name)
        if not p:
            lines.append(f"| {label} | — | — | — | — | — | — | — | — |")
            continue
        ratio = p.get("ratio_vs_pgbench")
        lines.append(
            f"| {label} | {fmt(p['throughput_rps'])} | {fmt(p['p50_ms'], 2)} | {fmt(p['p99_ms'], 2)} | {p['errors']} | "
            f"{'—' if ratio is None else f'{ratio * 100:.0f} %'} | {fmt(p.get('pg_xacts_per_request'), 2)} | "
            f"{fmt(p.get('redis_cmds_per_request'), 2)} | {fmt(p.get('server_cpu_ms_per_request'), 3)} |"
        )
    lines += [
        "",
        f"Where the {m['nproc']} cores went during each measured run (cores busy on average; `other` is every "
        "other process on the machine, e.g. concurrent builds):",
        "",
        "| endpoint | server | PostgreSQL (its processes) | Redis | wrk | other | machine busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in PHASES:
        cc = (phases.get(name) or {}).get("cpu_cores")
        if cc:
            lines.append(
                f"| {label} | {cc['server']:.2f} | {cc['postgres']:.2f} | {cc['redis']:.2f} | {cc['wrk']:.2f} | "
                f"{cc['other']:.2f} | {cc['machine_busy']:.2f} |"
            )
    lines += [
        "",
        f"| pgbench ceiling ({meta.get('connections', '?')} clients, prepared, TCP; server idle) | tps | p50 ms "
        "| p99 ms | failed | PG CPU ms/tx | cores: PostgreSQL / pgbench / idle server / other |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in CEILINGS:
        c = ceiling.get(name)
        if c:
            cc = c.get("cpu_cores") or {}
            cores = (f"{cc['postgres']:.2f} / {cc['pgbench']:.2f} / {cc['server']:.2f} / {cc['other']:.2f}"
                     if cc else "—")
            lines.append(
                f"| {label} | {fmt(c['throughput_tps'])} | {fmt(c['p50_ms'], 2)} | {fmt(c['p99_ms'], 2)} | "
                f"{c['failed']} | {fmt(c.get('postgres_cpu_ms_per_tx'), 3)} | {cores} |"
            )
    o = phases.get("order") or {}
    a = phases.get("account") or {}
    lines.append("")
    lines.append(
        f"PostgreSQL CPU per request in the app runs: order {fmt(o.get('postgres_cpu_ms_per_request'), 3)} ms, "
        f"account read {fmt(a.get('postgres_cpu_ms_per_request'), 3)} ms."
    )
    for name, label in CEILINGS:
        p, c = phases.get(name) or {}, ceiling.get(name) or {}
        if p.get("rounds_ratio_vs_pgbench"):
            rounds = per_round(p["rounds_rps"], c["rounds_tps"], p["rounds_ratio_vs_pgbench"])
            lines += [
                "",
                f"Ceiling, {label}: {len(c['rounds_tps'])} rounds of {fmt(meta.get('ceiling_slice_s'))} s of the app "
                f"then {fmt(meta.get('ceiling_slice_s'))} s of pgbench; req/s / tps per round: {rounds}; ratio "
                f"{p['ratio_vs_pgbench'] * 100:.0f} % (the median of the rounds'; of the totals: "
                f"{p['ratio_of_totals_vs_pgbench'] * 100:.0f} %); p99 per round, app / pgbench (ms): "
                + ", ".join(f"{fmt(a, 1)} / {fmt(b, 1)}" for a, b in zip(p["rounds_p99_ms"], c["rounds_p99_ms"]))
                + ".",
            ]
    o, c = phases.get("order") or {}, ceiling.get("order_at_pool") or {}
    if o.get("rounds_ratio_vs_pgbench_at_pool"):
        rounds = per_round(o["rounds_rps"], c["rounds_tps"], o["rounds_ratio_vs_pgbench_at_pool"])
        lines += [
            "",
            f"The stricter ceiling (not a target): in each round pgbench also ran the order placement "
            f"transaction with {fmt(c.get('clients'))} clients, as many as the server held PostgreSQL "
            f"connections (PostgreSQL does more with fewer backends): req/s / tps per round: {rounds}; "
            f"ratio {o['ratio_vs_pgbench_at_pool'] * 100:.0f} % (the median of the rounds'); pgbench's p99 "
            "per round (ms): " + ", ".join(fmt(x, 1) for x in c["rounds_p99_ms"]) + ".",
        ]
    if calm and storm:
        pairs = ", ".join(f"{fmt(c, 1)} / {fmt(x, 1)}" for c, x in zip(calm, storm))
        lines += [
            "",
            f"Login storm: {len(storm)} rounds of {fmt(meta.get('storm_slice_s'))} s of order placement alone, then "
            f"{fmt(meta.get('storm_slice_s'))} s during the storm; order p99 alone / during, per round (ms): {pairs}; "
            f"rise {fmt(storm_rise, 1)} % (the median of the rounds'; against the order phase at the start: "
            f"{fmt(storm_rise_vs_order_phase, 1)} %).",
        ]
    lines += [
        "",
        f"Server: ready {fmt(meta.get('ready_ms'))} ms after spawn (migrations already applied); RSS idle "
        f"{fmt(round(meta.get('rss_idle_kb', 0) / 1024, 1))} MiB, after seeding {fmt(round(meta.get('rss_seeded_kb', 0) / 1024, 1))} "
        f"MiB, peak (VmHWM) {fmt(rss_mib)} MiB; "
        f"{fmt(meta.get('server_threads'))} threads. Market-data stub calls (cache misses): {fmt(meta.get('stub_calls'))}. "
        f"Load average at start: {meta.get('loadavg_at_start', '?')}.",
        "",
        "| Criterion micro-benchmark | median |",
        "|---|---:|",
    ]
    for name, label in CRITERION:
        c = micro.get(name)
        med = "—" if not c else f"{c['median_ns'] / 1000:,.2f} µs"
        lines.append(f"| {label} | {med} |")
    lines += ["", "| target | goal | measured | result |", "|---|---|---:|---|"]
    for t in targets:
        verdict = "n/a" if t["pass"] is None else ("**pass**" if t["pass"] else "**MISS**")
        measured = t["measured"]
        if t["target"].endswith("throughput") and isinstance(measured, float) and measured < 10:
            measured = f"{measured * 100:.0f} %"
        lines.append(f"| {t['target']} | {t['goal']} | {fmt(measured)} | {verdict} |")
    section = "\n".join(lines)

    print()
    print(section)
    print()

    try:
        with open(args.doc, encoding="utf-8") as f:
            doc = f.read()
    except OSError:
        doc = f"# Benchmarks\n\nGenerated by `make bench`.\n\n{BEGIN}\n{END}\n"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = f"{head}{BEGIN}\n{section}\n{END}{tail}"
    else:
        doc = f"{doc.rstrip()}\n\n{BEGIN}\n{section}\n{END}\n"
    with open(args.doc, "w", encoding="utf-8") as f:
        f.write(doc)
    if any(p is None for p in phases.values()):
        sys.exit("report: some phases have no results (see target/bench/raw)")


if __name__ == "__main__":
    main()
