"""Benchmark: anomaly-scoring throughput of the default detector on one core.

Scores ``--series`` synthetic 1-minute series of ``--points`` points each (daily seasonality,
noise, spikes, a level shift, a few gaps), one after the other in one process, and prints the
points per second over the whole set (median of ``--repeat`` runs) and the peak RSS. The scoring
is element-wise NumPy on one thread, so the figure is per core.

Usage: .venv/bin/python benchmarks/anomaly_throughput.py [--series 100] [--points 100800]
       [--glibc-defaults]  (without the allocator tuning the product's entry points apply)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.allocator import tune_allocator
from alerts.anomaly import score_series


def make_series(points: int, seed: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    x = 100 + 30 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 4, points)
    x[rng.integers(0, points, 20)] += rng.normal(0, 60, 20)
    x[points // 2 :] += 25
    ts = pd.date_range("2026-11-01", periods=points, freq="min", tz="UTC")
    keep = rng.random(points) > 0.002
    return ts[keep], x[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_800)  # 10 weeks of minutes
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--glibc-defaults", action="store_true", help="measure without tune_allocator()"
    )
    args = parser.parse_args()
    data = [make_series(args.points, seed) for seed in range(args.series)]
    total = sum(len(v) for _, v in data)
    rates = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        for ts, values in data:
            score_series(ts, values)
        rates.append(total / (time.perf_counter() - started))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{total:,} points in {args.series} series: median {statistics.median(rates) / 1e6:.2f} M"
        f" points/s (runs: {', '.join(f'{r / 1e6:.2f}' for r in rates)}), peak RSS {peak:.0f} MB,"
        f" load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    if "--glibc-defaults" not in sys.argv:
        tune_allocator()  # as the product's entry points do (alerts/allocator.py)
    main()
