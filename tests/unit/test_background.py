"""The background collection thread, with a fake collector: cycles, failures, stop, registry."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import collectors.background as background
from collectors.background import BackgroundCollector, ensure_background, stop_background
from collectors.config import load_config
from collectors.cycle import CycleReport, SourceRun
from collectors.errors import SourceError
from collectors.store import Store

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class FakeCollector:
    """Stands in for ``Collector``: each ``once`` is a report of two sources, or raises."""

    def __init__(self, config: Any, store: Any, *, clock: Any = None) -> None:
        self.clock = clock or (lambda: NOW)
        self.calls = 0
        self.fail_on: set[int] = set()  # which calls (1-based) raise
        self.delay = 0.0

    def once(self) -> CycleReport:
        self.calls += 1
        time.sleep(self.delay)
        if self.calls in self.fail_on:
            raise OSError(f"store unreachable (call {self.calls})")
        now = self.clock()
        ok = SourceRun("r", "queues", "111", "us-east-1", now, now, rows=5)
        bad = SourceRun("r", "metrics", "111", "us-east-1", now, now, rows=2)
        bad.error = SourceError("GetMetricData throttled", kind="throttled")
        return CycleReport(f"run{self.calls}", [ok, bad])


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={}, overrides={"store": str(tmp_path / "store")})


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(background, "Collector", FakeCollector)
    yield
    with background._registry_guard:
        leftovers = list(background._registry.values())
        background._registry.clear()
    for collector in leftovers:
        collector.stop(5)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_cycles_run_until_stopped_and_summaries_count_rows_and_errors(fake, config) -> None:
    seen = []
    collector = BackgroundCollector(
        config, Store(config.store), interval_s=0.01, on_cycle=seen.append
    )
    assert not collector.running and collector.last_cycle is None
    collector.start()
    assert collector.running
    wait_for(lambda: collector.cycles >= 3)
    assert collector.stop(timeout=5)
    assert not collector.running
    assert len(seen) == collector.cycles
    summary = collector.last_cycle
    assert summary is seen[-1]
    assert summary.rows == {"queues": 5, "metrics": 2} and summary.total_rows == 7
    assert summary.errors == {"metrics": ("111/us-east-1: throttled: GetMetricData throttled",)}
    assert summary.failed and summary.started <= summary.when == summary.ended
    assert collector.last_error is None
    calls = collector.collector.calls
    time.sleep(0.05)
    assert collector.collector.calls == calls  # nothing runs after stop


def test_an_exception_is_recorded_and_the_loop_goes_on(fake, config) -> None:
    collector = BackgroundCollector(config, Store(config.store), interval_s=0.01)
    collector.collector.fail_on = {1}
    errors = []
    original = collector._failed

    def record(stage, exc):
        original(stage, exc)
        errors.append(collector.last_error)

    collector._failed = record
    collector.start()
    wait_for(lambda: collector.cycles >= 1)
    assert collector.stop(5)
    [error] = errors
    assert error.stage == "cycle" and "store unreachable (call 1)" in str(error)
    assert "OSError" in error.traceback
    assert collector.last_error is None  # a later cycle completed


def test_a_failing_callback_does_not_kill_the_thread(fake, config) -> None:
    def explode(summary):
        raise ValueError("detector broke")

    collector = BackgroundCollector(config, Store(config.store), interval_s=0.01, on_cycle=explode)
    collector.start()
    wait_for(lambda: collector.cycles >= 2)
    assert collector.running
    assert collector.stop(5)
    assert collector.last_error.stage == "on_cycle"
    assert isinstance(collector.last_error.error, ValueError)


def test_the_interval_spaces_the_cycles(fake, config) -> None:
    collector = BackgroundCollector(config, Store(config.store), interval_s=60)
    collector.start()
    wait_for(lambda: collector.cycles == 1)
    time.sleep(0.1)
    assert collector.cycles == 1  # the next one is a minute away
    started = time.monotonic()
    assert collector.stop(5)
    assert time.monotonic() - started < 1  # the wait is interrupted, not sat out


def test_stop_waits_for_the_cycle_under_way_up_to_the_timeout(fake, config) -> None:
    collector = BackgroundCollector(config, Store(config.store), interval_s=0)
    collector.collector.delay = 0.5
    collector.start()
    wait_for(lambda: collector.collector.calls == 1)
    assert not collector.stop(timeout=0.01)  # still finishing its cycle
    with pytest.raises(RuntimeError, match="still finishing"):
        collector.start()
    assert collector.stop(timeout=5)
    assert collector.cycles == 1


def test_the_default_interval_is_intervals_metrics(fake, config) -> None:
    assert BackgroundCollector(config, Store(config.store)).interval_s == 60
    with pytest.raises(ValueError, match="negative"):
        BackgroundCollector(config, Store(config.store), interval_s=-1)


def test_ensure_background_keeps_one_collector_per_store(fake, config, tmp_path) -> None:
    first = ensure_background(config, Store(config.store), interval_s=60)
    # A rerun builds new objects for the same folder (another spelling of it, too).
    again = ensure_background(config, Store(f"{tmp_path}/./store"), interval_s=1)
    assert again is first and first.running and first.interval_s == 60
    other = ensure_background(config, Store(tmp_path / "elsewhere"), interval_s=60)
    assert other is not first
    names = [t.name for t in threading.enumerate() if t.name.startswith("stormwatch-collect")]
    assert len(names) == 2
    assert stop_background(Store(config.store), timeout=5)
    assert not first.running
    fresh = ensure_background(config, Store(config.store), interval_s=60)
    assert fresh is not first and fresh.running
    assert stop_background(Store(config.store)) and stop_background(Store(tmp_path / "elsewhere"))
    assert stop_background(Store(tmp_path / "never-started"))


def test_ensure_background_restarts_a_stopped_collector(fake, config) -> None:
    first = ensure_background(config, Store(config.store), interval_s=60)
    assert first.stop(5)
    assert ensure_background(config, Store(config.store)) is first
    assert first.running


def test_summary_times_come_from_the_clock(fake, config) -> None:
    ticks = iter(NOW + timedelta(minutes=i) for i in range(100))
    collector = BackgroundCollector(
        config, Store(config.store), interval_s=60, clock=lambda: next(ticks)
    )
    collector.start()
    wait_for(lambda: collector.cycles == 1)
    collector.stop(5)
    summary = collector.last_cycle
    assert summary.started == NOW and summary.ended > summary.started
