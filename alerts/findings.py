"""What every detector returns: a :class:`Finding`, one condition on one resource over a span.

A finding names the resource in the store's ``resource`` spelling (``lambda:<function>``,
``sqs:<queue>``, ``events:<rule>``, ``states:<machine name>``, ``breaker:<breaker id>``,
``dynamodb:<table>``, ``edge:<source>-><target>``), the downstream it concerns when there is one,
and the half-open span ``[start, end)`` in UTC over which the condition held; ``end`` is None
while it still holds at the last data the detector saw. Findings are merged into incidents by
:mod:`alerts.incidents`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Severity levels, lowest first. Detectors pick one; incidents keep the peak.
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

# The kinds of finding, with the detector module that emits each.
KINDS: dict[str, str] = {
    "anomaly": "alerts.anomaly",  # a metric outside its expected band
    "retry-storm": "alerts.retry_storms",  # retries multiplying load on a downstream
    "function-errors": "alerts.errors",  # Lambda errors above rate and count
    "execution-failures": "alerts.errors",  # Step Functions executions failing
    "breaker-open": "alerts.circuits",  # OPEN (or HALF_OPEN) instead of CLOSED
    "breaker-flapping": "alerts.circuits",  # too many transitions in a window
    "breaker-stale": "alerts.circuits",  # item not refreshed within its expected interval
    "breaker-half-open-stuck": "alerts.circuits",  # HALF_OPEN for too long
    "breaker-masking": "alerts.circuits",  # CLOSED while its downstream is failing
    "breaker-unknown": "alerts.circuits",  # the item cannot be read (UNKNOWN state)
    "dlq-arrivals": "alerts.dlqs",  # messages arrived in a DLQ
    "dlq-growth": "alerts.dlqs",  # a DLQ growing over several periods
    "dlq-expiry": "alerts.dlqs",  # oldest message close to the retention period
}


def severity_rank(severity: str) -> int:
    """0 for "low" ... 3 for "critical"; a ValueError names an unknown level."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(
            f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


def utc(value: Any) -> pd.Timestamp:
    """A tz-aware UTC timestamp from a Timestamp, datetime, ISO string or epoch seconds."""
    if isinstance(value, int | float):
        return pd.Timestamp(value, unit="s", tz="UTC")
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True, slots=True)
class Finding:
    """One condition on one resource over ``[start, end)``; ``end`` None means still holding.

    ``evidence`` holds JSON-serialisable facts behind the finding (peak values, thresholds,
    callers, counts) so the dashboard and the review can show why it fired.
    """

    kind: str
    account: str
    region: str
    resource: str
    start: pd.Timestamp
    end: pd.Timestamp | None
    severity: str
    summary: str
    downstream: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    # When the detector could first have raised it: the end of the period whose data confirmed
    # the condition (>= start). Detection latency is ``detected_at - start of the real event``.
    detected_at: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {sorted(KINDS)}")
        severity_rank(self.severity)
        object.__setattr__(self, "start", utc(self.start))
        if self.end is not None:
            end = utc(self.end)
            if end < self.start:
                raise ValueError(f"finding {self.kind} on {self.resource}: end before start")
            object.__setattr__(self, "end", end)
        detected = self.start if self.detected_at is None else utc(self.detected_at)
        if detected < self.start:
            raise ValueError(f"finding {self.kind} on {self.resource}: detected before it started")
        object.__setattr__(self, "detected_at", detected)

    @property
    def ongoing(self) -> bool:
        return self.end is None
