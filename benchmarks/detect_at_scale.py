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

from alerts.detect import detect
from collectors.store import Store

END = pd.Timestamp("2026-11-16T00:00Z")
ACCOUNT, REGION = "111111111111", "us-east-1"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def series(
    namespace: str, metric: str, dims: str, stat: str, resource_name: str, values: np.ndarray
) -> pd.DataFrame:
    n = len(values)
    ts = pd.date_range(END - pd.Timedelta(minutes=n), periods=n, freq="min")
    return pd.DataFrame(
        {
            "account": ACCOUNT,
            "region": REGION,
            "namespace": namespace,
            "metric": metric,
            "dimensions": dims,
            "stat": stat,
            "period_s": np.int32(60),
            "ts": ts.astype("datetime64[ms, UTC]"),
            "resource": resource_name,
            "value": values,
        }
    )


def build(store: Store, resources: int, days: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    n = int(days * 1440)
    t = np.arange(n)
    shape = 1 + 0.5 * np.sin(2 * np.pi * t / 1440)
    rows = 0
    functions = int(resources * 0.7)
    queues = int(resources * 0.2)
    breakers = resources - functions - queues
    parts: list[pd.DataFrame] = []

    def flush() -> None:
        nonlocal rows, parts
        if parts:
            frame = pd.concat(parts, ignore_index=True)
            store.write("metrics", frame)
            rows += len(frame)
            parts = []

    for i in range(functions):
        name = f"fn-{i:04d}"
        dims = f"FunctionName={name}"
        rate = rng.uniform(5, 500)
        inv = rng.poisson(rate * shape).astype(float)
        err = rng.poisson(0.002 * inv).astype(float)
        if i % 50 == 0:  # an incident now and then
            at = int(rng.integers(n // 2, n - 60))
            err[at : at + 20] = 0.3 * inv[at : at + 20]
        thr = np.zeros(n)
        dur = rng.lognormal(np.log(120), 0.2, n)
        for metric, stat, values in (
            ("Invocations", "Sum", inv),
            ("Errors", "Sum", err),
            ("Throttles", "Sum", thr),
            ("Duration", "p99", dur),
        ):
            parts.append(series("AWS/Lambda", metric, dims, stat, f"lambda:{name}", values))
        if len(parts) >= 200:
            flush()
    for i in range(queues):
        name = f"queue-{i:04d}" + ("-dlq" if i % 10 == 0 else "")
        dims = f"QueueName={name}"
        sent = rng.poisson(rng.uniform(1, 100) * shape).astype(float)
        received = sent + rng.poisson(0.01 * sent)
        visible = np.zeros(n) if name.endswith("-dlq") else rng.poisson(2, n).astype(float)
        for metric, stat, values in (
            ("NumberOfMessagesSent", "Sum", sent),
            ("NumberOfMessagesReceived", "Sum", received),
            ("ApproximateNumberOfMessagesVisible", "Maximum", visible),
            ("ApproximateNumberOfMessagesNotVisible", "Maximum", np.zeros(n)),
        ):
            parts.append(series("AWS/SQS", metric, dims, stat, f"sqs:{name}", values))
        if len(parts) >= 200:
            flush()
    for i in range(breakers):
        name = f"dep-{i:03d}"
        state = np.zeros(n)
        if i % 20 == 0:
            at = int(rng.integers(n // 2, n - 30))
            state[at : at + 10] = 1.0
        parts.append(
            series(
                "OrderPipeline/Resilience",
                "CircuitBreakerState",
                f"Breaker={name}",
                "Maximum",
                f"breaker:{name}",
                state,
            )
        )
    flush()
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
    main()
