"""Crash safety of the whole collector: ``python -m collectors once`` SIGKILLed mid-cycle.

One simulated world (its own endpoint, one day of history) is collected three ways: a
reference store by one uninterrupted ``once``; a second store by ``once`` processes SIGKILLed
at seeded random instants spread over the span of the reference cycle, after each of which
every table must be readable, whole (no file skipped) and hold no key twice; and then one
uninterrupted ``once`` into that same store, after which the gap must be filled: the metrics of
the window equal the reference's, as do the breakers' states and the queues' depths (traces are
a sample, so only their keys are checked).

The CLI reads the wall clock, so the world ends at the current minute and the window compared
is the world's last 20 minutes, which every cycle of the test reads (its lookback is 30).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from collectors.schema import TABLES
from collectors.store import Store
from sandbox.endpoint import Endpoint
from sandbox.world.collector_config import collector_config
from sandbox.world.runner import World
from sandbox.world.topology import ACCOUNTS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = 5  # a restart costs ~2.5 s of imports; more kills overrun the ~60 s budget
SEED = int(os.environ.get("STORMWATCH_CRASH_SEED", "20261123"))  # vary it to explore
WINDOW = timedelta(minutes=20)


@pytest.fixture(scope="module")
def world():
    # The collector's clock is the wall clock: the world ends at the current minute.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with Endpoint() as endpoint:
        world = World(endpoint, scenario="demo", seed=4, days=1, now=now, trace_hours=0.5)
        world.start()
        yield world


def collect(world: World, root: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m collectors once`` collecting ``world`` into the store at ``root``."""
    config = root.with_suffix(".toml")
    if not config.exists():
        text = collector_config(ACCOUNTS, str(root))
        settings = (
            '[intervals]\nlookback = "30m"\n\n[aws]\nmax_attempts = 2\nbackoff_attempts = 1\n'
        )
        config.write_text(f"{text}\n{settings}")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": world.endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(REPO),
    }
    for name in ("STORMWATCH_CONFIG", "STORMWATCH_STORE", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "collectors", "once", "--config", str(config), "--store", str(root)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[bytes]) -> None:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, (process.returncode, out.decode(), err.decode())


def tables(root: Path, when: str) -> dict[str, pd.DataFrame]:
    """Every table, read whole: no file skipped, no key twice."""
    frames = {}
    for table, spec in TABLES.items():
        store = Store(root)
        frame = store.read(table)
        assert store.last_read_problems == [], f"{when}: {table} is not fully readable"
        twice = frame[frame.duplicated(list(spec.key), keep=False)]
        assert twice.empty, f"{when}: {table} holds keys twice:\n{twice}"
        frames[table] = frame
        for path in (root / table).rglob("*.parquet"):
            assert path.read_bytes()[-4:] == b"PAR1", f"{when}: {path} is a partial Parquet file"
    return frames


def metrics_in_window(frames: dict[str, pd.DataFrame], now: datetime) -> pd.DataFrame:
    metrics = frames["metrics"]
    ts = metrics["ts"]
    chosen = metrics[(ts >= pd.Timestamp(now - WINDOW)) & (ts <= pd.Timestamp(now))]
    key = list(TABLES["metrics"].key)
    return chosen[[*key, "value"]].sort_values(key).reset_index(drop=True)


def latest(frame: pd.DataFrame, by: list[str], column: str) -> dict[tuple[object, ...], object]:
    """``column`` of each ``by`` group's newest observation."""
    newest = frame.sort_values("observed_at").drop_duplicates(by, keep="last")
    return {tuple(r[by]): r[column] for _, r in newest.iterrows()}


def test_sigkill_mid_cycle_leaves_readable_tables_and_the_next_cycle_fills_the_gap(
    world, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    reference_root, root = tmp_path / "reference", tmp_path / "store"

    # The reference cycle also times a cycle: its first commit, and its end.
    started = time.monotonic()
    process = collect(world, reference_root)
    while process.poll() is None and not list(reference_root.glob("*/_manifest.json")):
        time.sleep(0.02)
    first_write = time.monotonic() - started
    finish(process)
    span = time.monotonic() - started
    reference = tables(reference_root, "reference")
    assert not reference["metrics"].empty and not reference["traces"].empty

    outcomes = []
    strata = rng.sample(range(KILLS), KILLS)  # one kill in each KILLS-th of the span, shuffled
    for kill, stratum in enumerate(strata):
        started = time.monotonic()
        process = collect(world, root)
        # Between the first commit and the end: a kill before the first commit tests nothing.
        share = (stratum + rng.random()) / KILLS
        try:  # a cycle that ends before its kill is not waited for
            process.wait(timeout=first_write + max(0.0, span - first_write) * share)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        if process.returncode == 0:  # once some cycle completed, later ones read less
            span = time.monotonic() - started
        outcomes.append((round(time.monotonic() - started, 1), process.returncode))
        tables(root, f"kill {kill} after {outcomes[-1][0]} s (exit {process.returncode})")
    print(f"first write {first_write:.1f} s, span {span:.1f} s, kills {outcomes}")
    killed = [t for t, code in outcomes if code == -signal.SIGKILL]
    assert len(killed) >= KILLS // 3, outcomes  # (a restart after a whole cycle is shorter)
    assert any(not frame.empty for frame in tables(root, "after the kills").values())

    finish(collect(world, root))
    filled = tables(root, "after the uninterrupted cycle")
    assert datetime.now(UTC) - world.now < timedelta(minutes=30) - WINDOW  # the window was read

    expected = metrics_in_window(reference, world.now)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(metrics_in_window(filled, world.now), expected)
    breaker = ["account", "region", "table", "breaker"]
    assert latest(filled["breakers"], breaker, "state") == latest(
        reference["breakers"], breaker, "state"
    )
    queue = ["account", "region", "queue"]
    assert latest(filled["queues"], queue, "visible") == latest(
        reference["queues"], queue, "visible"
    )
    assert set(filled["collector_runs"]["source"]) == set(reference["collector_runs"]["source"])
