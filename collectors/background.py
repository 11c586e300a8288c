"""The collection loop on a background thread, for a process that does something else too.

The dashboard, when it runs on the sandbox, collects in its own process instead of asking for a
second one (``python -m collectors run``)::

    collector = ensure_background(config, store)     # every Streamlit rerun gets the same one
    collector.last_cycle                             # when, rows and errors per source
    collector.last_error                             # a cycle that failed as a whole, if any

:class:`BackgroundCollector` runs :meth:`collectors.cycle.Collector.once` every ``interval_s``
seconds (default ``intervals.metrics``) on a daemon thread until :meth:`~BackgroundCollector.stop`.
A source that fails is recorded by the cycle itself (``collector_runs``, and
``last_cycle.errors``); an exception that escapes a whole cycle (the store failing) or the
``on_cycle`` callback is logged, kept in ``last_error``, and the loop goes on at the next
interval: the thread never dies silently.

One per store and process: :func:`ensure_background` keeps a registry keyed by
:attr:`collectors.store.Store.uri`, so a script that runs again (Streamlit reruns the page on
every interaction) finds the collector already running instead of starting a second writer.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from collectors.cycle import Collector, CycleReport, utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from collectors.config import Config
    from collectors.store import Store

__all__ = [
    "BackgroundCollector",
    "BackgroundError",
    "CycleSummary",
    "ensure_background",
    "stop_background",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """One finished cycle: when it ran, and rows and errors per source (over all targets)."""

    run_id: str
    started: datetime
    ended: datetime
    rows: Mapping[str, int]  # source → rows stored
    errors: Mapping[str, tuple[str, ...]]  # source → "<account>/<region>: <kind>: <error>"
    report: CycleReport = field(repr=False, compare=False)

    @property
    def when(self) -> datetime:
        return self.ended

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @classmethod
    def of(cls, report: CycleReport, started: datetime, ended: datetime) -> CycleSummary:
        rows: dict[str, int] = {}
        errors: dict[str, list[str]] = {}
        for run in report.runs:
            rows[run.source] = rows.get(run.source, 0) + run.rows
            if run.error is not None:
                errors.setdefault(run.source, []).append(
                    f"{run.account}/{run.region}: {run.error.kind}: {run.error}"
                )
        return cls(
            report.run_id,
            started,
            ended,
            rows,
            {source: tuple(lines) for source, lines in errors.items()},
            report,
        )


@dataclass(frozen=True, slots=True)
class BackgroundError:
    """An exception that escaped a whole cycle (``stage="cycle"``) or ``on_cycle``."""

    when: datetime
    stage: str
    error: BaseException = field(compare=False)
    traceback: str = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.stage} failed at {self.when:%Y-%m-%d %H:%M:%S}Z: {self.error}"


class BackgroundCollector:
    """Collects into ``store`` every ``interval_s`` seconds on a daemon thread.

    ``on_cycle(summary)`` is called on that thread after each completed cycle (the place for a
    detection step). ``clock`` is the collector's clock (default: UTC now), which also stamps
    the summaries. Each cycle starts ``interval_s`` after the previous one started, or at once
    when it overran.

    ``last_cycle`` is the latest completed cycle (None before the first); ``last_error`` the
    failure of the latest attempt — a cycle that raised, or ``on_cycle`` — and None once a
    cycle and its callback complete again. Both are safe to read from any thread.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        interval_s: float | None = None,
        on_cycle: Callable[[CycleSummary], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.interval_s = float(config.intervals.metrics if interval_s is None else interval_s)
        if self.interval_s < 0:
            raise ValueError(f"interval_s must not be negative, got {self.interval_s:g}")
        self.on_cycle = on_cycle
        self.collector = Collector(config, store, clock=clock or utc_now)
        self.cycles = 0  # completed cycles since the collector was made
        self.last_cycle: CycleSummary | None = None
        self.last_error: BackgroundError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"BackgroundCollector({self.store.uri!r}, every {self.interval_s:g} s, {state})"

    @property
    def running(self) -> bool:
        """The thread is alive and has not been asked to stop."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def start(self) -> BackgroundCollector:
        """Start the thread (the first cycle runs at once); a no-op when it is running.

        Raises ``RuntimeError`` when a stopped thread has not ended yet (its cycle is still
        under way): starting another would put two writers on the store.
        """
        with self._guard:
            if self.running:
                return self
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(
                    "the previous collection thread is still finishing its cycle; call stop() "
                    "with a longer timeout before starting again"
                )
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name=f"stormwatch-collect {self.store.uri}", daemon=True
            )
            self._thread.start()
            return self

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Ask the thread to stop and wait up to ``timeout`` seconds; True when it has ended.

        A cycle under way is finished first (its writes are atomic either way); a thread still
        busy after ``timeout`` ends on its own after that cycle.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self._cycle()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - began)))

    def _cycle(self) -> None:
        clock = self.collector.clock
        started = clock().astimezone(UTC)
        try:
            report = self.collector.once()
        except Exception as exc:  # the store itself failed; try again next interval
            self._failed("cycle", exc)
            return
        summary = CycleSummary.of(report, started, clock().astimezone(UTC))
        self.last_cycle = summary
        self.cycles += 1
        self.last_error = None
        log.info("background %s", report.summary())
        if self.on_cycle is not None:
            try:
                self.on_cycle(summary)
            except Exception as exc:
                self._failed("on_cycle", exc)

    def _failed(self, stage: str, exc: Exception) -> None:
        log.exception("background collection: %s failed", stage)
        self.last_error = BackgroundError(
            self.collector.clock().astimezone(UTC),
            stage,
            exc,
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )


_registry: dict[str, BackgroundCollector] = {}
_registry_guard = threading.Lock()


def ensure_background(
    config: Config,
    store: Store,
    *,
    interval_s: float | None = None,
    on_cycle: Callable[[CycleSummary], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> BackgroundCollector:
    """The process's running collector for ``store``, started if need be.

    The first call for a store makes and starts one; later calls (with the same store, by
    :attr:`~collectors.store.Store.uri`) return that same instance, restarted if it was
    stopped, and ignore their other arguments: :func:`stop_background` first to change them.
    """
    with _registry_guard:
        existing = _registry.get(store.uri)
        if existing is None:
            existing = BackgroundCollector(
                config, store, interval_s=interval_s, on_cycle=on_cycle, clock=clock
            )
            _registry[store.uri] = existing
        if not existing.running:
            existing.start()
        return existing


def stop_background(store: Store, timeout: float | None = 30.0) -> bool:
    """Stop and forget the process's collector for ``store``; True when none is left running.

    A collector whose cycle outlasts ``timeout`` stays registered, so that
    :func:`ensure_background` cannot start a second writer beside it.
    """
    with _registry_guard:
        existing = _registry.get(store.uri)
        if existing is None:
            return True
        ended = existing.stop(timeout)
        if ended:
            del _registry[store.uri]
        return ended
