"""Benchmark: Store writes and reads on a local folder, at a collection cycle's scale.

Writes a cycle of ``--rows`` metric datapoints straddling midnight (two date partitions) into an
empty store, the same cycle again (idempotent: nothing is rewritten), a revision of every value,
then fills a day for ``--series`` series and times one steady-state cycle over it (the last
minutes re-read plus new ones). Reads: one resource over the day, one hour of every series, the
whole day. Best of ``--repeat`` runs each; files and sizes at the end.

Usage: .venv/bin/python benchmarks/store_io.py [--rows N] [--series N] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable

MIDNIGHT = pd.Timestamp("2024-05-02T00:00:00Z")


def frame(series: int, start: pd.Timestamp, minutes: int, value: float = 0.0) -> pd.DataFrame:
    s, m = np.meshgrid(np.arange(series), np.arange(minutes), indexing="ij")
    s, m = s.ravel(), m.ravel()
    names = np.array([f"fn-{i // 4:05d}" for i in range(series)])
    metrics = np.array(["Invocations", "Errors", "Throttles", "Duration"])
    return pd.DataFrame(
        {
            "account": "111122223333",
            "region": "eu-west-1",
            "namespace": "AWS/Lambda",
            "metric": metrics[s % 4],
            "dimensions": "FunctionName=" + names[s],
            "stat": "Sum",
            "period_s": np.int32(60),
            "ts": start + pd.to_timedelta(m, unit="min"),
            "resource": "lambda:" + names[s],
            "value": m + value,
        }
    )


def best(repeat: int, action: Callable[[], Any], setup: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=2_000)
    parser.add_argument("--cycle-minutes", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        series = 10_000
        cycle = frame(series, MIDNIGHT - pd.Timedelta(minutes=5), args.rows // series)
        rows = len(cycle)
        counter = iter(range(10**6))
        store: dict[str, Store] = {}

        def fresh() -> None:
            store["s"] = Store(root / f"cold-{next(counter)}")

        cold = best(args.repeat, lambda: store["s"].write("metrics", cycle), fresh)
        print(f"write {rows:>9,} rows, 2 partitions, empty store      {cold * 1000:7.0f} ms")
        same = best(args.repeat, lambda: store["s"].write("metrics", cycle))
        print(f"write {rows:>9,} rows again (no change)            {same * 1000:7.0f} ms")
        revised = cycle.assign(value=cycle["value"] + 0.5)
        changed = best(1, lambda: store["s"].write("metrics", revised))
        print(f"write {rows:>9,} rows, every value revised         {changed * 1000:7.0f} ms")

        day = Store(root / "day")
        full = frame(args.series, MIDNIGHT, 24 * 60 - args.cycle_minutes)
        began = time.perf_counter()
        day.write("metrics", full)
        print(
            f"fill  {len(full):>9,} rows, one day of {args.series:,} series        "
            f"{(time.perf_counter() - began) * 1000:7.0f} ms"
        )
        # A cycle: the last 5 minutes re-read (revised), then the new minutes.
        tail = frame(
            args.series,
            MIDNIGHT + pd.Timedelta(minutes=24 * 60 - args.cycle_minutes - 5),
            args.cycle_minutes + 5,
            value=0.25,
        )
        steady = best(1, lambda: day.write("metrics", tail))
        print(f"write {len(tail):>9,} rows into that day (a cycle)       {steady * 1000:7.0f} ms")

        one = best(
            args.repeat,
            lambda: day.read("metrics", filters={"resource": "lambda:fn-00007"}),
        )
        print(f"read  one resource over the day                   {one * 1000:7.0f} ms")
        hour = best(
            args.repeat,
            lambda: day.read(
                "metrics",
                start=MIDNIGHT + pd.Timedelta(hours=12),
                end=MIDNIGHT + pd.Timedelta(hours=13),
                columns=["resource", "metric", "ts", "value"],
            ),
        )
        print(f"read  one hour of every series                    {hour * 1000:7.0f} ms")
        everything = best(args.repeat, lambda: day.read("metrics"))
        print(f"read  the whole day ({len(full):,} rows)            {everything * 1000:7.0f} ms")
        (partition,) = day.partitions("metrics")
        print(
            f"day partition: {partition.files} files, {partition.rows:,} rows, "
            f"{partition.bytes / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
