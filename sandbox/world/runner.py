"""The world in an endpoint: provision each account, backfill history, then keep it live.

``World(endpoint).start()`` provisions every account through boto3, simulates the last ``days``
at one-minute resolution and writes what AWS would hold — metrics into the CloudWatch store,
sampled traces into X-Ray, messages into the DLQs, breaker items into DynamoDB. ``tick(now)``
simulates the minutes since the last call (live mode); ``incidents()`` is the ground truth so far.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.endpoint.testing import sandbox_client
from sandbox.world.emit_metrics import emit_metrics
from sandbox.world.emit_state import sync_dlq_messages, write_breaker_items
from sandbox.world.ground_truth import write_incidents
from sandbox.world.provision import provision
from sandbox.world.scenarios import check_scenario
from sandbox.world.simulation import Simulator
from sandbox.world.topology import ACCOUNTS, Account
from sandbox.world.traces import DEFAULT_TRACE_HOURS, emit_traces, incident_windows

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from sandbox.endpoint.server import Endpoint
    from sandbox.world.model import Incident, SimulationResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Report:
    """What a backfill (or a live tick) wrote, and how long each part took (seconds)."""

    minutes: int = 0
    series: int = 0
    datapoints: int = 0
    traces: int = 0
    segments: int = 0
    dlq_messages: int = 0
    breaker_items: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0

    def timed(self, part: str, started: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - started

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (
            f"{self.minutes:,} account-minutes: {self.datapoints:,} datapoints in "
            f"{self.series:,} series, {self.traces:,} traces ({self.segments:,} segments), "
            f"{self.dlq_messages:,} DLQ messages, {self.breaker_items} breaker items; {parts}; "
            f"peak RSS {self.peak_rss_mb:,.0f} MB"
        )


class World:
    """The simulated accounts living in one endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        scenario: str = "demo",
        seed: int = 0,
        days: float = 7.0,
        now: datetime | None = None,
        accounts: Sequence[Account] = ACCOUNTS,
        trace_hours: float | None = DEFAULT_TRACE_HOURS,
        trace_incidents: bool = False,
    ) -> None:
        self.scenario = check_scenario(scenario)
        if days <= 0:
            raise ValueError(f"days must be positive, got {days}")
        self.endpoint = endpoint
        self.seed = seed
        self.days = days
        self.accounts = tuple(accounts)
        self.trace_hours = trace_hours
        self.trace_incidents = trace_incidents
        moment = now or datetime.now(UTC)
        self.now = moment.replace(second=0, microsecond=0)
        self._simulators: dict[str, Simulator] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._backfills: list[SimulationResult] = []
        self._lock = threading.Lock()

    def client(self, account: Account, service: str) -> Any:
        """A boto3 client in ``account`` (a role assumed through STS), made once."""
        key = (account.account_id, service)
        if key not in self._clients:
            self._clients[key] = sandbox_client(
                self.endpoint.url, service, account=account.account_id, region=account.region
            )
        return self._clients[key]

    def start(self) -> Report:
        """Provision every account and backfill ``days`` of history up to ``now``."""
        report = Report()
        for account in self.accounts:
            started = time.perf_counter()
            provision(account, lambda service, a=account: self.client(a, service))
            report.timed("provision", started)
            simulator = Simulator(
                account,
                self.scenario,
                self.seed,
                now=self.now,
                start=self.now - timedelta(days=self.days),
            )
            self._simulators[account.account_id] = simulator
            started = time.perf_counter()
            result = simulator.advance(self.now)
            report.timed("simulate", started)
            self._backfills.append(result)
            self._emit(account, result, report, backfill=True)
        report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return report

    def backfill_results(self) -> list[SimulationResult]:
        """The backfill of each account (for the NAB export and the tests)."""
        return list(self._backfills)

    def tick(self, now: datetime | None = None) -> Report:
        """Simulate and emit the whole minutes since the last tick (live mode)."""
        until = now or datetime.now(UTC)
        report = Report()
        with self._lock:
            for account in self.accounts:
                simulator = self._simulators[account.account_id]
                started = time.perf_counter()
                result = simulator.advance(until)
                report.timed("simulate", started)
                if len(result.timestamps):
                    self._emit(account, result, report, backfill=False)
        return report

    def _emit(
        self, account: Account, result: SimulationResult, report: Report, *, backfill: bool
    ) -> None:
        services = self.endpoint.services
        report.minutes += len(result.timestamps)
        started = time.perf_counter()
        stats = emit_metrics(result, services.metrics.get(account.account_id, account.region).store)
        report.series += stats.series
        report.datapoints += stats.datapoints
        report.timed("metrics", started)

        started = time.perf_counter()
        windows = incident_windows(result) if backfill and self.trace_incidents else ()
        traces = emit_traces(
            result,
            services.xray.get(account.account_id, account.region),
            seed=self.seed,
            trace_hours=self.trace_hours if backfill else None,
            windows=windows,
            workers=None if backfill else 1,
        )
        report.traces += traces.traces
        report.segments += traces.segments
        report.timed("traces", started)

        started = time.perf_counter()
        depths = sync_dlq_messages(account, result.dlq_messages)
        report.dlq_messages += sum(depths.values())
        report.breaker_items += write_breaker_items(
            account, result.breakers, self.client(account, "dynamodb")
        )
        report.timed("state", started)

    def incidents(self) -> list[Incident]:
        """Ground truth across every account, over everything simulated so far."""
        with self._lock:
            return [i for s in self._simulators.values() for i in s.incidents()]

    def write_truth(self, path: str | Path) -> Path:
        return write_incidents(path, self.incidents())

    def run_live(
        self,
        stop: threading.Event,
        *,
        on_tick: Callable[[Report], None] | None = None,
        truth_path: str | Path | None = None,
    ) -> None:
        """Tick at every wall-clock minute boundary until ``stop`` is set."""
        while not stop.is_set():
            now = datetime.now(UTC)
            next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            if stop.wait((next_minute - now).total_seconds() + 0.5):
                return
            try:
                report = self.tick(datetime.now(UTC))
                if truth_path is not None:
                    self.write_truth(truth_path)
            except Exception:  # one bad minute must not end the live world
                log.exception("live tick failed; the next minute will retry")
                continue
            if on_tick is not None:
                on_tick(report)
