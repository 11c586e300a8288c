"""The simulation engine: one account's serverless system, minute by minute, with no I/O.

``simulate(account, scenario, seed, start, end, now=...)`` returns a backfill as a
:class:`~sandbox.world.model.SimulationResult`; a :class:`Simulator` keeps its state between
calls of :meth:`Simulator.advance` for live mode. All times are UTC; a run covers the whole
minutes of ``[start, end)`` (both floored to the minute).

Determinism: every random number of a minute comes from a generator keyed by (seed, account,
minute) (:mod:`sandbox.world.randomness`), so a run split into chunks gives exactly the arrays
and ledgers of one run over the same minutes, and the same seed gives the same world.

The model, per minute (a reviewer should know these choices):

* **Traffic** — orders ~ Poisson(:func:`sandbox.world.traffic.expected_orders`). Each order
  sends Poisson(``messages_per_order``) messages to each source queue, matches
  Poisson(``events_per_order``) events on each rule and starts Poisson(``executions_per_order``)
  executions; API functions are invoked once per order, schedule functions once a minute.
  Work fans out from the order count, not from the API function's success.
* **Calls** — a function makes ``per_invocation`` calls per unit of work (an invocation; for
  SQS consumers, a record). Each attempt is throttled (429, retryable), faults (5xx,
  retryable), errors (other 4xx, *not* retried) or succeeds. The base error rate is split 40 %
  4xx / 60 % 5xx; scenarios add faults and latency. **Overload**: a dependency serves at most
  ``capacity_rps``; the share of attempts above it is throttled, and since throttled attempts
  are retried the throttle rate is the fixed point of p = 1 - capacity / attempts(p), so
  callers that retry more (``AGGRESSIVE_RETRY``: 6 attempts, no backoff) raise it for everyone.
  Latency rises with utilisation (x (1 + 3 rho^4)); throttled attempts answer in
  ``THROTTLE_LATENCY_MS``. Attempts per request are drawn exactly (binomial per attempt
  round), so ``ok + errors + throttles + faults == attempts`` and ``attempts - requests +
  short_circuited == retries`` hold per minute.
* **Duration** — median = own work + calls per invocation x expected request time (attempts x
  latency + expected backoff waits: full jitter waits half the capped exponential delay);
  log-normal spread (sigma ``DURATION_SIGMA``). The share above the timeout times out: the call
  in flight becomes a fault and the unit fails. SQS batch duration scales with batch size.
* **Breakers** — :mod:`sandbox.world.breaker_policy`; shared by all callers of a dependency;
  short-circuited requests fail at once with no attempt. Breaker items are refreshed every
  minute by the health check (``updated_at`` = that minute + a per-item offset) unless a
  scenario freezes the heartbeat; items in ``no_timestamp`` have no stamp (NaN).
* **Lambda** — ``Invocations`` include every retry (SQS redeliveries, async retries, Step
  Functions retries). Transient Lambda errors at ``LAMBDA_TRANSIENT_ERROR_RATE`` per
  invocation (at most one per function and minute: n x rate << 1, so one uniform decides).
  ``Errors``: a unit that fails; for SQS consumers with ReportBatchItemFailures an
  invocation errors only when every record failed (the Powertools batch processor raises
  then), without it any failing record fails the batch. Throttles only for synchronous (API)
  functions, from concurrency above the reserved (or account) limit, using the previous
  minute's duration; queued work (SQS, async, Step Functions) is not throttled in this model.
  Async: retries after 1 then 2 more minutes (AWS's schedule), up to
  ``maximum_retry_attempts`` and ``maximum_event_age_s``; events that exhaust them are counted
  in ``AsyncEventsDropped`` (AWS counts an event there even when it is first sent to a DLQ or
  on-failure destination) and are sent to the on-failure destination or legacy DLQ if any.
  DeadLetterErrors / DestinationDeliveryFailures stay 0 (no permission faults simulated).
* **SQS** — a message is received in the minute it is sent; a failed one becomes visible again
  after the visibility timeout (rounded up to whole minutes) and is received again; when it
  becomes visible with ``max_receive_count`` receives it is moved to the DLQ (``moved_out`` on
  the source, ``moved_in`` on the DLQ, not in the DLQ's ``sent``). Poison messages always fail.
  A batch holds the messages that arrive in about ``POLL_WINDOW_S`` (1 .. ``batch_size``). A
  message still being processed when its visibility timeout expires (duration above the
  timeout but within the function timeout) is received again: the misconfigured queue
  delivers duplicates. Levels are exact: visible + not visible == messages in the queue.
* **DLQs** keep messages until a ``Redrive`` injection moves redrive-policy messages back to
  their source (as new messages, ``moved_in`` on the source) or they expire ``dlq_retention_s``
  after their *original* enqueue (as SQS does). ``visible`` of a DLQ equals the ledger count.
  ``oldest_age_s`` of a DLQ counts from arrival in the DLQ, as CloudWatch reports it.
* **EventBridge** invokes Lambda asynchronously: delivery succeeds once Lambda has queued the
  event, so function failures never reach the rule's retry policy (they are Lambda's async
  retries). Delivery fails only where a ``DeliveryFailure`` injection says so; then the target's
  retry policy applies (retry after min(2^n, 60) minutes) and the target DLQ receives a real
  send. ``Invocations`` = delivered + permanently failed events.
* **Step Functions** — tasks run in order within the minute; a Task with Retry retries a failed
  invocation up to ``SFN_RETRY_MAX_ATTEMPTS`` times; a Task without Retry fails the execution
  on the first failed invocation (Catch leads to a Fail state: the execution fails either way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.world.breaker_policy import DEFAULT_POLICY, BreakerPolicy, CircuitBreaker
from sandbox.world.model import (
    BreakerState,
    BreakerTimeline,
    BreakerTransition,
    DlqMessage,
    EdgeMinutes,
    FunctionMinutes,
    QueueMinutes,
    RuleMinutes,
    SimulationResult,
    StateMachineMinutes,
    TableMinutes,
)
from sandbox.world.randomness import MinuteStreams, message_id, stream_key
from sandbox.world.scenarios import (
    DEFAULT_SCENARIO,
    History,
    Plan,
    build_plan,
    check_scenario,
    delivery_failure,
    dependency_effect,
    derive_incidents,
    heartbeat_minutes,
    poison_per_minute,
    redrives,
)
from sandbox.world.topology import DependencyKind
from sandbox.world.traffic import expected_orders

if TYPE_CHECKING:
    from sandbox.world.model import Incident
    from sandbox.world.topology import (
        Account,
        Call,
        EventRule,
        Function,
        Queue,
        StateMachine,
    )

MINUTE = 60
LAMBDA_TRANSIENT_ERROR_RATE = 1e-4
DURATION_SIGMA = 0.3
_P99_FACTOR = math.exp(2.326 * DURATION_SIGMA)
_MEAN_FACTOR = math.exp(DURATION_SIGMA**2 / 2)
THROTTLE_LATENCY_MS = 15.0
ACCOUNT_CONCURRENCY = 1_000
POLL_WINDOW_S = 2.0
ASYNC_QUEUE_DELAY_MS = 80.0
ASYNC_RETRY_DELAYS_MIN = (1, 2)  # after the first failure, then after the second
SFN_RETRY_MAX_ATTEMPTS = 3
ERROR_SHARE_OF_BASE = 0.4  # the rest of a dependency's base error rate is 5xx
HEALTH_CHECK_OFFSET_S = 2  # the health check writes item i at second 2 + i of the minute


def _binom(rng: np.random.Generator, n: int, p: float) -> int:
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    return int(rng.binomial(n, p))


def _rare(u: float, n: int, p: float) -> int:
    """0 or 1 failures among ``n`` trials of tiny probability ``p``, from one uniform ``u``.

    Binomial(n, p) with n p << 1 is 0 or 1 almost always; this keeps the draw to one number.
    """
    return 1 if n > 0 and u < n * p else 0


def _split(rng: np.random.Generator, counts: list[int], k: int) -> list[int]:
    """Draw ``k`` items without replacement from groups of ``counts``; how many per group."""
    out = []
    total = sum(counts)
    for count in counts:
        if k <= 0 or count <= 0:
            out.append(0)
            total -= count
            continue
        rest = total - count
        take = k if rest <= 0 else int(rng.hypergeometric(count, rest, k))
        out.append(take)
        k -= take
        total = rest
    return out


def _utc(value: datetime, name: str) -> float:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.timestamp()


class _Columns:
    """Per-minute output lists for one resource, turned into arrays at the end of a chunk."""

    def __init__(self, names: tuple[str, ...], n: int) -> None:
        self.names = names
        for name in names:
            setattr(self, name, [0] * n)

    def __getattr__(self, name: str) -> list[Any]:  # the lists set in __init__ (for mypy)
        raise AttributeError(name)

    def array(self, name: str, dtype: Any = np.int64) -> np.ndarray:
        return np.asarray(getattr(self, name), dtype=dtype)


_EDGE_COUNTS = (
    "requests",
    "short_circuited",
    "attempts",
    "retries",
    "ok",
    "errors",
    "throttles",
    "faults",
    "failed_requests",
)
_EDGE_RATES = ("latency_ms", "p_error", "p_throttle", "p_fault")
_FN_COUNTS = (
    "invocations",
    "errors",
    "throttles",
    "concurrent_executions",
    "async_events_received",
    "async_events_dropped",
    "dead_letter_errors",
    "destination_delivery_failures",
)
_FN_RATES = ("duration_p50_ms", "duration_p99_ms", "async_event_age_ms")
_QUEUE_COUNTS = (
    "sent",
    "received",
    "deleted",
    "visible",
    "not_visible",
    "moved_in",
    "moved_out",
    "expired",
)
_QUEUE_RATES = ("oldest_age_s",)
_RULE_COUNTS = (
    "invocations",
    "failed_invocations",
    "retry_invocation_attempts",
    "invocations_sent_to_dlq",
    "matched_events",
)
_MACHINE_COUNTS = ("started", "succeeded", "failed", "timed_out", "throttled")
_TABLE_COUNTS = ("read_throttle_events", "write_throttle_events", "throttled_requests")
_BREAKER_COUNTS = ("state", "failure_count", "success_count")
_BREAKER_RATES = ("updated_at", "last_transition")


# --- runtime state per resource ---------------------------------------------------------------


class _Dependency:
    __slots__ = (
        "capacity",
        "capacity_rps",
        "edges",
        "fault",
        "host",
        "kind",
        "latency",
        "latency_factor",
        "latency_ms",
        "name",
        "p_error",
        "p_error0",
        "p_fault",
        "p_fault0",
        "p_ok",
        "p_throttle",
    )

    def __init__(
        self,
        name: str,
        kind: DependencyKind,
        host: str,
        latency_ms: float,
        capacity_rps: float,
        base_error_rate: float,
    ) -> None:
        self.name = name
        self.kind = kind
        self.host = host
        self.latency_ms = latency_ms
        self.capacity_rps = capacity_rps
        self.p_error0 = base_error_rate * ERROR_SHARE_OF_BASE
        self.p_fault0 = base_error_rate * (1 - ERROR_SHARE_OF_BASE)
        self.edges: list[_Edge] = []
        # per chunk
        self.fault: list[float] = []
        self.latency_factor: list[float] = []
        self.capacity: list[float] = []
        # per minute
        self.p_ok = 1.0
        self.p_error = 0.0
        self.p_throttle = 0.0
        self.p_fault = 0.0
        self.latency = latency_ms


class _Edge:
    __slots__ = (
        "allowed",
        "breaker",
        "call",
        "dependency",
        "fail_probability",
        "function",
        "max_attempts",
        "per_frac",
        "per_whole",
        "reads",
        "request_ms",
        "requests",
        "rows",
        "stats",
        "waits",
    )

    def __init__(
        self, function: _Function, call: Call, dependency: _Dependency, breaker: _Breaker | None
    ) -> None:
        self.function = function
        self.dependency = dependency
        self.breaker = breaker
        self.call = call
        self.max_attempts = max(1, call.retry.max_attempts)
        retry = call.retry
        self.waits = [
            min(retry.cap_ms, retry.base_ms * 2 ** (j - 1)) * (0.5 if retry.jitter else 1.0)
            for j in range(1, self.max_attempts)
        ]
        self.per_whole = int(call.per_invocation)
        self.per_frac = call.per_invocation - self.per_whole
        self.reads = function.spec.triggered_by == "api"
        self.rows: list[tuple[int, ...] | None] = []  # _EDGE_COUNTS per minute
        self.stats: list[tuple[float, float, float, float]] = []  # _EDGE_RATES per minute
        # per minute
        self.requests = 0
        self.allowed = 0
        self.request_ms = 0.0
        self.fail_probability = 0.0

    def reset_chunk(self, n: int) -> None:
        self.rows = [None] * n
        self.stats = [(0.0, 0.0, 0.0, 0.0)] * n

    def columns(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        zero = (0,) * len(_EDGE_COUNTS)
        counts = np.asarray([r if r is not None else zero for r in self.rows], dtype=np.int64)
        rates = np.asarray(self.stats, dtype=np.float64)
        if not len(self.rows):
            counts = counts.reshape(0, len(_EDGE_COUNTS))
            rates = rates.reshape(0, len(_EDGE_RATES))
        return list(counts.T), list(rates.T)

    def requests_for(self, rng: np.random.Generator, units: int) -> int:
        return units * self.per_whole + _binom(rng, units, self.per_frac)

    def analyse(self, i: int) -> None:
        """Expected time and failure probability of one request at this minute's odds."""
        dep = self.dependency
        self.stats[i] = (dep.latency, dep.p_error, dep.p_throttle, dep.p_fault)
        retryable = dep.p_throttle + dep.p_fault
        attempts = 0.0
        waits = 0.0
        power = 1.0
        for j in range(self.max_attempts):
            attempts += power
            if j > 0:
                waits += power * self.waits[j - 1]
            power *= retryable
        attempt_ms = dep.p_throttle * THROTTLE_LATENCY_MS + (1 - dep.p_throttle) * dep.latency
        self.request_ms = attempts * attempt_ms + waits
        self.fail_probability = min(1.0, dep.p_error * attempts + power)


class _Breaker:
    __slots__ = (
        "cols",
        "heartbeat",
        "last_transition",
        "machine",
        "name",
        "offset",
        "stamped",
        "transitions",
    )

    def __init__(self, name: str, index: int, policy: BreakerPolicy, stamped: bool) -> None:
        self.name = name
        self.machine = CircuitBreaker(name, policy)
        self.offset = HEALTH_CHECK_OFFSET_S + index
        self.stamped = stamped
        self.last_transition = math.nan
        self.cols: _Columns = _Columns((), 0)
        self.transitions: list[BreakerTransition] = []
        self.heartbeat: list[int] = []

    def reset_chunk(self, n: int) -> None:
        self.cols = _Columns(_BREAKER_COUNTS + _BREAKER_RATES, n)
        self.transitions = []


class _Function:
    __slots__ = (
        "cols",
        "destination",
        "duplicate_share",
        "edges",
        "groups",
        "index",
        "kind",
        "last_mean_ms",
        "limit",
        "median_ms",
        "name",
        "own_ms",
        "pending",
        "source",
        "spec",
        "timeout_ms",
        "timeout_share",
        "units",
    )

    def __init__(self, spec: Function) -> None:
        self.spec = spec
        self.name = spec.name
        kind, _, source = spec.triggered_by.partition(":")
        self.kind = kind
        self.source = source
        self.edges: list[_Edge] = []
        self.own_ms = spec.duration_ms
        self.index = 0  # position in the account's functions (its transient-error uniform)
        self.timeout_ms = spec.timeout_s * 1000.0
        self.limit = spec.reserved_concurrency or ACCOUNT_CONCURRENCY
        self.cols: _Columns = _Columns((), 0)
        self.last_mean_ms = spec.duration_ms * _MEAN_FACTOR
        # async invocation state: due minute -> [count, attempt number, first minute]
        self.pending: dict[int, list[list[int]]] = {}
        self.destination: _Dlq | None = None
        # per minute
        self.groups: list[list[int]] = []
        self.units = 0
        self.median_ms = 0.0
        self.timeout_share = 0.0
        self.duplicate_share = 0.0

    def reset_chunk(self, n: int) -> None:
        self.cols = _Columns(_FN_COUNTS + _FN_RATES, n)

    def timing(self, units_per_invocation: float, visibility_s: float | None = None) -> None:
        """Median duration, and the shares that time out / outlive the visibility timeout."""
        if not self.edges:  # own work only: far below any timeout
            self.median_ms = self.own_ms
            return
        unit_ms = 0.0
        for edge in self.edges:
            share = edge.allowed / edge.requests if edge.requests else 1.0
            unit_ms += edge.call.per_invocation * share * edge.request_ms
        median = self.own_ms + units_per_invocation * unit_ms
        self.median_ms = median
        self.timeout_share = _above(median, self.timeout_ms)
        if visibility_s is not None and visibility_s * 1000.0 < self.timeout_ms:
            self.duplicate_share = _above(median, visibility_s * 1000.0) - self.timeout_share
        else:
            self.duplicate_share = 0.0

    def record_invocations(self, i: int, invocations: int, errors: int) -> None:
        if not invocations:
            return
        cols = self.cols
        cols.invocations[i] += invocations
        cols.errors[i] += errors
        median, timeout = self.median_ms, self.timeout_ms
        mean = median * _MEAN_FACTOR
        self.last_mean_ms = mean
        p99 = median * _P99_FACTOR
        cols.duration_p50_ms[i] = median if median < timeout else timeout
        cols.duration_p99_ms[i] = p99 if p99 < timeout else timeout
        busy_ms = invocations * (mean if mean < timeout else timeout)
        cols.concurrent_executions[i] += math.ceil(busy_ms / 60_000.0)


def _above(median_ms: float, limit_ms: float) -> float:
    """Share of a log-normal duration with this median above ``limit_ms``."""
    if median_ms <= 0 or limit_ms > 4.0 * median_ms:  # beyond 4x the median: < 1e-5
        return 0.0
    z = math.log(limit_ms / median_ms) / (DURATION_SIGMA * math.sqrt(2))
    return 0.5 * math.erfc(z)


class _Dlq:
    """A DLQ or on-failure destination: cohorts [source, arrived, first, count, receives, poison,
    serial] and the ledger they expand to."""

    __slots__ = (
        "_first_min",
        "_serial",
        "_serial_minute",
        "cohorts",
        "cols",
        "count",
        "name",
        "retention_min",
        "sources",
    )

    def __init__(self, name: str, retention_s: int) -> None:
        self.name = name
        self.retention_min = retention_s // MINUTE
        self.cohorts: list[list[Any]] = []
        self.count = 0
        self.cols: _Columns = _Columns((), 0)
        self._serial_minute = -1
        self._serial = 0
        self._first_min = math.inf  # earliest original enqueue minute held
        self.sources: dict[str, _SourceQueue] = {}

    def reset_chunk(self, n: int) -> None:
        self.cols = _Columns(_QUEUE_COUNTS + _QUEUE_RATES, n)

    def add(
        self, source: str, minute: int, first: int, count: int, receives: int, poison: bool
    ) -> None:
        if count <= 0:
            return
        if minute != self._serial_minute:
            self._serial_minute, self._serial = minute, 0
        self.cohorts.append([source, minute, first, count, receives, poison, self._serial])
        self._serial += 1
        self.count += count
        self._first_min = min(self._first_min, first)

    def expire(self, minute: int, i: int) -> None:
        if self._first_min + self.retention_min > minute:
            return
        keep = [c for c in self.cohorts if c[2] + self.retention_min > minute]
        expired = self.count - sum(c[3] for c in keep)
        self.cohorts = keep
        self.count -= expired
        self.cols.expired[i] += expired
        self._first_min = min((c[2] for c in keep), default=math.inf)

    def redrive(self, minute: int, i: int) -> None:
        keep = []
        for cohort in self.cohorts:
            source = self.sources.get(cohort[0])
            if source is None:
                keep.append(cohort)
                continue
            count = cohort[3]
            source.enqueue(minute, count, 0, cohort[5], minute)
            source.cols.moved_in[i] += count
            self.cols.moved_out[i] += count
            self.count -= count
        self.cohorts = keep
        self._first_min = min((c[2] for c in keep), default=math.inf)

    def levels(self, minute: int, i: int) -> None:
        cols = self.cols
        cols.visible[i] = self.count
        if self.cohorts:  # kept in arrival order
            cols.oldest_age_s[i] = (minute + 1 - self.cohorts[0][1]) * MINUTE - MINUTE / 2

    def ledger(self, key: int) -> list[DlqMessage]:
        """Every message held, oldest arrival first (a cohort's messages are built once)."""
        out: list[DlqMessage] = []
        for cohort in self.cohorts:
            if len(cohort) == 7:
                cohort.append(self._messages(key, cohort))
            out.extend(cohort[7])
        return out

    def _messages(self, key: int, cohort: list[Any]) -> tuple[DlqMessage, ...]:
        source, arrived, first, count, receives, poison, serial = cohort[:7]
        step = MINUTE / count
        return tuple(
            DlqMessage(
                message_id(key, self.name, source, arrived, serial, j),
                self.name,
                source,
                float(arrived * MINUTE + (j + 0.5) * step),
                float(first * MINUTE + (j + 0.5) * step),
                int(receives),
                bool(poison),
            )
            for j in range(count)
        )


class _SourceQueue:
    """A source queue: cohorts [first minute, count, receives, poison, visible-at minute]."""

    __slots__ = (
        "batch",
        "cohorts",
        "cols",
        "consumer",
        "dlq",
        "name",
        "poison",
        "poison_received",
        "received",
        "retention_min",
        "spec",
        "visibility_min",
    )

    def __init__(self, spec: Queue, consumer: _Function, dlq: _Dlq) -> None:
        self.spec = spec
        self.name = spec.name
        self.consumer = consumer
        self.dlq = dlq
        self.visibility_min = max(1, math.ceil(spec.visibility_timeout_s / MINUTE))
        self.retention_min = spec.retention_s // MINUTE
        self.cohorts: list[list[int]] = []
        self.cols: _Columns = _Columns((), 0)
        self.poison: list[int] = []
        # per minute
        self.batch: list[list[int]] = []
        self.received = 0
        self.poison_received = 0

    def reset_chunk(self, n: int) -> None:
        self.cols = _Columns(_QUEUE_COUNTS + _QUEUE_RATES, n)

    def enqueue(
        self, first: int, count: int, receives: int, poison: bool | int, visible_at: int
    ) -> None:
        if count > 0:
            self.cohorts.append([first, count, receives, int(poison), visible_at])

    def expire(self, minute: int, i: int) -> None:
        expired = 0
        keep = []
        for cohort in self.cohorts:
            if cohort[0] + self.retention_min <= minute:
                expired += cohort[1]
            else:
                keep.append(cohort)
        if expired:
            self.cohorts = keep
            self.cols.expired[i] += expired

    def receive(self, minute: int, i: int) -> None:
        """Receive every visible message; move those out of receives to the DLQ first."""
        batch = []
        keep = []
        moved = 0
        limit = self.spec.max_receive_count
        for cohort in self.cohorts:
            if cohort[4] > minute:
                keep.append(cohort)
            elif cohort[2] >= limit:
                self.dlq.add(self.name, minute, cohort[0], cohort[1], cohort[2], bool(cohort[3]))
                moved += cohort[1]
            else:
                cohort[2] += 1
                batch.append(cohort)
        self.cohorts = keep
        self.batch = batch
        self.received = sum(c[1] for c in batch)
        self.poison_received = sum(c[1] for c in batch if c[3])
        cols = self.cols
        cols.received[i] = self.received
        if moved:
            cols.moved_out[i] += moved
            self.dlq.cols.moved_in[i] += moved

    def settle(
        self,
        rng: np.random.Generator,
        minute: int,
        i: int,
        failed_good: int,
        duplicate_share: float,
    ) -> None:
        """Failed messages wait out the visibility timeout; the rest are deleted."""
        visible_at = minute + self.visibility_min
        if not failed_good and not duplicate_share and not self.poison_received:
            self.cols.deleted[i] = self.received
            self.batch = []
            return
        good = [c for c in self.batch if not c[3]]
        failures = _split(rng, [c[1] for c in good], failed_good)
        failed_of = {id(c): f for c, f in zip(good, failures, strict=True)}
        deleted = 0
        for cohort in self.batch:
            first, count, receives, poison = cohort[0], cohort[1], cohort[2], cohort[3]
            failed = count if poison else failed_of[id(cohort)]
            if failed:
                self.cohorts.append([first, failed, receives, poison, visible_at])
            succeeded = count - failed
            duplicates = _binom(rng, succeeded, duplicate_share) if succeeded else 0
            if duplicates:
                self.cohorts.append([first, duplicates, receives, 0, visible_at])
            deleted += succeeded - duplicates
        self.cols.deleted[i] = deleted
        self.batch = []
        self._merge()

    def _merge(self) -> None:
        if len(self.cohorts) < 2:
            return
        merged: dict[tuple[int, int, int, int], list[int]] = {}
        for cohort in self.cohorts:
            key = (cohort[0], cohort[2], cohort[3], cohort[4])
            if key in merged:
                merged[key][1] += cohort[1]
            else:
                merged[key] = cohort
        self.cohorts = list(merged.values())

    def levels(self, minute: int, i: int) -> None:
        visible = not_visible = 0
        oldest = None
        for first, count, _, _, visible_at in self.cohorts:
            if visible_at <= minute:
                visible += count
            else:
                not_visible += count
            if oldest is None or first < oldest:
                oldest = first
        cols = self.cols
        cols.visible[i] = visible
        cols.not_visible[i] = not_visible
        if oldest is not None:
            cols.oldest_age_s[i] = (minute + 1 - oldest) * MINUTE - MINUTE / 2
        elif self.received:
            cols.oldest_age_s[i] = min(MINUTE, round(self.consumer.median_ms / 1000.0 + 1))


class _Rule:
    __slots__ = (
        "cols",
        "dlq",
        "failure",
        "max_age_min",
        "max_retries",
        "name",
        "pending",
        "spec",
        "target",
    )

    def __init__(self, spec: EventRule, target: _Function, dlq: _Dlq | None) -> None:
        self.spec = spec
        self.name = spec.name
        self.target = target
        self.dlq = dlq
        self.max_retries = spec.target.maximum_retry_attempts
        self.max_age_min = spec.target.maximum_event_age_s // MINUTE
        self.pending: dict[int, list[list[int]]] = {}
        self.failure: list[float] = []
        self.cols: _Columns = _Columns((), 0)

    def reset_chunk(self, n: int) -> None:
        self.cols = _Columns(_RULE_COUNTS, n)

    def step(self, rng: np.random.Generator, minute: int, i: int, orders: int) -> int:
        """Match and deliver; returns events handed to the target's async queue."""
        cols = self.cols
        matched = int(rng.poisson(orders * self.spec.events_per_order)) if orders else 0
        cols.matched_events[i] = matched
        groups = [[matched, 0, minute]]
        groups += self.pending.pop(minute, [])
        p_fail = self.failure[i]
        delivered = 0
        for count, retries, first in groups:
            if count <= 0:
                continue
            if retries:
                cols.retry_invocation_attempts[i] += count
            failed = _binom(rng, count, p_fail)
            delivered += count - failed
            if not failed:
                continue
            delay = min(2**retries, 60)
            if retries < self.max_retries and minute + delay - first <= self.max_age_min:
                self.pending.setdefault(minute + delay, []).append([failed, retries + 1, first])
            else:
                cols.failed_invocations[i] += failed
                cols.invocations[i] += failed
                if self.dlq is not None:
                    self.dlq.add(f"events:{self.name}", minute, minute, failed, 0, False)
                    self.dlq.cols.sent[i] += failed
                    cols.invocations_sent_to_dlq[i] += failed
        cols.invocations[i] += delivered
        return delivered


class _Machine:
    __slots__ = (
        "cols",
        "name",
        "spec",
        "started",
        "tasks",
    )

    def __init__(self, spec: StateMachine, tasks: list[tuple[_Function, bool]]) -> None:
        self.spec = spec
        self.name = spec.name
        self.tasks = tasks
        self.cols: _Columns = _Columns((), 0)
        self.started = 0

    def reset_chunk(self, n: int) -> None:
        self.cols = _Columns(_MACHINE_COUNTS, n)


# --- the simulator ----------------------------------------------------------------------------


@dataclass(slots=True)
class _History:
    """Growing per-minute series of everything ground truth needs."""

    chunks: dict[tuple[str, ...], list[np.ndarray]] = field(default_factory=dict)
    cache: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)

    def append(self, key: tuple[str, ...], values: np.ndarray) -> None:
        self.chunks.setdefault(key, []).append(values)
        self.cache.pop(key, None)

    def get(self, key: tuple[str, ...]) -> np.ndarray:
        if key not in self.cache:
            parts = self.chunks.get(key)
            if parts is None:
                raise KeyError(f"no history series {key}")
            self.cache[key] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return self.cache[key]


class Simulator:
    """One account's world, advanced minute by minute (live mode keeps one of these).

    ``now`` anchors the scenario's timeline (incidents are placed relative to it); ``start``
    (default ``now``) is the first simulated minute. ``advance(until)`` simulates the whole
    minutes from the previous call's end up to ``until`` and returns just that chunk.
    """

    def __init__(
        self,
        account: Account,
        scenario: str = DEFAULT_SCENARIO,
        seed: int = 0,
        *,
        now: datetime,
        start: datetime | None = None,
        policy: BreakerPolicy = DEFAULT_POLICY,
        plan: Plan | None = None,
    ) -> None:
        check_scenario(scenario)
        now_s = _utc(now, "now")
        start_s = now_s if start is None else _utc(start, "start")
        self.account = account
        self.scenario = scenario
        self.seed = seed
        self.plan = plan if plan is not None else build_plan(scenario, account, seed, now_s)
        self._key = stream_key(seed, account.account_id)
        self._streams = MinuteStreams(self._key)
        self._traffic_key = stream_key(seed, account.account_id, "traffic")
        self._minute = int(start_s // MINUTE)
        self._history = _History()
        self._final: dict[int, list[Incident]] = {}  # per injection, once its tail is over
        self._timestamps: list[np.ndarray] = []
        self._build(policy)

    # -- wiring --

    def _build(self, policy: BreakerPolicy) -> None:
        account = self.account
        table = account.breaker_table
        self._dependencies = {
            d.name: _Dependency(
                d.name, d.kind, d.host, d.latency_ms, d.capacity_rps, d.base_error_rate
            )
            for d in account.dependencies
        }
        self._breakers = {
            name: _Breaker(name, index, policy, name not in table.no_timestamp)
            for index, name in enumerate(table.breakers)
        }
        self._functions = {f.name: _Function(f) for f in account.functions}
        for index, fn in enumerate(self._functions.values()):
            fn.index = index
        self._transient: list[float] = []
        self._edges: list[_Edge] = []
        for fn in self._functions.values():
            for call in fn.spec.calls:
                breaker = None
                if call.breaker:
                    if call.breaker not in self._breakers:
                        self._breakers[call.breaker] = _Breaker(
                            call.breaker, len(self._breakers), policy, True
                        )
                    breaker = self._breakers[call.breaker]
                edge = _Edge(fn, call, self._dependencies[call.dependency], breaker)
                fn.edges.append(edge)
                edge.dependency.edges.append(edge)
                self._edges.append(edge)
        self._dlqs: dict[str, _Dlq] = {}

        def dlq(name: str, retention_s: int) -> _Dlq:
            if name not in self._dlqs:
                self._dlqs[name] = _Dlq(name, retention_s)
            return self._dlqs[name]

        self._queues = []
        for q in account.queues:
            source = _SourceQueue(q, self._functions[q.consumer], dlq(q.dlq, q.dlq_retention_s))
            source.dlq.sources[q.name] = source
            self._queues.append(source)
        self._rules = []
        for rule in account.rules:
            target = self._functions[rule.target.function]
            rule_dlq = dlq(rule.target.dlq, 1_209_600) if rule.target.dlq else None
            self._rules.append(_Rule(rule, target, rule_dlq))
        for fn in self._functions.values():
            cfg = fn.spec.async_config
            name = (
                cfg.on_failure_queue if cfg and cfg.on_failure_queue else fn.spec.dead_letter_queue
            )
            if name:
                fn.destination = dlq(name, 1_209_600)
        self._machines = [
            _Machine(sm, [(self._functions[t.function], t.retry) for t in sm.tasks])
            for sm in account.state_machines
        ]
        self._tables = [table.name]
        for dep in account.dependencies:
            if dep.kind is DependencyKind.DYNAMODB and dep.host not in self._tables:
                self._tables.append(dep.host)
        self._queue_by_consumer = {q.consumer.name: q for q in self._queues}
        functions = list(self._functions.values())
        self._direct = [f for f in functions if f.kind in ("api", "schedule")]
        self._consumers = [
            (self._queue_by_consumer[f.name], f) for f in functions if f.kind == "sqs"
        ]
        self._async = [f for f in functions if f.kind == "events"]
        self._task_edges = [e for e in self._edges if e.function.kind == "states"]
        self._call_edges = [e for e in self._edges if e.function.kind != "states"]
        self._dlq_list = list(self._dlqs.values())
        self._dependency_list = list(self._dependencies.values())
        self._breaker_list = list(self._breakers.values())

    # -- public --

    @property
    def cursor(self) -> datetime:
        """The start of the next minute to simulate."""
        return datetime.fromtimestamp(self._minute * MINUTE, tz=UTC)

    def advance(self, until: datetime) -> SimulationResult:
        """Simulate the whole minutes from the cursor up to ``until``; return that chunk."""
        end_minute = int(_utc(until, "until") // MINUTE)
        first = self._minute
        n = max(0, end_minute - first)
        minutes = np.arange(first, first + n, dtype=np.int64)
        timestamps = minutes * MINUTE
        self._prepare_chunk(minutes, timestamps)
        expected = expected_orders(timestamps, self.account.orders_per_second, self._traffic_key)
        orders_col = [0] * n
        moves = redrives(self.plan, first, first + n)
        for i in range(n):
            orders_col[i] = self._step(first + i, i, float(expected[i]), moves)
        self._minute = first + n
        result = self._result(timestamps, np.asarray(orders_col, dtype=np.int64))
        self._remember(result)
        if n:
            lo, hi = float(timestamps[0]), float(timestamps[-1] + MINUTE)
            result.incidents = [i for i in self.incidents() if i.start < hi and i.end > lo]
        return result

    def incidents(self) -> list[Incident]:
        """Ground truth over everything simulated so far (see :mod:`sandbox.world.scenarios`).

        Windows of incidents whose injection (plus its tail) is over are final; the others are
        as seen so far, and ``ongoing`` when the signature shows in the last simulated minute.
        """
        if not self._timestamps:
            return []
        history = History(np.concatenate(self._timestamps), self._history.get)
        return derive_incidents(self.plan, self.account, history, self._final)

    # -- per chunk --

    def _prepare_chunk(self, minutes: np.ndarray, timestamps: np.ndarray) -> None:
        n = len(minutes)
        plan = self.plan
        for dep in self._dependencies.values():
            effect = dependency_effect(plan, dep.name, dep.capacity_rps, timestamps)
            dep.fault = effect.fault.tolist()
            dep.latency_factor = effect.latency_factor.tolist()
            dep.capacity = effect.capacity_rps.tolist()
        for edge in self._edges:
            edge.reset_chunk(n)
        for fn in self._functions.values():
            fn.reset_chunk(n)
        for q in self._queues:
            q.reset_chunk(n)
            q.poison = poison_per_minute(plan, q.name, minutes).tolist()
        for d in self._dlqs.values():
            d.reset_chunk(n)
        for rule in self._rules:
            rule.reset_chunk(n)
            rule.failure = delivery_failure(plan, rule.name, timestamps).tolist()
        for machine in self._machines:
            machine.reset_chunk(n)
        for b in self._breakers.values():
            b.reset_chunk(n)
            b.heartbeat = heartbeat_minutes(plan, b.name, minutes).tolist()
        self._table_cols = {t: _Columns(_TABLE_COUNTS, n) for t in self._tables}

    def _step(self, minute: int, i: int, expected: float, moves: dict[int, list[str]]) -> int:
        rng = self._streams.at(minute)
        orders = int(rng.poisson(expected))
        self._transient = rng.random(len(self._functions)).tolist()

        # DLQs: retention, then operator redrives
        for dlq in self._dlq_list:
            dlq.expire(minute, i)
        for name in moves.get(minute, ()):
            if name in self._dlqs:
                self._dlqs[name].redrive(minute, i)

        # SQS: sends, then everything visible is received
        for q in self._queues:
            new = int(rng.poisson(orders * q.spec.messages_per_order)) if orders else 0
            poison = q.poison[i]
            q.enqueue(minute, new, 0, False, minute)
            q.enqueue(minute, poison, 0, True, minute)
            q.cols.sent[i] = new + poison
            q.expire(minute, i)
            q.receive(minute, i)

        # EventBridge deliveries become async invocations of their targets
        for rule in self._rules:
            delivered = rule.step(rng, minute, i, orders)
            target = rule.target
            target.groups.append([delivered, 1, minute])
            target.cols.async_events_received[i] += delivered
        for fn in self._async:
            if fn.pending:
                fn.groups += fn.pending.pop(minute, [])

        for machine in self._machines:
            machine.started = (
                int(rng.poisson(orders * machine.spec.executions_per_order)) if orders else 0
            )

        # Demand: units of work per function (SM tasks estimated from executions started)
        for fn in self._direct:
            if fn.kind == "schedule":
                fn.units = 1
                continue
            concurrency = orders * fn.last_mean_ms / 60_000.0
            throttled = 0
            if concurrency > fn.limit:
                throttled = _binom(rng, orders, 1.0 - fn.limit / concurrency)
            fn.cols.throttles[i] += throttled
            fn.units = orders - throttled
        for q, fn in self._consumers:
            fn.units = q.received - q.poison_received
        for fn in self._async:
            fn.units = sum(g[0] for g in fn.groups) if fn.groups else 0

        # Breakers admit requests; Step Functions task edges are estimated from the executions
        # started and admitted when their tasks run
        for edge in self._call_edges:
            requests = edge.requests_for(rng, edge.function.units)
            edge.requests = requests
            edge.allowed = edge.breaker.machine.permit(requests) if edge.breaker else requests
        if self._task_edges:
            for edge in self._task_edges:
                edge.requests = 0
            for machine in self._machines:
                for task_fn, _ in machine.tasks:
                    for edge in task_fn.edges:
                        edge.requests += machine.started * edge.per_whole
            for edge in self._task_edges:
                state = edge.breaker.machine.state if edge.breaker else BreakerState.CLOSED
                edge.allowed = 0 if state is BreakerState.OPEN else edge.requests

        for dep in self._dependency_list:
            self._odds(dep, i)
        for edge in self._edges:
            edge.analyse(i)

        # Run the work
        for fn in self._direct:
            fn.timing(1.0)
            failed = self._draw_calls(rng, fn, i, fn.units)
            failed += _rare(
                self._transient[fn.index], fn.units - failed, LAMBDA_TRANSIENT_ERROR_RATE
            )
            fn.record_invocations(i, fn.units, failed)
        for q, fn in self._consumers:
            self._run_consumer(rng, minute, i, q, fn)
        for fn in self._async:
            self._run_async(rng, minute, i, fn)
        for machine in self._machines:
            self._run_machine(rng, i, machine)

        # Breakers decide at the end of the minute (the health check's stamps are filled in
        # per chunk: they do not depend on the draws)
        minute_end = float((minute + 1) * MINUTE)
        for b in self._breaker_list:
            breaker = b.machine
            transition = breaker.end_minute(minute_end)
            if transition is not None:
                b.transitions.append(transition)
            cols = b.cols
            cols.state[i] = breaker.state
            cols.failure_count[i] = breaker.failure_count
            cols.success_count[i] = breaker.success_count

        for q in self._queues:
            q.levels(minute, i)
        for dlq in self._dlq_list:
            dlq.levels(minute, i)
        return orders

    def _odds(self, dep: _Dependency, i: int) -> None:
        """Per-attempt outcome probabilities and latency of ``dep`` this minute."""
        p_fault = 1.0 - (1.0 - dep.p_fault0) * (1.0 - dep.fault[i])
        p_error = dep.p_error0
        capacity = dep.capacity[i] * MINUTE
        demand = [(e.allowed, e.max_attempts) for e in dep.edges if e.allowed]

        def attempts(p_throttle: float) -> float:
            retryable = p_throttle + (1.0 - p_throttle) * p_fault
            total = 0.0
            for requests, k in demand:
                total += requests * (
                    k if retryable >= 1.0 else (1.0 - retryable**k) / (1.0 - retryable)
                )
            return total

        p_throttle = 0.0
        load = attempts(0.0)
        if load > capacity:
            if capacity <= 0:
                p_throttle = 1.0
            else:
                for _ in range(60):
                    updated = max(0.0, 1.0 - capacity / attempts(p_throttle))
                    if abs(updated - p_throttle) < 1e-6:
                        p_throttle = updated
                        break
                    p_throttle = updated
            load = attempts(p_throttle)
        served = load * (1.0 - p_throttle)
        rho = min(1.0, served / capacity) if capacity > 0 else 1.0
        dep.latency = dep.latency_ms * dep.latency_factor[i] * (1.0 + 3.0 * rho**4)
        dep.p_throttle = p_throttle
        dep.p_fault = (1.0 - p_throttle) * p_fault
        dep.p_error = (1.0 - p_throttle) * p_error
        dep.p_ok = max(0.0, 1.0 - dep.p_throttle - dep.p_fault - dep.p_error)

    def _draw_calls(
        self, rng: np.random.Generator, fn: _Function, i: int, units: int, *, admit: bool = False
    ) -> int:
        """Draw every edge of ``fn`` for ``units`` of work; returns the failed units."""
        edges = fn.edges
        if not edges:
            return 0
        if not admit and len(edges) == 1 and edges[0].per_whole == 1 and not edges[0].per_frac:
            return self._draw_edge(rng, edges[0], i, fn.timeout_share)
        failed_units = 0
        for edge in edges:
            if admit:  # Step Functions tasks: requests known only now
                edge.requests = edge.requests_for(rng, units)
                edge.allowed = (
                    edge.breaker.machine.permit(edge.requests) if edge.breaker else edge.requests
                )
            failed = self._draw_edge(rng, edge, i, fn.timeout_share)
            if edge.per_whole == 1 and edge.per_frac == 0 and len(fn.edges) == 1:
                failed_units = failed
            else:
                share = failed / edge.requests if edge.requests else 0.0
                per = max(edge.call.per_invocation, 1e-9)
                p_unit = 1.0 - (1.0 - share) ** per
                low = min(units, math.ceil(failed / max(edge.per_whole, 1)))
                drawn = _binom(rng, units, p_unit)
                failed_units = max(failed_units, min(max(drawn, low), units, failed))
        return failed_units

    def _draw_edge(
        self, rng: np.random.Generator, edge: _Edge, i: int, timeout_share: float
    ) -> int:
        """Attempts and outcomes of one edge this minute; returns the failed requests."""
        dep = edge.dependency
        requests, allowed = edge.requests, edge.allowed
        short = requests - allowed
        p_ok = dep.p_ok
        attempts = ok = errors = retryable = 0
        remaining = allowed
        if remaining > 0:
            p_fail = 1.0 - p_ok
            p_error_given_fail = dep.p_error / p_fail if p_fail > 0.0 else 0.0
            for _ in range(edge.max_attempts):
                attempts += remaining
                rest = int(rng.binomial(remaining, p_fail)) if p_fail > 0.0 else 0
                ok += remaining - rest
                if not rest:
                    remaining = 0
                    break
                err = _binom(rng, rest, p_error_given_fail)
                errors += err
                remaining = rest - err
                retryable += remaining
                if not remaining:
                    break
        # ``remaining`` now holds the requests that exhausted their attempts
        throttles = faults = 0
        if retryable:
            retryable_p = dep.p_throttle + dep.p_fault
            throttles = _binom(rng, retryable, dep.p_throttle / retryable_p) if retryable_p else 0
            faults = retryable - throttles
        failed = errors + remaining
        if timeout_share > 0 and ok:  # the function was killed while this call was in flight
            killed = _binom(rng, ok, timeout_share)
            ok -= killed
            faults += killed
            failed += killed
        if edge.breaker is not None:
            edge.breaker.machine.record(allowed - failed, failed)
        failed += short
        row = (requests, short, attempts, attempts - allowed, ok, errors, throttles, faults, failed)
        previous = edge.rows[i]
        edge.rows[i] = (
            row if previous is None else tuple(a + b for a, b in zip(previous, row, strict=True))
        )
        if dep.kind is DependencyKind.DYNAMODB and throttles:
            table = self._table_cols[dep.host]
            table.throttled_requests[i] += throttles
            if edge.reads:
                table.read_throttle_events[i] += throttles
            else:
                table.write_throttle_events[i] += throttles
        return failed

    def _run_consumer(
        self, rng: np.random.Generator, minute: int, i: int, q: _SourceQueue, fn: _Function
    ) -> None:
        received, poison = q.received, q.poison_received
        if received == 0:
            q.settle(rng, minute, i, 0, 0.0)
            fn.timing(1.0, q.spec.visibility_timeout_s)
            return
        batch = min(float(q.spec.batch_size), max(1.0, received * POLL_WINDOW_S / MINUTE))
        invocations = math.ceil(received / batch)
        batch = received / invocations
        good = received - poison
        fn.timing(batch, q.spec.visibility_timeout_s)
        failed_good = self._draw_calls(rng, fn, i, good)
        if q.spec.report_batch_item_failures:
            # Errors: invocations whose every record failed, plus transient Lambda failures
            # (which fail the invocation's records too)
            transient = _rare(self._transient[fn.index], invocations, LAMBDA_TRANSIENT_ERROR_RATE)
            independent = poison + failed_good
            whole = max(1, round(batch))
            rest = invocations - transient
            if not independent:
                all_failed = 0
            elif whole == 1:
                all_failed = min(rest, independent)
            else:
                p_all = (independent / received) ** whole
                all_failed = min(independent // whole, _binom(rng, rest, p_all))
            failed_good += min(good - failed_good, round(transient * batch))
            errors = transient + all_failed
        else:
            independent = poison + failed_good
            hit = 0
            if independent:
                p_hit = 1.0 - (1.0 - 1.0 / invocations) ** independent
                hit = min(invocations, independent, max(1, _binom(rng, invocations, p_hit)))
            bad = _rare(self._transient[fn.index], invocations - hit, LAMBDA_TRANSIENT_ERROR_RATE)
            failed_batches = hit + bad
            failed_total = min(received, max(independent, round(failed_batches * batch)))
            failed_good = failed_total - poison
            errors = failed_batches
        q.settle(rng, minute, i, failed_good, fn.duplicate_share)
        fn.record_invocations(i, invocations, errors)

    def _run_async(self, rng: np.random.Generator, minute: int, i: int, fn: _Function) -> None:
        groups = [g for g in fn.groups if g[0] > 0]
        fn.groups = []
        units = sum(g[0] for g in groups)
        fn.timing(1.0)
        if not units:
            return
        failed = self._draw_calls(rng, fn, i, units)
        failed += _rare(self._transient[fn.index], units - failed, LAMBDA_TRANSIENT_ERROR_RATE)
        fn.record_invocations(i, units, failed)
        cols = fn.cols
        age = sum(g[0] * ((minute - g[2]) * 60_000.0 + ASYNC_QUEUE_DELAY_MS) for g in groups)
        cols.async_event_age_ms[i] = age / units
        cfg = fn.spec.async_config
        max_retries = cfg.maximum_retry_attempts if cfg else 2
        max_age_min = (cfg.maximum_event_age_s if cfg else 21_600) // MINUTE
        for group, failures in zip(
            groups, _split(rng, [g[0] for g in groups], failed), strict=True
        ):
            if not failures:
                continue
            attempt, first = group[1], group[2]
            delay = ASYNC_RETRY_DELAYS_MIN[min(attempt - 1, len(ASYNC_RETRY_DELAYS_MIN) - 1)]
            if attempt <= max_retries and minute + delay - first <= max_age_min:
                fn.pending.setdefault(minute + delay, []).append([failures, attempt + 1, first])
                continue
            cols.async_events_dropped[i] += failures
            if fn.destination is not None:
                fn.destination.add(f"lambda:{fn.name}", minute, minute, failures, 0, False)
                fn.destination.cols.sent[i] += failures

    def _run_machine(self, rng: np.random.Generator, i: int, machine: _Machine) -> None:
        cols = machine.cols
        running = machine.started
        cols.started[i] = running
        failed_executions = 0
        for fn, retry in machine.tasks:
            fn.timing(1.0)
            if running <= 0:
                continue
            if retry:
                p_fail = LAMBDA_TRANSIENT_ERROR_RATE + fn.timeout_share
                for edge in fn.edges:
                    p_fail += edge.call.per_invocation * edge.fail_probability
                p_fail = min(1.0, p_fail)
                invocations = 0
                remaining = running
                for _ in range(1 + SFN_RETRY_MAX_ATTEMPTS):
                    if remaining <= 0:
                        break
                    invocations += remaining
                    remaining = _binom(rng, remaining, p_fail)
                errors = invocations - running + remaining
                self._draw_calls(rng, fn, i, invocations, admit=True)
                exhausted = remaining
            else:
                invocations = running
                failed = self._draw_calls(rng, fn, i, invocations, admit=True)
                failed += _rare(
                    self._transient[fn.index], invocations - failed, LAMBDA_TRANSIENT_ERROR_RATE
                )
                errors = exhausted = failed
            fn.record_invocations(i, invocations, errors)
            failed_executions += exhausted
            running -= exhausted
        cols.failed[i] = failed_executions
        cols.succeeded[i] = machine.started - failed_executions

    # -- results --

    def _result(self, timestamps: np.ndarray, orders: np.ndarray) -> SimulationResult:
        key = self._key
        edges = {}
        for e in self._edges:
            counts, rates = e.columns()
            edges[e.function.name, e.dependency.name] = EdgeMinutes(
                e.function.name,
                e.dependency.name,
                e.breaker.name if e.breaker else None,
                *counts,
                *rates,
            )
        functions = {
            f.name: FunctionMinutes(
                f.name,
                invocations=f.cols.array("invocations"),
                errors=f.cols.array("errors"),
                throttles=f.cols.array("throttles"),
                duration_p50_ms=f.cols.array("duration_p50_ms", np.float64),
                duration_p99_ms=f.cols.array("duration_p99_ms", np.float64),
                concurrent_executions=f.cols.array("concurrent_executions"),
                async_events_received=f.cols.array("async_events_received"),
                async_event_age_ms=f.cols.array("async_event_age_ms", np.float64),
                async_events_dropped=f.cols.array("async_events_dropped"),
                dead_letter_errors=f.cols.array("dead_letter_errors"),
                destination_delivery_failures=f.cols.array("destination_delivery_failures"),
            )
            for f in self._functions.values()
        }
        queues: dict[str, QueueMinutes] = {}
        for q in self._queues:
            queues[q.name] = self._queue_minutes(q.name, False, q.cols)
        for d in self._dlqs.values():
            queues[d.name] = self._queue_minutes(d.name, True, d.cols)
        rules = {
            r.name: RuleMinutes(r.name, *(r.cols.array(name) for name in _RULE_COUNTS))
            for r in self._rules
        }
        machines = {
            m.name: StateMachineMinutes(m.name, *(m.cols.array(name) for name in _MACHINE_COUNTS))
            for m in self._machines
        }
        tables = {
            name: TableMinutes(name, *(cols.array(c) for c in _TABLE_COUNTS))
            for name, cols in self._table_cols.items()
        }
        breakers = {b.name: self._breaker_timeline(b, timestamps) for b in self._breaker_list}
        ledger = [message for d in self._dlqs.values() for message in d.ledger(key)]
        return SimulationResult(
            self.account,
            self.scenario,
            self.seed,
            timestamps.astype(np.int64),
            orders,
            functions,
            edges,
            queues,
            rules,
            machines,
            tables,
            breakers,
            ledger,
            [],
        )

    @staticmethod
    def _breaker_timeline(b: _Breaker, timestamps: np.ndarray) -> BreakerTimeline:
        n = len(timestamps)
        if b.stamped:
            updated = np.asarray(b.heartbeat, dtype=np.float64) * MINUTE + b.offset
        else:
            updated = np.full(n, np.nan)
        last = np.full(n, b.last_transition, dtype=np.float64)
        for t in b.transitions:  # in time order: each holds from the minute it ends onwards
            last[int((t.ts - MINUTE - timestamps[0]) // MINUTE) :] = t.ts
        if b.transitions:
            b.last_transition = b.transitions[-1].ts
        return BreakerTimeline(
            b.name,
            b.cols.array("state", np.int8),
            b.cols.array("failure_count"),
            b.cols.array("success_count"),
            updated,
            list(b.transitions),
            last,
        )

    @staticmethod
    def _queue_minutes(name: str, is_dlq: bool, cols: _Columns) -> QueueMinutes:
        return QueueMinutes(
            name,
            is_dlq,
            sent=cols.array("sent"),
            received=cols.array("received"),
            deleted=cols.array("deleted"),
            visible=cols.array("visible"),
            not_visible=cols.array("not_visible"),
            oldest_age_s=cols.array("oldest_age_s", np.float64),
            moved_in=cols.array("moved_in"),
            moved_out=cols.array("moved_out"),
            expired=cols.array("expired"),
        )

    def _remember(self, result: SimulationResult) -> None:
        self._timestamps.append(result.timestamps)
        h = self._history
        for (fn, dep), e in result.edges.items():
            for name in ("requests", "short_circuited", "attempts", "retries", "throttles"):
                h.append(("edge", fn, dep, name), getattr(e, name))
        for name, f in result.functions.items():
            h.append(("function", name, "invocations"), f.invocations)
            h.append(("function", name, "errors"), f.errors)
        for name, q in result.queues.items():
            for attr in ("sent", "received", "moved_in"):
                h.append(("queue", name, attr), getattr(q, attr))
        for name, m in result.state_machines.items():
            h.append(("machine", name, "started"), m.started)
            h.append(("machine", name, "failed"), m.failed)
        for name, r in result.rules.items():
            h.append(("rule", name, "retry_invocation_attempts"), r.retry_invocation_attempts)
        for name, b in result.breakers.items():
            h.append(("breaker", name, "state"), b.state)


def simulate(
    account: Account,
    scenario: str,
    seed: int,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
) -> SimulationResult:
    """Simulate ``account`` over the whole minutes of ``[start, end)`` (UTC) under ``scenario``.

    ``now`` anchors the scenario's timeline (a backfill passes ``end``); the result carries the
    ground-truth incidents that show within the window.
    """
    return Simulator(account, scenario, seed, now=now, start=start).advance(end)
