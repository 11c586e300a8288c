"""Benchmark: sampled X-Ray traces of a week of prod, recorded by the real aws-xray-sdk.

Builds a 7-day prod run by hand (every traced function invoked about once per order, with the
diurnal/weekly shape of ``sandbox.world.traffic``; a 2 % throttle and fault rate on every edge),
then times ``emit_traces`` into an X-Ray backend for each horizon given.

Usage: .venv/bin/python benchmarks/world_traces.py [HOURS ...] [--workers N]
       (default horizons 1 and 3 hours; "all" traces the whole week)
"""

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from sandbox.endpoint.xray import XRayBackend
from sandbox.world import traces
from sandbox.world.model import (
    BreakerState,
    BreakerTimeline,
    EdgeMinutes,
    FunctionMinutes,
    SimulationResult,
)
from sandbox.world.topology import account
from sandbox.world.traffic import shape

T0 = 1_800_000_000 - 1_800_000_000 % 86_400  # a UTC midnight
MINUTES = 7 * 24 * 60


def prod_week() -> SimulationResult:
    acct = account("prod")
    ts = T0 + 60 * np.arange(MINUTES, dtype=np.int64)
    rng = np.random.default_rng(1)
    orders = acct.orders_per_second * 60 * shape(ts)
    zeros = np.zeros(MINUTES)
    functions = {}
    for fn in acct.functions:
        share = 0.03 if fn.name == "refund-handler" else 1.0
        inv = rng.poisson(orders * share)
        functions[fn.name] = FunctionMinutes(
            fn.name, inv, zeros, zeros, np.full(MINUTES, fn.duration_ms * 3.0),
            np.full(MINUTES, fn.duration_ms * 8.0), zeros, zeros, np.full(MINUTES, 50.0),
            zeros, zeros, zeros,
        )  # fmt: skip
    edges = {}
    for fn in acct.functions:
        for call in fn.calls:
            dep = acct.dependency(call.dependency)
            req = functions[fn.name].invocations * call.per_invocation
            edges[(fn.name, dep.name)] = EdgeMinutes(
                fn.name, dep.name, call.breaker, req, zeros, req, zeros, req, zeros, zeros,
                zeros, zeros, np.full(MINUTES, dep.latency_ms), np.full(MINUTES, 0.002),
                np.full(MINUTES, 0.02), np.full(MINUTES, 0.02),
            )  # fmt: skip
    breakers = {
        name: BreakerTimeline(name, np.full(MINUTES, BreakerState.CLOSED, np.int8), zeros,
                              zeros, ts.astype(float))
        for name in acct.breaker_table.breakers
    }  # fmt: skip
    return SimulationResult(
        acct, "bench", 1, ts, orders, functions, edges, {}, {}, {}, {}, breakers, [], []
    )


def main() -> None:
    args = sys.argv[1:]
    workers = None
    if "--workers" in args:
        at = args.index("--workers")
        workers = int(args[at + 1])
        del args[at : at + 2]
    horizons = [None if a == "all" else float(a) for a in args] or [1.0, 3.0]
    result = prod_week()
    for hours in horizons:
        backend = XRayBackend(result.account.account_id, result.account.region)
        cpu = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats = traces.emit_traces(result, backend, seed=1, trace_hours=hours, workers=workers)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_children = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        span_h = stats.minutes / 60
        print(
            f"horizon {hours} h: {stats.traces:,} traces, {stats.segments:,} segments in "
            f"{stats.seconds:.1f} s wall (cpu: this process {time.process_time() - cpu:.1f} s, "
            f"workers {cpu_children:.1f} s); per simulated hour {stats.traces / span_h:,.0f} "
            f"traces, {stats.segments / span_h:,.0f} segments, {stats.seconds / span_h:.2f} s; "
            f"per simulated day {24 * stats.seconds / span_h:.0f} s; "
            f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
