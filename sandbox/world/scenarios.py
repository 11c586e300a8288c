"""Scenarios: what goes wrong, when, and the ground truth of where it shows.

A scenario is a :class:`Plan`, a tuple of *injections* placed in time relative to ``now`` (the
end of the backfill): a dependency outage, a partner's rate limit, intermittent failures,
poison messages, a frozen breaker heartbeat, a DLQ redrive, failing EventBridge deliveries.
The simulation applies them minute by minute; nothing else in the world is scripted, so the
retry storms, open breakers and filling DLQs that follow are the system's own reaction.

Ground truth is derived from the simulated data, not copied from the injected window: for each
injection, the resources it can reach (callers, their queues and DLQs, breakers) are checked
for the signature of each incident kind over the injected window plus a tail, and an
:class:`~sandbox.world.model.Incident` records where the signature really shows. Kinds:

``retry-storm``
    on ``lambda:<caller>`` (SDK retries to ``downstream``: at least ``STORM_MIN_RETRIES``
    retries in a minute and attempts >= ``STORM_AMPLIFICATION`` x requests sent), on
    ``sqs:<queue>`` (redeliveries: received - sent >= ``STORM_MIN_RETRIES`` and received >=
    ``STORM_AMPLIFICATION`` x sent) and on ``events:<rule>`` (RetryInvocationAttempts).
``function-errors``
    on ``lambda:<fn>``: Errors >= ``ERRORS_MIN`` and >= ``ERROR_RATE_MIN`` of Invocations.
``breaker-open`` / ``breaker-flapping``
    on ``breaker:<id>``: from the first transition out of CLOSED to the transition back
    (open periods less than ``BREAKER_MERGE_GAP_S`` apart are one incident); ``flapping`` when
    an intermittent fault opened it at least ``FLAP_MIN_OPENS`` times.
``breaker-stale``
    on ``breaker:<id>``: the health check stopped refreshing the item (its updated-at stamp).
``dlq-growth``
    on ``sqs:<dlq>``: from the first to the last message arriving in the DLQ (or an on-failure
    destination queue).
``execution-failures``
    on ``states:<machine>``: ExecutionsFailed >= ``ERRORS_MIN`` and >= ``ERROR_RATE_MIN``.

A window is ``[start, end)`` in epoch seconds on minute boundaries; an incident whose
signature is still showing at the end of the simulated time is marked ``ongoing``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sandbox.world.model import BreakerState, Incident
from sandbox.world.randomness import hashed_uniform, stream_key
from sandbox.world.topology import AGGRESSIVE_RETRY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sandbox.world.topology import Account

SCENARIOS: tuple[str, ...] = (
    "demo",
    "quiet",
    "payment-outage",
    "throttling",
    "poison-batch",
    "stale-breaker",
    "flapping-breaker",
)
DEFAULT_SCENARIO = "demo"

MINUTE = 60
HOUR = 3_600
TAIL_S = 90 * MINUTE  # how long after an injection ends its effects are looked for
STORM_MIN_RETRIES = 3
STORM_AMPLIFICATION = 1.5
ERRORS_MIN = 3
ERROR_RATE_MIN = 0.05
MIN_SIGNATURE_MINUTES = 2
BREAKER_MERGE_GAP_S = 10 * MINUTE
FLAP_MIN_OPENS = 3


def check_scenario(name: str) -> str:
    """``name`` if it is a known scenario, else ValueError naming it and the valid ones."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")
    return name


# --- injections -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outage:
    """``dependency`` answers 5xx, slowly: faults ramp up to ``fault_rate`` over ``ramp_s``,
    hold, and ramp down over the last ``ramp_s / 2``; latency grows with the fault rate up to
    ``latency_factor`` x its median."""

    component: str
    dependency: str
    start: float
    end: float
    fault_rate: float = 0.95
    latency_factor: float = 6.0
    ramp_s: int = 600

    def fault(self, t: np.ndarray) -> np.ndarray:
        up = (t - self.start) / max(self.ramp_s, 1)
        down = (self.end - t) / max(self.ramp_s / 2, 1)
        level = np.clip(np.minimum(up, down), 0.0, 1.0)
        return np.where((t >= self.start) & (t < self.end), self.fault_rate * level, 0.0)

    def describe(self) -> str:
        return (
            f"{self.dependency} answers 5xx, ramping to {self.fault_rate:.0%} of calls with "
            f"latency up to {self.latency_factor:g}x"
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``dependency`` serves only ``capacity_rps`` calls per second and answers 429 above it."""

    component: str
    dependency: str
    start: float
    end: float
    capacity_rps: float

    def describe(self) -> str:
        return f"{self.dependency} rate-limits to {self.capacity_rps:g} calls/s (429 above)"


@dataclass(frozen=True, slots=True)
class Intermittent:
    """``dependency`` fails ``fault_rate`` of calls for ``bad_s`` of every ``period_s``."""

    component: str
    dependency: str
    start: float
    end: float
    fault_rate: float = 0.9
    period_s: int = 10 * MINUTE
    bad_s: int = 4 * MINUTE
    latency_factor: float = 3.0

    def fault(self, t: np.ndarray) -> np.ndarray:
        phase = np.mod(t - self.start, self.period_s)
        bad = (t >= self.start) & (t < self.end) & (phase < self.bad_s)
        return np.where(bad, self.fault_rate, 0.0)

    def describe(self) -> str:
        return (
            f"{self.dependency} fails {self.fault_rate:.0%} of calls for {self.bad_s // MINUTE} "
            f"min of every {self.period_s // MINUTE} min"
        )


@dataclass(frozen=True, slots=True)
class PoisonMessages:
    """``count`` messages that always fail are sent to ``queue``, spread over the window."""

    component: str
    queue: str
    start: float
    end: float
    count: int

    def per_minute(self, minutes: np.ndarray) -> np.ndarray:
        first = int(self.start // MINUTE)
        n = max(1, math.ceil((self.end - self.start) / MINUTE))
        offset = minutes - first
        counts = self.count // n + (offset < self.count % n)
        return np.where((offset >= 0) & (offset < n), counts, 0)

    def describe(self) -> str:
        return f"{self.count} poison messages sent to {self.queue}"


@dataclass(frozen=True, slots=True)
class StaleHeartbeat:
    """The health check stops refreshing ``breaker``'s item (its updated-at stamp)."""

    component: str
    breaker: str
    start: float
    end: float

    def describe(self) -> str:
        return f"health check stops refreshing breaker item {self.breaker}"


@dataclass(frozen=True, slots=True)
class Redrive:
    """Everything in ``dlq`` that came from a source queue is moved back to it at ``start``."""

    component: str
    dlq: str
    start: float
    end: float

    def describe(self) -> str:
        return f"{self.dlq} redriven to its source queue"


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """EventBridge fails to deliver ``rate`` of ``rule``'s events to its target."""

    component: str
    rule: str
    start: float
    end: float
    rate: float

    def describe(self) -> str:
        return f"EventBridge fails {self.rate:.0%} of deliveries for rule {self.rule}"


Injection = (
    Outage | RateLimit | Intermittent | PoisonMessages | StaleHeartbeat | Redrive | DeliveryFailure
)


@dataclass(frozen=True, slots=True)
class Plan:
    scenario: str
    injections: tuple[Injection, ...]


# --- placing the scenarios in time -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Targets:
    """Which resources of an account each scenario acts on."""

    outage: str | None
    throttled: str | None
    poison_queue: str | None
    stale_breaker: str | None
    flapping: str | None


def _targets(account: Account) -> _Targets:
    deps = {d.name for d in account.dependencies}
    calls = [(f, c) for f in account.functions for c in f.calls]
    outage = "payment-api" if "payment-api" in deps else next(iter(sorted(deps)), None)
    hammered = [c.dependency for _, c in calls if c.retry == AGGRESSIVE_RETRY]
    throttled = hammered[0] if hammered else outage
    no_partial = [q.name for q in account.queues if not q.report_batch_item_failures]
    poison_queue = (
        no_partial[0] if no_partial else (account.queues[-1].name if account.queues else None)
    )
    table = account.breaker_table
    guarded = [c.breaker for _, c in calls if c.breaker]
    stamped = [
        b for b in table.breakers if b not in table.no_timestamp and b in guarded and b != outage
    ]
    stale = "email-provider" if "email-provider" in stamped else next(iter(stamped), None)
    flapping = "email-provider" if "email-provider" in guarded else outage
    return _Targets(outage, throttled, poison_queue, stale, flapping)


def _jitter_minutes(seed: int, account: Account, slot: int, span: int) -> int:
    key = stream_key(seed, account.account_id, "scenario")
    return int(hashed_uniform(key, np.asarray([slot]))[0] * span)


def build_plan(scenario: str, account: Account, seed: int, now: float) -> Plan:
    """The injections of ``scenario`` for ``account``, placed relative to ``now`` (epoch s).

    Single-incident scenarios put their incident about 30 hours before ``now`` (so a backfill
    holds a clean day before and after it); ``demo`` spreads a mix over the week before ``now``
    and, in prod, starts a payment outage 2-3 minutes after ``now`` for the live view.
    """
    check_scenario(scenario)
    anchor = float(now // MINUTE * MINUTE)
    t = _targets(account)
    prod_like = any(c.retry == AGGRESSIVE_RETRY for f in account.functions for c in f.calls)

    def at(hours_before: float, slot: int) -> float:
        return anchor - hours_before * HOUR + _jitter_minutes(seed, account, slot, 90) * MINUTE

    def payment_outage(
        start: float, minutes: int, *, peak: float = 0.95, ramp: int = 600
    ) -> list[Injection]:
        if t.outage is None:
            return []
        return [
            Outage("payment-outage", t.outage, start, start + minutes * MINUTE, peak, 6.0, ramp)
        ]

    def throttling(start: float, minutes: int) -> list[Injection]:
        if t.throttled is None:
            return []
        capacity = 0.3 if prod_like else 0.03
        return [RateLimit("throttling", t.throttled, start, start + minutes * MINUTE, capacity)]

    def poison(start: float, minutes: int, count: int) -> list[Injection]:
        if t.poison_queue is None:
            return []
        return [
            PoisonMessages("poison-batch", t.poison_queue, start, start + minutes * MINUTE, count)
        ]

    def stale(start: float, hours: float) -> list[Injection]:
        if t.stale_breaker is None:
            return []
        return [StaleHeartbeat("stale-breaker", t.stale_breaker, start, start + hours * HOUR)]

    def flapping(start: float, minutes: int) -> list[Injection]:
        if t.flapping is None:
            return []
        return [Intermittent("flapping-breaker", t.flapping, start, start + minutes * MINUTE)]

    injections: list[Injection] = []
    if scenario == "payment-outage":
        injections += payment_outage(at(30, 0), 40)
    elif scenario == "throttling":
        injections += throttling(at(30, 0), 45)
    elif scenario == "poison-batch":
        injections += poison(at(30, 0), 10, 40 if prod_like else 8)
    elif scenario == "stale-breaker":
        injections += stale(at(30, 0), 3)
    elif scenario == "flapping-breaker":
        injections += flapping(at(30, 0), 90)
    elif scenario == "demo" and prod_like:
        injections += poison(at(146, 1), 10, 40)
        injections += throttling(at(119, 2), 45)
        injections += flapping(at(90, 3), 90)
        injections += stale(at(69, 4), 3)
        injections += payment_outage(at(44, 5), 40)
        live = anchor + (2 + _jitter_minutes(seed, account, 6, 2)) * MINUTE
        injections += payment_outage(live, 30, ramp=180)
    elif scenario == "demo":  # the milder mix of a staging account
        injections += stale(at(100, 1), 2)
        injections += payment_outage(at(60, 2), 20, peak=0.7, ramp=300)
        injections += poison(at(20, 3), 3, 6)
    return Plan(scenario, tuple(injections))


# --- per-minute effects of a plan -------------------------------------------------------------


@dataclass(slots=True)
class DependencyEffect:
    fault: np.ndarray  # extra 5xx probability per attempt
    latency_factor: np.ndarray
    capacity_rps: np.ndarray


def dependency_effect(
    plan: Plan, dependency: str, capacity_rps: float, timestamps: np.ndarray
) -> DependencyEffect:
    """The plan's effect on one dependency, per minute (evaluated at each minute's middle)."""
    mid = timestamps.astype(np.float64) + MINUTE / 2
    healthy = np.ones_like(mid)
    fault = np.zeros_like(mid)
    latency = np.ones_like(mid)
    capacity = np.full_like(mid, capacity_rps)
    for inj in plan.injections:
        if isinstance(inj, Outage | Intermittent) and inj.dependency == dependency:
            f = inj.fault(mid)
            healthy *= 1.0 - f
            peak = inj.fault_rate if inj.fault_rate > 0 else 1.0
            latency *= 1.0 + (inj.latency_factor - 1.0) * f / peak
        elif isinstance(inj, RateLimit) and inj.dependency == dependency:
            inside = (mid >= inj.start) & (mid < inj.end)
            capacity = np.where(inside, np.minimum(capacity, inj.capacity_rps), capacity)
    fault = 1.0 - healthy
    return DependencyEffect(fault, latency, capacity)


def poison_per_minute(plan: Plan, queue: str, minutes: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(minutes), dtype=np.int64)
    for inj in plan.injections:
        if isinstance(inj, PoisonMessages) and inj.queue == queue:
            counts += inj.per_minute(minutes)
    return counts


def heartbeat_minutes(plan: Plan, breaker: str, minutes: np.ndarray) -> np.ndarray:
    """The minute of the item's last heartbeat as of each minute (frozen while stale)."""
    beat = minutes.copy()
    for inj in plan.injections:
        if isinstance(inj, StaleHeartbeat) and inj.breaker == breaker:
            first, last = int(inj.start // MINUTE), math.ceil(inj.end / MINUTE)
            beat = np.where(
                (minutes >= first) & (minutes < last), np.minimum(beat, first - 1), beat
            )
    return beat


def delivery_failure(plan: Plan, rule: str, timestamps: np.ndarray) -> np.ndarray:
    mid = timestamps.astype(np.float64) + MINUTE / 2
    rate = np.zeros_like(mid)
    for inj in plan.injections:
        if isinstance(inj, DeliveryFailure) and inj.rule == rule:
            rate = np.where((mid >= inj.start) & (mid < inj.end), inj.rate, rate)
    return rate


def redrives(plan: Plan, first_minute: int, end_minute: int) -> dict[int, list[str]]:
    """DLQ names to redrive, by absolute minute, within ``[first_minute, end_minute)``."""
    out: dict[int, list[str]] = {}
    for inj in plan.injections:
        if isinstance(inj, Redrive):
            minute = int(inj.start // MINUTE)
            if first_minute <= minute < end_minute:
                out.setdefault(minute, []).append(inj.dlq)
    return out


# --- ground truth -----------------------------------------------------------------------------


class History:
    """Read access to everything simulated so far (what ground truth is derived from).

    ``timestamps`` are the minutes simulated; ``series(kind, *names, field)`` one per-minute
    series, e.g. ``series("edge", "payment-processor", "payment-api", "retries")``,
    ``series("function", "payment-processor", "errors")``, ``series("queue", "payments",
    "received")``, ``series("machine", "order-fulfilment", "failed")``,
    ``series("breaker", "payment-api", "state")``.
    """

    def __init__(self, timestamps: np.ndarray, lookup: Callable[[tuple[str, ...]], np.ndarray]):
        self.timestamps = timestamps
        self._lookup = lookup

    def series(self, *key: str) -> np.ndarray:
        return self._lookup(key)


def _spans(mask: np.ndarray, ts: np.ndarray, min_minutes: int) -> tuple[float, float] | None:
    """First to last true minute as ``[start, end)``, if at least ``min_minutes`` are true."""
    hits = np.flatnonzero(mask)
    if len(hits) < min_minutes:
        return None
    return float(ts[hits[0]]), float(ts[hits[-1]] + MINUTE)


def _breaker_intervals(
    state: np.ndarray, ts: np.ndarray, end_of_history: float
) -> Iterator[tuple[float, float, int]]:
    """Merged non-CLOSED intervals ``[start, end)`` with the number of openings in each.

    ``state[i]`` is the state at the end of minute ``i``, so a transition seen at ``i`` happened
    at ``ts[i] + 60``.
    """
    not_closed = state != int(BreakerState.CLOSED)
    opened = (state == int(BreakerState.OPEN)) & ~np.r_[False, state[:-1] == int(BreakerState.OPEN)]
    runs: list[list[float]] = []
    i, n = 0, len(state)
    while i < n:
        if not not_closed[i]:
            i += 1
            continue
        j = i
        while j < n and not_closed[j]:
            j += 1
        start = float(ts[i] + MINUTE)
        end = float(ts[j] + MINUTE) if j < n else end_of_history
        openings = float(opened[i:j].sum())
        if runs and start - runs[-1][1] < BREAKER_MERGE_GAP_S:
            runs[-1][1] = end
            runs[-1][2] += openings
        else:
            runs.append([start, end, openings])
        i = j
    for start, end, openings in runs:
        yield start, end, int(openings)


def derive_incidents(
    plan: Plan,
    account: Account,
    history: History,
    final: dict[int, list[Incident]] | None = None,
) -> list[Incident]:
    """Ground truth for every injection that has started within the simulated time.

    ``final`` (optional, updated in place) caches, by injection index, the incidents of
    injections whose window and tail are already simulated: they cannot change any more.
    """
    ts = history.timestamps
    if len(ts) == 0:
        return []
    hist_start, hist_end = float(ts[0]), float(ts[-1] + MINUTE)
    incidents: list[Incident] = []
    for index, inj in enumerate(plan.injections):
        if final is not None and index in final:
            incidents.extend(final[index])
            continue
        lo, hi = max(hist_start, inj.start), min(hist_end, inj.end + TAIL_S)
        if lo >= hi or isinstance(inj, Redrive):
            continue
        sel = slice(int((lo - hist_start) // MINUTE), math.ceil((hi - hist_start) / MINUTE))
        tail_open = hist_end < inj.end + TAIL_S
        found = _Derivation(plan, account, history, inj, sel, hist_end, tail_open).run()
        if final is not None and not tail_open:
            final[index] = found
        incidents.extend(found)
    return incidents


class _Derivation:
    def __init__(
        self,
        plan: Plan,
        account: Account,
        history: History,
        inj: Injection,
        sel: slice,
        hist_end: float,
        tail_open: bool,
    ) -> None:
        self.plan, self.account, self.history, self.inj = plan, account, history, inj
        self.sel, self.hist_end, self.tail_open = sel, hist_end, tail_open
        self.ts = history.timestamps[sel]
        self.out: list[Incident] = []

    def s(self, *key: str) -> np.ndarray:
        return self.history.series(*key)[self.sel].astype(np.float64)

    def add(
        self, kind: str, resource: str, downstream: str | None, span: tuple[float, float] | None
    ) -> None:
        if span is None:
            return
        start, end = span
        ongoing = self.tail_open and end >= self.hist_end
        detail = f"{self.inj.component}: {self.inj.describe()}"
        self.out.append(
            Incident(
                kind,
                self.account.account_id,
                resource,
                downstream,
                start,
                end,
                self.plan.scenario,
                detail,
                ongoing,
            )
        )

    def run(self) -> list[Incident]:
        inj = self.inj
        if isinstance(inj, Outage | RateLimit | Intermittent):
            self.dependency(inj.dependency, flapping=isinstance(inj, Intermittent))
        elif isinstance(inj, PoisonMessages):
            queue = next(q for q in self.account.queues if q.name == inj.queue)
            self.source_queue(queue.name, None)
            self.function(queue.consumer, None)
            self.dlq(queue.dlq, None)
        elif isinstance(inj, StaleHeartbeat):
            if inj.breaker not in self.account.breaker_table.no_timestamp:
                end = min(inj.end, self.hist_end)
                ongoing = self.hist_end < inj.end
                self.out.append(
                    Incident(
                        "breaker-stale",
                        self.account.account_id,
                        f"breaker:{inj.breaker}",
                        inj.breaker,
                        float(inj.start),
                        float(end),
                        self.plan.scenario,
                        f"{inj.component}: {inj.describe()}",
                        ongoing,
                    )
                )
        elif isinstance(inj, DeliveryFailure):
            rule = next(r for r in self.account.rules if r.name == inj.rule)
            retries = self.s("rule", rule.name, "retry_invocation_attempts")
            self.add(
                "retry-storm",
                f"events:{rule.name}",
                rule.target.function,
                _spans(retries >= STORM_MIN_RETRIES, self.ts, MIN_SIGNATURE_MINUTES),
            )
            if rule.target.dlq:
                self.dlq(rule.target.dlq, rule.target.function)
        return self.out

    def dependency(self, dependency: str, *, flapping: bool) -> None:
        account = self.account
        breakers: list[str] = []
        for fn in account.functions:
            for call in fn.calls:
                if call.dependency != dependency:
                    continue
                if call.breaker and call.breaker not in breakers:
                    breakers.append(call.breaker)
                self.edge(fn.name, dependency)
                self.function(fn.name, dependency)
                kind, _, source = fn.triggered_by.partition(":")
                if kind == "sqs":
                    queue = next(q for q in account.queues if q.name == source)
                    self.source_queue(queue.name, dependency)
                    self.dlq(queue.dlq, dependency)
                elif kind == "events":
                    rule = next(r for r in account.rules if r.name == source)
                    if rule.target.dlq:
                        self.dlq(rule.target.dlq, dependency)
                if fn.async_config and fn.async_config.on_failure_queue:
                    self.dlq(fn.async_config.on_failure_queue, dependency)
                if fn.dead_letter_queue:
                    self.dlq(fn.dead_letter_queue, dependency)
                if kind == "states":
                    failed = self.s("machine", source, "failed")
                    started = self.s("machine", source, "started")
                    mask = (failed >= ERRORS_MIN) & (failed >= ERROR_RATE_MIN * started)
                    self.add(
                        "execution-failures",
                        f"states:{source}",
                        dependency,
                        _spans(mask, self.ts, MIN_SIGNATURE_MINUTES),
                    )
        for breaker in breakers:
            self.breaker(breaker, dependency, flapping=flapping)

    def edge(self, function: str, dependency: str) -> None:
        retries = self.s("edge", function, dependency, "retries")
        attempts = self.s("edge", function, dependency, "attempts")
        sent = self.s("edge", function, dependency, "requests") - self.s(
            "edge", function, dependency, "short_circuited"
        )
        mask = (retries >= STORM_MIN_RETRIES) & (attempts >= STORM_AMPLIFICATION * sent)
        self.add(
            "retry-storm",
            f"lambda:{function}",
            dependency,
            _spans(mask, self.ts, MIN_SIGNATURE_MINUTES),
        )

    def function(self, function: str, dependency: str | None) -> None:
        errors = self.s("function", function, "errors")
        invocations = self.s("function", function, "invocations")
        mask = (errors >= ERRORS_MIN) & (errors >= ERROR_RATE_MIN * invocations)
        self.add(
            "function-errors",
            f"lambda:{function}",
            dependency,
            _spans(mask, self.ts, MIN_SIGNATURE_MINUTES),
        )

    def source_queue(self, queue: str, dependency: str | None) -> None:
        received = self.s("queue", queue, "received")
        sent = self.s("queue", queue, "sent") + self.s("queue", queue, "moved_in")
        mask = (received - sent >= STORM_MIN_RETRIES) & (received >= STORM_AMPLIFICATION * sent)
        self.add(
            "retry-storm", f"sqs:{queue}", dependency, _spans(mask, self.ts, MIN_SIGNATURE_MINUTES)
        )

    def dlq(self, dlq: str, dependency: str | None) -> None:
        arrivals = self.s("queue", dlq, "sent") + self.s("queue", dlq, "moved_in")
        self.add("dlq-growth", f"sqs:{dlq}", dependency, _spans(arrivals > 0, self.ts, 1))

    def breaker(self, breaker: str, dependency: str, *, flapping: bool) -> None:
        state = self.history.series("breaker", breaker, "state")[self.sel]
        intervals = list(_breaker_intervals(state, self.ts, self.hist_end))
        openings = sum(n for _, _, n in intervals)
        if flapping and openings >= FLAP_MIN_OPENS:  # one incident over all the openings
            span = (intervals[0][0], intervals[-1][1])
            self.add("breaker-flapping", f"breaker:{breaker}", dependency, span)
            return
        for start, end, _ in intervals:
            self.add("breaker-open", f"breaker:{breaker}", dependency, (start, end))
