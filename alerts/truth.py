"""Score incidents against labelled incidents (ground truth): detected, latency, false positives.

The labels use the ``stormwatch.ground-truth/1`` JSON schema (the sandbox writes it for its
scenarios; a team can write one for its own past incidents): kind, account, resource,
downstream, start, end. A labelled incident is **detected** when an incident of an accepted kind
on the same account and resource overlaps it and was detected no later than
``tolerance_periods`` periods after its start; **latency** is ``detected_at - start`` (never
negative). An incident that overlaps no labelled incident on its resource (with ``tail`` of
grace after the label's end, where effects linger) is a **false positive**.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from alerts.findings import utc

if TYPE_CHECKING:
    from collections.abc import Iterable

    from alerts.incidents import Incident

DEFAULT_TAIL = pd.Timedelta(minutes=90)  # effects linger after a labelled incident ends
# A finding on the labelled resource up to this long before the label's start is an early
# signal of it (a label starts where its own thresholds are met), not a false alarm.
DEFAULT_LEAD = pd.Timedelta(minutes=30)

# Which incident kinds find which labelled kind.
ACCEPTS: dict[str, frozenset[str]] = {
    "retry-storm": frozenset({"retry-storm"}),
    "function-errors": frozenset({"function-errors"}),
    "execution-failures": frozenset({"execution-failures"}),
    "breaker-open": frozenset({"breaker-open", "breaker-flapping"}),
    "breaker-flapping": frozenset({"breaker-flapping", "breaker-open"}),
    "breaker-stale": frozenset({"breaker-stale"}),
    "dlq-growth": frozenset({"dlq-arrivals", "dlq-growth"}),
}
# The detector (module) behind each incident kind, for the report's columns.
DETECTOR_OF: dict[str, str] = {
    "anomaly": "anomaly",
    "retry-storm": "retry_storms",
    "function-errors": "errors",
    "execution-failures": "errors",
    "dlq-arrivals": "dlqs",
    "dlq-growth": "dlqs",
    "dlq-expiry": "dlqs",
}


def detector_of(kind: str) -> str:
    return DETECTOR_OF.get(kind, "circuits" if kind.startswith("breaker-") else kind)


@dataclass(frozen=True, slots=True)
class Label:
    kind: str
    account: str
    resource: str
    downstream: str | None
    start: pd.Timestamp
    end: pd.Timestamp


def labels_from_json(document: dict[str, Any]) -> list[Label]:
    """Labels from a ``stormwatch.ground-truth/1`` document."""
    return [
        Label(
            kind=row["kind"],
            account=row.get("account_id") or row.get("account") or "",
            resource=row["resource"],
            downstream=row.get("downstream"),
            start=utc(row["start"]),
            end=utc(row["end"]),
        )
        for row in document.get("incidents", [])
    ]


@dataclass(slots=True)
class Match:
    label: Label
    incident: Incident | None
    latency_s: float | None

    @property
    def detected(self) -> bool:
        return self.incident is not None


@dataclass(slots=True)
class Score:
    matches: list[Match] = field(default_factory=list)
    false_positives: list[Incident] = field(default_factory=list)

    @property
    def detected(self) -> int:
        return sum(m.detected for m in self.matches)

    @property
    def missed(self) -> list[Match]:
        return [m for m in self.matches if not m.detected]

    def table(self) -> pd.DataFrame:
        """One row per labelled kind: labels, detected, max latency (s), and the detectors."""
        rows = []
        for m in self.matches:
            rows.append(
                {
                    "kind": m.label.kind,
                    "resource": m.label.resource,
                    "detected": m.detected,
                    "latency_s": m.latency_s,
                    "by": m.incident.kind if m.incident else None,
                }
            )
        return pd.DataFrame(rows, columns=["kind", "resource", "detected", "latency_s", "by"])


def score(
    incidents: Iterable[Incident],
    labels: Iterable[Label],
    *,
    period_s: int = 60,
    tolerance_periods: int = 2,
    tail: pd.Timedelta = DEFAULT_TAIL,
    lead: pd.Timedelta = DEFAULT_LEAD,
) -> Score:
    incidents = list(incidents)
    labels = list(labels)
    tolerance = pd.Timedelta(seconds=period_s * tolerance_periods)
    far = pd.Timestamp.max.tz_localize("UTC")
    out = Score()
    for label in labels:
        accepted = ACCEPTS.get(label.kind, frozenset({label.kind}))
        best: tuple[float, Incident] | None = None
        for inc in incidents:
            if (
                inc.kind not in accepted
                or inc.account != label.account
                or inc.resource != label.resource
            ):
                continue
            end = inc.end or far
            if inc.start >= label.end or end <= label.start:
                continue
            if inc.detected_at > label.start + tolerance:
                continue
            latency = max(0.0, (inc.detected_at - label.start).total_seconds())
            if best is None or latency < best[0]:
                best = (latency, inc)
        out.matches.append(Match(label, best[1] if best else None, best[0] if best else None))
    for inc in incidents:
        end = inc.end or far
        explained = any(
            inc.account == label.account
            and inc.resource == label.resource
            and inc.start < label.end + tail
            and end > label.start - lead
            for label in labels
        )
        if not explained:
            out.false_positives.append(inc)
    return out
