"""The collection cycle: every source, for every account and region, isolated and recorded.

One cycle runs each (account, region) target on its own thread; inside a target the sources
run one after another — discovery first, then metrics (from each series' watermark, minus the
overlap), queues, breakers, X-Ray edges and traces. A source that fails (AccessDenied,
throttling that outlasted the retries, a timeout, a dropped connection, a bad item) is recorded
in ``collector_runs`` with its error and the API calls it made, and the others go on: a failure
is never stored as "no data". Every source's rows are committed to the store as soon as they
are read — metrics every ``metrics_flush_rows`` rows, whole series at a time — so a crash loses
at most what was in flight, which the next cycle fills in (a series' watermark is its newest
stored datapoint, so it advances only with its committed rows).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from collectors import schema
from collectors._frame import to_frame
from collectors.aws import ApiCallCounter, ClientFactory, classify
from collectors.breakers import collect_breakers
from collectors.cloudwatch import DEFAULT_FLUSH_ROWS, collect_metrics
from collectors.discovery import discover, inventory_frame
from collectors.errors import SourceError
from collectors.queues import collect_queues
from collectors.xray import collect_edges, collect_traces

if TYPE_CHECKING:
    from collections.abc import Callable

    from collectors.config import AccountConfig, Config
    from collectors.discovery import Inventory
    from collectors.store import Store

log = logging.getLogger(__name__)

SOURCES = ("inventory", "metrics", "queues", "breakers", "traces", "edges")
# Sources that read the state of now (no history): a backfill reads them at its last step only.
SNAPSHOT_SOURCES = ("queues", "breakers")
# The AWS service each source reads (discovery reads several), for naming IAM actions.
SOURCE_SERVICE = {
    "metrics": "cloudwatch",
    "queues": "sqs",
    "breakers": "dynamodb",
    "traces": "xray",
    "edges": "xray",
}
EDGE_WINDOW_S = 300
TRACE_SAMPLE = 200  # traces read in full (BatchGetTraces) per target and cycle


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class SourceRun:
    """One source for one account and region in one cycle: a ``collector_runs`` row."""

    run_id: str
    source: str
    account: str
    region: str
    started: datetime
    ended: datetime | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    error: SourceError | None = None

    def row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "account": self.account,
            "region": self.region,
            "started": self.started,
            "ended": self.ended,
            "api_calls": json.dumps(self.api_calls, sort_keys=True),
            "rows": self.rows,
            "error": None if self.error is None else str(self.error),
            "error_kind": None if self.error is None else self.error.kind,
        }


@dataclass(slots=True)
class CycleReport:
    run_id: str
    runs: list[SourceRun]

    @property
    def failed(self) -> list[SourceRun]:
        return [r for r in self.runs if r.error is not None]

    def calls(self, operation: str | None = None) -> int:
        """API calls the cycle made (of ``"service:Operation"`` when given)."""
        return sum(n for r in self.runs for op, n in r.api_calls.items() if operation in (None, op))

    def summary(self) -> str:
        rows = sum(r.rows for r in self.runs)
        failed = ", ".join(
            f"{r.source}@{r.account}/{r.region}: {r.error.kind}" for r in self.failed if r.error
        )
        return (
            f"cycle {self.run_id[:8]}: {len(self.runs)} source runs, {rows:,} rows, "
            f"{self.calls():,} API calls" + (f"; failed: {failed}" if failed else "")
        )


class Collector:
    """Collects every configured target into ``store``; ``once``, ``run`` and ``backfill``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime] = utc_now,
        factory: Callable[..., ClientFactory] = ClientFactory,
        metrics_flush_rows: int = DEFAULT_FLUSH_ROWS,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        # Metrics are committed every this many rows (whole series), not once per cycle: a
        # first read of thousands of series never sits in memory, or in one write, whole.
        self.metrics_flush_rows = metrics_flush_rows
        self._factory = factory
        self._factories: dict[tuple[str, str], tuple[ClientFactory, ApiCallCounter]] = {}
        # The last discovery per target: re-read every ``intervals.inventory`` seconds, not
        # every cycle (at 1,000 functions discovery is thousands of calls).
        self._inventories: dict[tuple[str, str], tuple[datetime, Inventory]] = {}
        # How far each X-Ray read got, per (table, account, region): an account with no
        # traces stores no rows, and must not re-read its whole lookback every cycle.
        self._covered: dict[tuple[str, str, str], datetime] = {}
        self._lock = threading.Lock()

    # -- one cycle -----------------------------------------------------------------------------

    def once(
        self,
        now: datetime | None = None,
        *,
        sources: tuple[str, ...] = SOURCES,
        lookback: timedelta | None = None,
    ) -> CycleReport:
        """One cycle over every target, at ``now`` (default: the clock).

        ``lookback`` (default ``intervals.lookback``) is how far back a source with no stored
        data, or data older than that, starts reading (``backfill`` reaches over a whole chunk).
        """
        moment = (now or self.clock()).astimezone(UTC)
        reach = (
            lookback if lookback is not None else timedelta(seconds=self.config.intervals.lookback)
        )
        run_id = uuid.uuid4().hex
        targets = self.config.targets()
        workers = max(1, min(len(targets), self.config.aws.concurrency))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
            futures = [
                pool.submit(self._target, run_id, account, region, moment, sources, reach)
                for account, region in targets
            ]
            runs = [run for future in futures for run in future.result()]
        self._record(runs)
        return CycleReport(run_id, runs)

    def _record(self, runs: list[SourceRun]) -> None:
        if runs:
            self.store.write(
                "collector_runs", to_frame(schema.COLLECTOR_RUNS, [r.row() for r in runs])
            )

    def _clients(self, account: AccountConfig, region: str) -> tuple[ClientFactory, ApiCallCounter]:
        key = (account.name, region)
        with self._lock:
            if key not in self._factories:
                counter = ApiCallCounter()
                factory = self._factory(account, region, options=self.config.aws, counter=counter)
                self._factories[key] = (factory, counter)
            return self._factories[key]

    def _target(
        self,
        run_id: str,
        account: AccountConfig,
        region: str,
        now: datetime,
        sources: tuple[str, ...],
        lookback: timedelta,
    ) -> list[SourceRun]:
        factory, counter = self._clients(account, region)
        label = account.account_id or account.name
        runs: list[SourceRun] = []

        def step(source: str, work: Callable[[SourceRun], int]) -> bool:
            run = SourceRun(run_id, source, label, region, self.clock().astimezone(UTC))
            with counter.tally() as counts:
                try:
                    run.rows = work(run)
                except Exception as exc:  # isolated: recorded, and the other sources go on
                    run.error = (
                        exc
                        if isinstance(exc, SourceError)
                        else classify(
                            exc, service=SOURCE_SERVICE.get(source), account=label, region=region
                        )
                    )
                    log.warning("%s failed for %s/%s: %s", source, label, region, run.error)
            run.api_calls = dict(counts().calls)
            run.ended = self.clock().astimezone(UTC)
            runs.append(run)
            return run.error is None

        try:
            label = factory.account_id()
        except Exception as exc:
            run = SourceRun(run_id, "inventory", label, region, now, now)
            run.error = classify(
                exc, service="sts", operation="GetCallerIdentity", account=label, region=region
            )
            return [run]

        inventory: list[Inventory] = []
        retried: list[pd.DataFrame] = []  # the traces step's retried calls, for the edges step
        # GetQueueAttributes answers discovery read in this cycle (depth counters included),
        # by queue URL: the queues source reuses them rather than asking each queue again.
        queue_answers: dict[str, Any] = {}
        cached = self._inventories.get((account.name, region))
        max_age = timedelta(seconds=self.config.intervals.inventory)
        if "inventory" in sources and (
            cached is None or not timedelta(0) <= now - cached[0] < max_age
        ):
            discovered = step(
                "inventory", lambda _run: self._inventory(factory, label, region, now, inventory)
            )
            if discovered:
                queue_answers.update(inventory[0].queue_attributes)
                # Kept for later cycles without the answers: their depths are of this moment.
                kept = replace(inventory[0], queue_attributes={})
                self._inventories[(account.name, region)] = (now, kept)
        else:
            discovered = cached is not None
            if cached is not None:
                inventory.append(cached[1])
        for source in sources:
            if source == "inventory":
                continue
            if source in ("metrics", "queues") and not discovered:
                run = SourceRun(run_id, source, label, region, now, now)
                run.error = SourceError(
                    f"{source} for {label}/{region} skipped: discovery failed this cycle",
                    kind="skipped",
                )
                runs.append(run)
                continue
            work: Callable[[SourceRun], int] = {
                "metrics": lambda run: self._metrics(
                    factory, inventory[0], label, region, now, lookback, run
                ),
                "queues": lambda _run: self._queues(
                    factory, inventory[0], label, region, now, queue_answers
                ),
                "breakers": lambda _run: self._breakers(factory, account, label, region, now),
                "traces": lambda _run: self._traces(factory, label, region, now, lookback, retried),
                "edges": lambda _run: self._edges(factory, label, region, now, lookback, retried),
            }[source]
            step(source, work)
        return runs

    # -- sources -------------------------------------------------------------------------------

    def _inventory(
        self, factory: ClientFactory, account: str, region: str, now: datetime, out: list[Inventory]
    ) -> int:
        tables = [s.table for s in self.config.breaker_sources_for(factory.account, region)]
        inventory = discover(
            factory.client,
            account=account,
            region=region,
            filters=self.config.discovery,
            now=now,
            breaker_tables=tables,
        )
        out.append(inventory)
        frame = inventory_frame(inventory)
        self.store.write("inventory", frame)
        return len(frame)

    def _metrics(
        self,
        factory: ClientFactory,
        inventory: Inventory,
        account: str,
        region: str,
        now: datetime,
        lookback: timedelta,
        run: SourceRun,
    ) -> int:
        """Reads every series from its watermark and commits the rows every
        ``metrics_flush_rows`` (whole series at a time); ``run.rows`` counts what is committed,
        so a run that fails part-way records the rows it did store."""
        watermarks = self._watermarks(account, region, now, lookback)

        def commit(frame: pd.DataFrame) -> None:
            self.store.write("metrics", frame)
            run.rows += len(frame)

        collect_metrics(
            factory.client("cloudwatch"),
            inventory,
            watermarks=watermarks,
            now=now,
            overlap=timedelta(seconds=self.config.intervals.overlap),
            max_lookback=lookback,
            sink=commit,
            flush_rows=self.metrics_flush_rows,
        )
        return run.rows

    def _watermarks(
        self, account: str, region: str, now: datetime, lookback: timedelta
    ) -> dict[tuple[Any, ...], datetime]:
        """The latest stored datapoint of each series of this target (within the lookback)."""
        latest = self.store.latest(
            "metrics",
            by=["namespace", "metric", "dimensions", "stat", "period_s"],
            start=now - lookback,
            filters={"account": account, "region": region},
            columns=[],
        )
        return {
            (r.namespace, r.metric, r.dimensions, r.stat, int(r.period_s)): r.ts.to_pydatetime()
            for r in latest.itertuples()
        }

    def _queues(
        self,
        factory: ClientFactory,
        inventory: Inventory,
        account: str,
        region: str,
        now: datetime,
        known: dict[str, Any],
    ) -> int:
        ages = self.store.latest(
            "metrics",
            by=["dimensions"],
            start=now - timedelta(minutes=15),
            filters={
                "account": account,
                "region": region,
                "namespace": "AWS/SQS",
                "metric": "ApproximateAgeOfOldestMessage",
            },
            columns=["value"],
        )
        oldest = {
            str(r.dimensions).removeprefix("QueueName="): float(r.value) for r in ages.itertuples()
        }
        # Queues that rules and functions send failures to are DLQs too (not only redrive ones).
        senders = {
            q.name: [_sender(arn) for arn in q.failure_senders]
            for q in inventory.queues
            if q.failure_senders
        }
        frame = collect_queues(
            factory.client("sqs"),
            now=now,
            oldest_age=oldest,
            other_sources=senders,
            account=account,
            region=region,
            known=known,
        )
        self.store.write("queues", frame)
        return len(frame)

    def _breakers(
        self,
        factory: ClientFactory,
        account_config: AccountConfig,
        account: str,
        region: str,
        now: datetime,
    ) -> int:
        rows = 0
        failures: list[SourceError] = []
        for source in self.config.breaker_sources_for(account_config, region):
            try:
                frame = collect_breakers(
                    factory.client("dynamodb"), source, now=now, account=account, region=region
                )
            except Exception as exc:  # one table failing does not hide the others
                failures.append(classify(exc, service="dynamodb", account=account, region=region))
                continue
            self.store.write("breakers", frame)
            rows += len(frame)
        if failures:
            kinds = {f.kind for f in failures}
            kind = kinds.pop() if len(kinds) == 1 and rows == 0 else "partial"
            raise SourceError("; ".join(str(f) for f in failures), kind=kind)
        return rows

    def _traces(
        self,
        factory: ClientFactory,
        account: str,
        region: str,
        now: datetime,
        lookback: timedelta,
        out: list[pd.DataFrame],
    ) -> int:
        start, end = self._window("traces", account, region, now, lookback)
        # Traces are a sample: read the summaries of the last X-Ray interval only (reading every
        # summary since the lookback costs a page per 100 traces, ~100 pages an hour in prod).
        start = max(start, end - timedelta(seconds=self.config.intervals.xray))
        if start >= end:
            return 0
        sample = collect_traces(
            factory.client("xray"),
            start=start,
            end=end,
            limit=TRACE_SAMPLE,
            now=now,
            account=account,
            region=region,
        )
        out.append(sample.edge_retries)
        self.store.write("traces", sample.traces)
        self._covered[("traces", account, region)] = end
        return len(sample.traces)

    def _edges(
        self,
        factory: ClientFactory,
        account: str,
        region: str,
        now: datetime,
        lookback: timedelta,
        retried: list[pd.DataFrame],
    ) -> int:
        start, end = self._window("edges", account, region, now, lookback)
        if start >= end:
            return 0
        frame = collect_edges(
            factory.client("xray"),
            start=start,
            end=end,
            window_s=EDGE_WINDOW_S,
            now=now,
            retries=retried[0] if retried else None,
            account=account,
            region=region,
        )
        self.store.write("edges", frame)
        self._covered[("edges", account, region)] = end
        return len(frame)

    def _window(
        self, table: str, account: str, region: str, now: datetime, lookback: timedelta
    ) -> tuple[datetime, datetime]:
        """[start, end) to read: from where the stored data stops, to the last whole window."""
        end = now.replace(second=0, microsecond=0)
        end -= timedelta(minutes=end.minute % (EDGE_WINDOW_S // 60))
        start = self._resume(table, account, region, end, lookback)
        covered = self._covered.get((table, account, region))
        if covered is not None:
            start = min(end, max(start, covered))
        return start, end

    def _resume(
        self, table: str, account: str, region: str, end: datetime, lookback: timedelta
    ) -> datetime:
        """Where the last successful cycle of ``table`` left off (at most the lookback ago)."""
        floor = end - lookback
        spec = schema.TABLES[table]
        latest = self.store.read(
            table,
            start=floor,
            end=end,
            filters={"account": account, "region": region},
            columns=[spec.time_column],
        )
        if latest.empty:
            return floor.replace(second=0, microsecond=0)
        last = pd.Timestamp(latest[spec.time_column].max()).to_pydatetime()
        step = timedelta(seconds=EDGE_WINDOW_S) if table == "edges" else timedelta(seconds=1)
        return min(end, last + step)

    # -- loops ---------------------------------------------------------------------------------

    def run(
        self, stop: threading.Event, *, on_cycle: Callable[[CycleReport], None] | None = None
    ) -> None:
        """Cycle every ``intervals.metrics`` seconds until ``stop`` is set."""
        interval = self.config.intervals.metrics
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self.once()
            except Exception:  # the store itself failed; try again next cycle
                log.exception("collection cycle failed")
            else:
                if on_cycle is not None:
                    on_cycle(report)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def backfill(
        self,
        days: float,
        *,
        now: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[CycleReport]:
        """Collect the last ``days`` in ``intervals.backfill_chunk`` steps, oldest first.

        Each step is a cycle at the end of its chunk, so every source reads only that chunk
        (metrics from their watermarks; X-Ray windows from where the last step stopped). Queue
        depths and breaker items have no history: AWS answers with their state now, so they
        are read once, at the last step, and never stamped with a past step's time.
        """
        end = (now or self.clock()).astimezone(UTC).replace(second=0, microsecond=0)
        chunk = timedelta(seconds=self.config.intervals.backfill_chunk)
        start = end - timedelta(days=days)
        steps: list[datetime] = []
        moment = start + chunk
        while moment < end:
            steps.append(moment)
            moment += chunk
        steps.append(end)
        # Reach back over the whole chunk on each step (the watermark does the rest).
        intervals = self.config.intervals
        lookback = max(
            timedelta(seconds=intervals.lookback), chunk + timedelta(seconds=intervals.overlap)
        )
        reports = []
        past = tuple(s for s in SOURCES if s not in SNAPSHOT_SOURCES)
        for index, moment in enumerate(steps, 1):
            sources = SOURCES if index == len(steps) else past
            reports.append(self.once(moment, sources=sources, lookback=lookback))
            if progress is not None:
                progress(index, len(steps))
        return reports


def _sender(arn: str) -> str:
    """``lambda:<name>`` or ``events:<rule>`` from a function or rule ARN."""
    parts = arn.split(":")
    if parts[2] == "lambda":
        return f"lambda:{parts[6] if len(parts) > 6 else parts[-1]}"
    return f"{parts[2]}:{parts[-1].split('/')[-1]}"
