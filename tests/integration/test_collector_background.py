"""The background collection thread against the simulated world, over HTTP."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from collectors.background import BackgroundCollector, ensure_background, stop_background
from collectors.config import load_config
from collectors.cycle import SOURCES
from collectors.store import Store
from sandbox.endpoint import Endpoint
from sandbox.world.collector_config import collector_config
from sandbox.world.runner import World
from sandbox.world.topology import account

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")


@pytest.fixture(scope="module")
def world():
    with Endpoint() as endpoint:
        world = World(
            endpoint, scenario="demo", seed=4, days=0.1, now=NOW, accounts=(PROD,), trace_hours=0.1
        )
        world.start()
        saved = os.environ.get("AWS_ENDPOINT_URL")
        os.environ["AWS_ENDPOINT_URL"] = endpoint.url
        yield world
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved


def make_config(tmp_path):
    path = tmp_path / "stormwatch.toml"
    text = collector_config((PROD,), str(tmp_path / "store"))
    path.write_text(f'{text}\n[intervals]\nlookback = "15m"\n')
    return load_config(path, env={})


def moving_clock():
    """The simulated ``NOW``, advancing with real time (so each cycle observes a new moment)."""
    started = time.monotonic()
    return lambda: NOW + timedelta(seconds=time.monotonic() - started)


def test_cycles_land_in_the_store_until_stopped(world, tmp_path) -> None:
    config = make_config(tmp_path)
    seen = []
    collector = BackgroundCollector(
        config, Store(config.store), interval_s=0.2, on_cycle=seen.append, clock=moving_clock()
    )
    collector.start()
    try:
        deadline = time.monotonic() + 180
        while collector.cycles < 2 and time.monotonic() < deadline:
            assert collector.last_error is None, collector.last_error
            time.sleep(0.1)
    finally:
        asked = time.monotonic()
        stopped = collector.stop(timeout=60)
        took = time.monotonic() - asked
    assert stopped and not collector.running and took < 60
    assert not [t for t in threading.enumerate() if t.name.startswith("stormwatch-collect")]
    assert collector.cycles >= 2 and len(seen) == collector.cycles
    assert collector.last_error is None
    assert set(seen[0].rows) == set(SOURCES)
    assert set(seen[1].rows) == set(SOURCES) - {"inventory"}  # discovery is kept for an hour
    for summary in seen:
        assert summary.errors == {}, summary.errors
        assert summary.rows["metrics"] > 0 and summary.rows["queues"] > 0
    assert seen[0].ended <= seen[1].started
    store = Store(config.store)
    runs = store.read("collector_runs")
    assert set(runs["run_id"]) == {s.run_id for s in seen}
    assert runs["error"].isna().all()
    queues = store.read("queues")
    assert queues["observed_at"].nunique() == collector.cycles  # one observation per cycle
    assert not store.read("metrics").empty


def test_ensure_background_gives_the_same_running_collector(world, tmp_path) -> None:
    config = make_config(tmp_path)
    first = ensure_background(config, Store(config.store), interval_s=3600, clock=moving_clock())
    try:
        # A rerun of the page: new config and store objects for the same location.
        again = ensure_background(make_config(tmp_path), Store(config.store))
        assert again is first and first.running
        deadline = time.monotonic() + 180
        while first.cycles < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.cycles == 1  # one thread, one cycle: the next is an hour away
    finally:
        assert stop_background(Store(config.store), timeout=60)
    assert not first.running
    assert len(Store(config.store).read("collector_runs")["run_id"].unique()) == 1
