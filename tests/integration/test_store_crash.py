"""Crash safety: a writer process SIGKILLed at random instants never leaves a torn store.

A writer process (forked by tests/integration/store_crash_worker.py, which has imported pandas
and pyarrow already, so restarts are instant) performs a fixed sequence of writes, each across
two date partitions, and logs each one it finishes. The test SIGKILLs it after a seeded random
delay, checks the store, and starts a new writer from the first write, as a collector re-running
its cycle would. After every
kill each table must equal the writes logged so far, with or without the one in flight (never a
part of it, never a row twice); after a last uninterrupted run it must hold every row.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from collectors.schema import TABLES
from collectors.store import Store
from tests.integration.store_crash_worker import MAX_FILE_ROWS, operations

if TYPE_CHECKING:
    from collections.abc import Iterable

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = 20
SEED = int(os.environ.get("STORMWATCH_CRASH_SEED", "20240501"))  # vary it to explore
Rows = dict[str, dict[tuple[object, ...], tuple[object, ...]]]


def normalised(table: str, frame: pd.DataFrame) -> dict[tuple[object, ...], tuple[object, ...]]:
    """key → row, with timestamps as epoch milliseconds and missing values as None."""
    spec = TABLES[table]
    frame = frame[spec.columns].copy()
    for field in spec.schema:
        if str(field.type).startswith("timestamp"):
            column = pd.to_datetime(frame[field.name], utc=True)
            ms = (column - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
            frame[field.name] = ms.astype("Int64")
    columns = {
        name: frame[name].astype(object).where(frame[name].notna(), None).tolist()
        for name in spec.columns
    }
    keys = zip(*(columns[k] for k in spec.key), strict=True)
    return dict(zip(keys, zip(*columns.values(), strict=True), strict=True))


class Model:
    """The tables after a history of writes, each replacing rows by key."""

    def __init__(self, ops: list[tuple[str, pd.DataFrame]]) -> None:
        self.ops = [(table, normalised(table, frame)) for table, frame in ops]
        self.state: Rows = {table: {} for table, _ in ops}

    def apply(self, index: int) -> None:
        table, rows = self.ops[index]
        self.state[table].update(rows)

    def with_(self, index: int) -> Rows:
        table, rows = self.ops[index]
        return {**self.state, table: {**self.state[table], **rows}}


def observed(root: Path, tables: Iterable[str]) -> Rows:
    state: Rows = {}
    for table in tables:
        store = Store(root)
        frame = store.read(table)
        assert store.last_read_problems == [], f"{table} is not fully readable"
        assert not frame.duplicated(list(TABLES[table].key)).any(), f"{table} has a key twice"
        state[table] = normalised(table, frame)
        assert len(state[table]) == len(frame)
    return state


def finished(progress: Path) -> list[int]:
    text = progress.read_text() if progress.exists() else ""
    return [int(line) for line in text.split("\n")[:-1]]  # a line without its newline is not done


class Writers:
    """The worker process: forks a writer on ``start``; the test kills writers by pid."""

    def __init__(self, root: Path, progress: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.store_crash_worker",
                str(root),
                str(progress),
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._answer() == "ready"
        self.pid = 0

    def _answer(self, command: str | None = None) -> str:
        assert self.process.stdout is not None and self.process.stdin is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def start(self) -> None:
        self.pid = int(self._answer("go"))

    def kill(self) -> int:
        """SIGKILL the writer; its exit code (0 if it had already finished, -9 if killed)."""
        os.kill(self.pid, signal.SIGKILL)
        return self.wait()

    def wait(self) -> int:
        return int(self._answer("wait"))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def test_sigkill_at_random_instants_never_tears_a_table(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ops = operations()
    model = Model(ops)
    tables = sorted({table for table, _ in ops})
    root, progress = tmp_path / "store", tmp_path / "progress"
    in_flight_at_kill: list[int] = []

    # Kill within the span of a real uninterrupted run on this machine, however loaded it is:
    # time one in a store of its own first.
    calibration = Writers(tmp_path / "calibration", tmp_path / "calibration-progress")
    try:
        started = time.monotonic()
        calibration.start()
        assert calibration.wait() == 0
        run_time = time.monotonic() - started
    finally:
        calibration.close()

    writers = Writers(root, progress)
    try:
        # One kill in each of KILLS equal slices of a run, in a shuffled order: spread over the
        # whole run however the writes' durations fall.
        slices = list(range(KILLS))
        rng.shuffle(slices)
        for kill, part in enumerate(slices):
            progress.write_text("")
            started = time.monotonic()
            writers.start()
            time.sleep(rng.uniform(part, part + 1) * run_time / KILLS)
            if writers.kill() == 0:
                run_time = time.monotonic() - started  # kill within a real run's span
            done = finished(progress)
            for index in done:
                model.apply(index)
            state = observed(root, tables)
            if state != model.state and len(done) < len(ops):
                # The write in flight when the process died may have committed (whole), or not.
                assert state == model.with_(len(done)), (
                    f"kill {kill}: after {len(done)} logged writes the store holds neither those "
                    f"nor those plus write {len(done)}"
                )
                model.apply(len(done))
            assert state == model.state, f"kill {kill}: the store lost logged writes"
            in_flight_at_kill.append(len(done))
            for table in tables:
                # Glob readers (DuckDB, Athena) may see files a crash left behind until the next
                # write sweeps them, but never a half-written one under a *.parquet name.
                for path in (root / table).rglob("*.parquet"):
                    assert path.read_bytes()[-4:] == b"PAR1", f"{path} is a partial Parquet file"

        progress.write_text("")
        writers.start()
        assert writers.wait() == 0
    finally:
        writers.close()
    clean = Model(ops)
    for index in range(len(ops)):
        clean.apply(index)
    assert observed(root, tables) == clean.state  # every row present, the latest values won
    assert len(set(in_flight_at_kill)) >= KILLS // 4, in_flight_at_kill  # kills spread out
    for table in tables:  # the last run swept whatever the kills left behind
        on_disk = {
            p.relative_to(root / table).as_posix() for p in (root / table).rglob("*.parquet")
        }
        listed = json.loads((root / table / "_manifest.json").read_text())["files"]
        assert on_disk == {f["path"] for f in listed}
        assert all(f["rows"] <= MAX_FILE_ROWS for f in listed)
