"""What a simulation run produces: per-minute arrays per resource, the breaker timelines, the
DLQ ledger and the ground truth. The engine (``simulation.py``) fills these; the emitters
(metrics, traces, queues, breaker items) and the tests read them.

Every array has one entry per simulated minute, aligned with ``SimulationResult.timestamps``
(epoch seconds, UTC, the start of each minute). Counts are per minute; levels (queue depth,
age, concurrency, breaker state) are the value at the end of the minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from sandbox.world.topology import Account


class BreakerState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass(slots=True)
class EdgeMinutes:
    """One function's calls to one dependency.

    ``requests`` are the logical calls the code makes; ``short_circuited`` of them are refused
    by an open breaker and never leave the function; the rest make ``attempts`` HTTP attempts
    (first tries plus ``retries``), each ending ok, error (4xx other than 429), throttle (429) or
    fault (5xx or timeout): ``ok + errors + throttles + faults == attempts``.
    ``failed_requests`` gave up (retries exhausted, or short-circuited). ``p_*`` are the
    per-attempt outcome probabilities of the minute and ``latency_ms`` the median attempt
    latency, so a sampled trace can be drawn from the same distribution.
    """

    function: str
    dependency: str
    breaker: str | None
    requests: np.ndarray
    short_circuited: np.ndarray
    attempts: np.ndarray
    retries: np.ndarray
    ok: np.ndarray
    errors: np.ndarray
    throttles: np.ndarray
    faults: np.ndarray
    failed_requests: np.ndarray
    latency_ms: np.ndarray
    p_error: np.ndarray
    p_throttle: np.ndarray
    p_fault: np.ndarray


@dataclass(slots=True)
class FunctionMinutes:
    """AWS/Lambda's view of one function (Duration percentiles from ``duration_*``)."""

    name: str
    invocations: np.ndarray
    errors: np.ndarray
    throttles: np.ndarray
    duration_p50_ms: np.ndarray
    duration_p99_ms: np.ndarray
    concurrent_executions: np.ndarray  # maximum over the minute
    async_events_received: np.ndarray
    async_event_age_ms: np.ndarray  # average age of the events invoked this minute
    async_events_dropped: np.ndarray
    dead_letter_errors: np.ndarray
    destination_delivery_failures: np.ndarray


@dataclass(slots=True)
class QueueMinutes:
    """AWS/SQS's view of one queue (source queue or DLQ).

    For a DLQ fed by a redrive policy, messages moved in are **not** in ``sent`` (AWS does not
    count them in NumberOfMessagesSent); ``moved_in`` holds them. Messages sent to a DLQ by
    EventBridge or a Lambda destination are ordinary sends and are in ``sent``.
    """

    name: str
    is_dlq: bool
    sent: np.ndarray
    received: np.ndarray
    deleted: np.ndarray
    visible: np.ndarray
    not_visible: np.ndarray
    oldest_age_s: np.ndarray
    moved_in: np.ndarray  # DLQ: moved in by the redrive policy; source: redriven back
    moved_out: np.ndarray  # DLQ: redriven back to the source; source: moved to its DLQ
    expired: np.ndarray  # dropped at the end of the retention period


@dataclass(slots=True)
class RuleMinutes:
    """AWS/Events' view of one rule and its single target."""

    name: str
    invocations: np.ndarray
    failed_invocations: np.ndarray
    retry_invocation_attempts: np.ndarray
    invocations_sent_to_dlq: np.ndarray
    matched_events: np.ndarray


@dataclass(slots=True)
class StateMachineMinutes:
    name: str
    started: np.ndarray
    succeeded: np.ndarray
    failed: np.ndarray
    timed_out: np.ndarray
    throttled: np.ndarray


@dataclass(slots=True)
class TableMinutes:
    """AWS/DynamoDB throttling for one table."""

    name: str
    read_throttle_events: np.ndarray
    write_throttle_events: np.ndarray
    throttled_requests: np.ndarray


@dataclass(slots=True)
class BreakerTransition:
    ts: float  # epoch seconds
    from_state: BreakerState
    to_state: BreakerState
    reason: str


@dataclass(slots=True)
class BreakerTimeline:
    """One breaker: its state at the end of each minute, window counts and heartbeats.

    ``updated_at`` is the epoch second the item was last written at the end of each minute;
    it stops advancing when the health check stops (the stale-breaker scenario).
    """

    breaker: str
    state: np.ndarray  # int8 BreakerState
    failure_count: np.ndarray
    success_count: np.ndarray
    updated_at: np.ndarray  # NaN for items written without the updated-at attribute
    transitions: list[BreakerTransition] = field(default_factory=list)
    # epoch second of the latest transition as of the end of each minute (NaN: none yet)
    last_transition: np.ndarray | None = None


@dataclass(slots=True)
class DlqMessage:
    """A message in a DLQ at the end of the run (the ledger the real queues must match)."""

    message_id: str
    dlq: str
    # the source queue name for a redrive-policy move; "events:<rule>" or "lambda:<function>"
    # for a message EventBridge or a Lambda on-failure destination sent (no queue name has ":")
    source: str
    arrived_at: float  # epoch seconds it reached the DLQ
    first_sent_at: float
    receive_count: int
    poison: bool


@dataclass(frozen=True, slots=True)
class Incident:
    """Ground truth: an injected incident and where it shows."""

    kind: str  # e.g. "downstream-outage", "retry-storm", "breaker-open", "dlq-growth", ...
    account_id: str
    resource: str  # e.g. "lambda:payment-processor", "sqs:payments-dlq", "breaker:payment-api"
    downstream: str | None
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    scenario: str
    detail: str = ""
    ongoing: bool = False  # the signature still showed at the end of the simulated time


@dataclass(slots=True)
class SimulationResult:
    account: Account
    scenario: str
    seed: int
    timestamps: np.ndarray  # int64 epoch seconds, one per minute
    orders: np.ndarray  # entry requests per minute
    functions: dict[str, FunctionMinutes]
    edges: dict[tuple[str, str], EdgeMinutes]  # (function, dependency)
    queues: dict[str, QueueMinutes]  # source queues and DLQs by name
    rules: dict[str, RuleMinutes]
    state_machines: dict[str, StateMachineMinutes]
    tables: dict[str, TableMinutes]
    breakers: dict[str, BreakerTimeline]
    dlq_messages: list[DlqMessage]
    incidents: list[Incident]
