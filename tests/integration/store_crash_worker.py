"""A collector stand-in for the crash test: writes a fixed sequence of batches to a store.

``python -m tests.integration.store_crash_worker STORE PROGRESS`` imports everything once and
prints ``ready``. Then, for each ``go`` line on stdin, it forks a writer and prints its pid; the
writer performs ``operations()`` in order, appending each finished operation's index to
PROGRESS, and exits. For each ``wait`` line it reaps that writer and prints its exit code. The
test SIGKILLs the writers at random instants; forking from a process that has already imported
pandas and pyarrow makes each restart instant.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from collectors.schema import TABLES
from collectors.store import Store

START = pd.Timestamp("2024-05-01T08:00:00Z")
BATCHES = 10
SERIES = 80
MINUTES = 45  # each batch re-reads the last 15 minutes of the one before: CloudWatch revisions
STEP = 30
MAX_FILE_ROWS = 20_000  # small, so partitions split into several files and merges span them


def operations() -> list[tuple[str, pd.DataFrame]]:
    """(table, frame) per write: a metrics batch, then the cycle's collector_runs row."""
    ops: list[tuple[str, pd.DataFrame]] = []
    series = np.arange(SERIES)
    for batch in range(BATCHES):
        minutes = np.arange(MINUTES) + batch * STEP
        # The same minutes of two days (a late region, a backfill): every write spans two
        # partitions, so a write that committed one and not the other would show.
        s, d, m = np.meshgrid(series, [0, 1], minutes, indexing="ij")
        s, m = s.ravel(), (m + d * 24 * 60).ravel()
        metrics = pd.DataFrame(
            {
                "account": "111122223333",
                "region": "eu-west-1",
                "namespace": "AWS/Lambda",
                "metric": np.where(s % 3 == 0, "Errors", "Invocations"),
                "dimensions": [f"FunctionName=fn-{i:03d}" for i in s],
                "stat": "Sum",
                "period_s": np.int32(60),
                "ts": START + pd.to_timedelta(m, unit="min"),
                "resource": [f"lambda:fn-{i:03d}" for i in s],
                "value": batch * 1000.0 + m,
            }
        )
        ops.append(("metrics", metrics))
        started = START + pd.Timedelta(minutes=int(minutes[-1]))
        runs = pd.DataFrame(
            {
                "run_id": [f"run-{batch:03d}"],
                "source": ["cloudwatch"],
                "account": ["111122223333"],
                "region": ["eu-west-1"],
                "started": [started],
                "ended": [started + pd.Timedelta(seconds=5)],
                "api_calls": ['{"GetMetricData": 1}'],
                "rows": [len(metrics)],
                "error": [None],
                "error_kind": [None],
            }
        ).astype({"error": "string", "error_kind": "string"})
        ops.append(("collector_runs", runs))
    for table, frame in ops:
        assert list(frame.columns) == TABLES[table].columns
    return ops


def write_all(store_path: str, progress_path: str) -> None:
    store = Store(store_path, max_file_rows=MAX_FILE_ROWS)
    with Path(progress_path).open("a") as progress:
        for index, (table, frame) in enumerate(operations()):
            store.write(table, frame)
            progress.write(f"{index}\n")
            progress.flush()


def main(store_path: str, progress_path: str) -> None:
    operations()  # imports and warms everything the writers use before any fork
    print("ready", flush=True)
    writer = 0
    for line in sys.stdin:
        if line.strip() == "go":
            writer = os.fork()
            if writer == 0:
                code = 0
                try:
                    write_all(store_path, progress_path)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                os._exit(code)
            print(writer, flush=True)
        elif line.strip() == "wait":
            _, status = os.waitpid(writer, 0)
            print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
