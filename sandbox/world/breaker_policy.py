"""The circuit-breaker policy every simulated caller follows, and its state machine.

One breaker per breaker id (one per guarded dependency), shared by all functions that call that
dependency, its state kept in the breaker table. Time runs in whole minutes: requests are
admitted during a minute and the breaker decides at the minute's end; a transition is stamped
at that instant (the end of the minute).

The policy, with the parameters of :class:`BreakerPolicy`:

* **CLOSED** — every request goes through. A request that is finally failed (gave up after its
  retries: error, throttle, fault, or killed by the function's timeout) is a *failure*; one that
  succeeded is a *success*. At the end of a minute, if the last ``window_minutes`` minutes
  (this one included) hold at least ``failure_threshold`` failures **and** failures make up at
  least ``failure_rate_threshold`` of the recorded requests, the breaker goes **OPEN**.
* **OPEN** — every request is short-circuited: it fails at once and never reaches the
  dependency. Once ``cool_down_s`` seconds have passed since it opened, it goes **HALF_OPEN**.
* **HALF_OPEN** — the first ``probe_requests`` requests (in total, over as many minutes as it
  takes) go through as probes; the others are short-circuited. At a minute's end, any failed
  probe sends it back to **OPEN** (the cool-down starts again); once ``probe_requests`` probes
  have succeeded it goes **CLOSED** with an empty window.

The item's counters follow the state: in CLOSED the failures and successes in the window, in
OPEN the counts that tripped it, in HALF_OPEN the probe failures and successes so far.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sandbox.world.model import BreakerState, BreakerTransition


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    window_minutes: int = 5
    failure_threshold: int = 10
    failure_rate_threshold: float = 0.5
    cool_down_s: int = 120
    probe_requests: int = 5


DEFAULT_POLICY = BreakerPolicy()


class CircuitBreaker:
    """One breaker following :class:`BreakerPolicy`, stepped minute by minute.

    Per minute: :meth:`permit` (how many of the requests may proceed), :meth:`record` (the
    outcomes of the permitted ones; callable several times, once per caller), then
    :meth:`end_minute` (decide; returns the transition, if any).
    """

    __slots__ = (
        "_minute_failures",
        "_minute_successes",
        "_probes_left",
        "_window",
        "_window_failures",
        "_window_successes",
        "failure_count",
        "name",
        "opened_at",
        "policy",
        "state",
        "success_count",
    )

    def __init__(self, name: str, policy: BreakerPolicy = DEFAULT_POLICY) -> None:
        self.name = name
        self.policy = policy
        self.state = BreakerState.CLOSED
        self.opened_at: float | None = None
        self.failure_count = 0
        self.success_count = 0
        self._window: deque[tuple[int, int]] = deque()
        self._window_failures = 0
        self._window_successes = 0
        self._minute_failures = 0
        self._minute_successes = 0
        self._probes_left = 0

    def permit(self, requests: int) -> int:
        """How many of ``requests`` may reach the dependency now (the rest are short-circuited)."""
        if self.state is BreakerState.CLOSED:
            return requests
        if self.state is BreakerState.OPEN:
            return 0
        allowed = min(requests, self._probes_left)
        self._probes_left -= allowed
        return allowed

    def record(self, successes: int, failures: int) -> None:
        """Outcomes of permitted requests in the current minute."""
        self._minute_successes += successes
        self._minute_failures += failures

    def end_minute(self, minute_end: float) -> BreakerTransition | None:
        """Close the minute ending at ``minute_end`` (epoch seconds); apply the policy."""
        policy = self.policy
        failures, successes = self._minute_failures, self._minute_successes
        self._minute_failures = self._minute_successes = 0
        state = self.state
        if state is BreakerState.CLOSED:
            self._window.append((failures, successes))
            self._window_failures += failures
            self._window_successes += successes
            if len(self._window) > policy.window_minutes:
                old_f, old_s = self._window.popleft()
                self._window_failures -= old_f
                self._window_successes -= old_s
            self.failure_count = self._window_failures
            self.success_count = self._window_successes
            total = self._window_failures + self._window_successes
            if (
                self._window_failures >= policy.failure_threshold
                and self._window_failures >= policy.failure_rate_threshold * total
            ):
                reason = (
                    f"{self._window_failures} failures of {total} requests in "
                    f"{policy.window_minutes} min"
                )
                return self._open(minute_end, reason)
            return None
        if state is BreakerState.OPEN:
            if self.opened_at is not None and minute_end - self.opened_at >= policy.cool_down_s:
                self._probes_left = policy.probe_requests
                self.failure_count = self.success_count = 0
                return self._move(
                    BreakerState.HALF_OPEN, minute_end, f"cool-down of {policy.cool_down_s} s over"
                )
            return None
        # HALF_OPEN
        self.failure_count += failures
        self.success_count += successes
        if self.failure_count > 0:
            return self._open(minute_end, f"{self.failure_count} probe(s) failed")
        if self.success_count >= policy.probe_requests:
            self._window.clear()
            self._window_failures = self._window_successes = 0
            transition = self._move(
                BreakerState.CLOSED, minute_end, f"{self.success_count} probes succeeded"
            )
            self.failure_count = self.success_count = 0
            return transition
        return None

    def _open(self, at: float, reason: str) -> BreakerTransition:
        self.opened_at = at
        self._probes_left = 0
        return self._move(BreakerState.OPEN, at, reason)

    def _move(self, to: BreakerState, at: float, reason: str) -> BreakerTransition:
        transition = BreakerTransition(at, self.state, to, reason)
        self.state = to
        return transition
