"""Benchmark: `alerts detect` over a week of 1-minute data for many resources.

Builds a store holding ``--days`` (7) of 1-minute metrics for ``--resources`` (1,000)
resources — 70 % Lambda functions (Invocations, Errors, Throttles, Duration p99), 20 % SQS
queues (sent, received, visible, not visible; a tenth of them DLQs) and 10 % circuit breakers
(CircuitBreakerState) — with daily seasonality, noise and a few injected incidents, then times
one ``detect`` over it (reading the store included) and reports the peak RSS of the process.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/detect_at_scale.py [--resources 1000] [--days 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.allocator import tune_allocator
from alerts.detect import detect
from collectors.store import Store

END = pd.Timestamp("2026-11-16T00:00Z")
ACCOUNT, REGION = "111111111111", "us-east-1"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(store: Store, resources: int, days: float, seed: int) -> int:
    """Write the synthetic week one day partition at a time (each write lands in one
    partition, so nothing is rewritten); returns the rows written."""
    rng = np.random.default_rng(seed)
    n = int(days * 1440)
    t = np.arange(n)
    shape = 1 + 0.5 * np.sin(2 * np.pi * t / 1440)
    functions = int(resources * 0.7)
    queues = int(resources * 0.2)
    breakers = resources - functions - queues
    keys: list[tuple[str, str, str, str, str]] = []  # namespace, metric, dimensions, stat, resource
    values: list[np.ndarray] = []

    def add(namespace: str, metric: str, dims: str, stat: str, res: str, v: np.ndarray) -> None:
        keys.append((namespace, metric, dims, stat, res))
        values.append(v.astype(np.float64))

    for i in range(functions):
        name = f"fn-{i:04d}"
        dims = f"FunctionName={name}"
        inv = rng.poisson(rng.uniform(5, 500) * shape).astype(float)
        err = rng.poisson(0.002 * inv).astype(float)
        if i % 50 == 0:  # an incident now and then
            at = int(rng.integers(n // 2, n - 60))
            err[at : at + 20] = np.round(0.3 * inv[at : at + 20])
        add("AWS/Lambda", "Invocations", dims, "Sum", f"lambda:{name}", inv)
        add("AWS/Lambda", "Errors", dims, "Sum", f"lambda:{name}", err)
        add("AWS/Lambda", "Throttles", dims, "Sum", f"lambda:{name}", np.zeros(n))
        add("AWS/Lambda", "Duration", dims, "p99", f"lambda:{name}", rng.lognormal(4.8, 0.2, n))
    for i in range(queues):
        name = f"queue-{i:04d}" + ("-dlq" if i % 10 == 0 else "")
        dims = f"QueueName={name}"
        sent = rng.poisson(rng.uniform(1, 100) * shape).astype(float)
        visible = np.zeros(n) if name.endswith("-dlq") else rng.poisson(2, n).astype(float)
        add("AWS/SQS", "NumberOfMessagesSent", dims, "Sum", f"sqs:{name}", sent)
        add("AWS/SQS", "NumberOfMessagesReceived", dims, "Sum", f"sqs:{name}", sent)
        add(
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, "Maximum", f"sqs:{name}", visible
        )
        add(
            "AWS/SQS",
            "ApproximateNumberOfMessagesNotVisible",
            dims,
            "Maximum",
            f"sqs:{name}",
            np.zeros(n),
        )
    for i in range(breakers):
        state = np.zeros(n)
        if i % 20 == 0:
            at = int(rng.integers(n // 2, n - 30))
            state[at : at + 10] = 1.0
        add(
            "OrderPipeline/Resilience",
            "CircuitBreakerState",
            f"Breaker=dep-{i:03d}",
            "Maximum",
            f"breaker:dep-{i:03d}",
            state,
        )

    start = END - pd.Timedelta(minutes=n)
    matrix = np.stack(values)  # series x minutes
    columns = list(zip(*keys, strict=True))
    rows = 0
    for day in range(0, n, 1440):
        m = min(1440, n - day)
        ts = pd.date_range(start + pd.Timedelta(minutes=day), periods=m, freq="min")
        s = len(keys)
        frame = pd.DataFrame(
            {
                "account": ACCOUNT,
                "region": REGION,
                "namespace": np.repeat(columns[0], m),
                "metric": np.repeat(columns[1], m),
                "dimensions": np.repeat(columns[2], m),
                "stat": np.repeat(columns[3], m),
                "period_s": np.int32(60),
                "ts": np.tile(ts.astype("datetime64[ms, UTC]"), s),
                "resource": np.repeat(columns[4], m),
                "value": matrix[:, day : day + m].ravel(),
            }
        )
        store.write("metrics", frame)
        rows += len(frame)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--store", help="reuse (or create) a store here instead of a temp one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        location = args.store or tmp
        store = Store(location)
        if store.time_range("metrics") is None:
            started = time.perf_counter()
            rows = build(store, args.resources, args.days, args.seed)
            print(f"built {rows:,} metric rows in {time.perf_counter() - started:.0f} s")
        before = rss_mb()
        started = time.perf_counter()
        report = detect(store, now=END, write=True)
        wall = time.perf_counter() - started
        print(report.summary())
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in report.detection.seconds.items())
        print(
            f"detect: {wall:.1f} s wall ({parts});"
            f" peak RSS {rss_mb():.0f} MB (before detect {before:.0f} MB);"
            f" load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    tune_allocator()  # as the product's entry points do (alerts/allocator.py)
    main()
