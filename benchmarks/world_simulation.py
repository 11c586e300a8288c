"""Benchmark: the pure simulation engine over a week of 1-minute data (no AWS, no emitters).

For each account and scenario given, times ``simulate()`` over the 7 days before a fixed
``now`` (best of ``--repeat`` runs), then a live ``Simulator`` advancing one minute at a time
after that backfill. Reports minutes simulated, wall time, DLQ ledger size and incidents.

Usage: .venv/bin/python benchmarks/world_simulation.py [--repeat N] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import UTC, datetime, timedelta

from sandbox.world.simulation import Simulator, simulate
from sandbox.world.topology import ACCOUNTS

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenario", nargs="*", default=["quiet", "demo"])
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    start = NOW - timedelta(days=args.days)
    for acct in ACCOUNTS:
        for scenario in args.scenario:
            times = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                result = simulate(acct, scenario, 1, start, NOW, now=NOW)
                times.append(time.perf_counter() - began)
            print(
                f"{acct.name:8} {scenario:16} {len(result.timestamps):6} min  "
                f"best {min(times):.2f} s  median {statistics.median(times):.2f} s  "
                f"dlq ledger {len(result.dlq_messages):6}  incidents {len(result.incidents):3}"
            )
    sim = Simulator(ACCOUNTS[0], "demo", 1, now=NOW, start=start)
    sim.advance(NOW)
    steps = []
    for k in range(1, 61):
        began = time.perf_counter()
        sim.advance(NOW + timedelta(minutes=k))
        steps.append(time.perf_counter() - began)
    print(
        f"live prod demo: one minute per advance, median {statistics.median(steps) * 1e3:.1f} ms, "
        f"max {max(steps) * 1e3:.1f} ms"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
