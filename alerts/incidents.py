"""Findings → incidents: one incident per condition on one resource, with a stable id.

Findings of the same ``kind`` on the same account, resource and downstream merge into one
incident when their spans overlap or lie less than ``merge_gap`` apart (a retry storm that
pauses for three minutes is one storm). An incident keeps the earliest start, the latest end
(None while any of its findings still holds), the peak severity, the summary of its most severe
finding, and evidence: how many findings, when the first was detected, the peak finding's own
evidence and the spans.

Ids are stable: ``<kind>:<12 hex>`` from a hash of kind, account, region, resource, downstream
and start, so running the detectors twice over the same data yields the same incidents. When
incidents already in the store continue into the new run (detection over a sliding window sees
only the tail of an old incident), :func:`reconcile` keeps the stored id and start, so an
incident does not change identity as the window moves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from alerts.findings import SEVERITIES, Finding, severity_rank, utc
from collectors.schema import INCIDENTS

if TYPE_CHECKING:
    from collections.abc import Iterable

DEFAULT_MERGE_GAP = pd.Timedelta(minutes=10)
MAX_SPANS_IN_EVIDENCE = 20


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    kind: str
    account: str
    region: str
    resource: str
    downstream: str | None
    start: pd.Timestamp
    end: pd.Timestamp | None  # None: ongoing
    severity: str
    summary: str
    detected_at: pd.Timestamp
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.kind, self.account, self.region, self.resource, self.downstream or "")


def incident_id(
    kind: str, account: str, region: str, resource: str, downstream: str | None, start: Any
) -> str:
    text = "|".join((kind, account, region, resource, downstream or "", utc(start).isoformat()))
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _end_key(end: pd.Timestamp | None) -> pd.Timestamp:
    return pd.Timestamp.max.tz_localize("UTC") if end is None else end


def merge(
    findings: Iterable[Finding], *, merge_gap: pd.Timedelta = DEFAULT_MERGE_GAP
) -> list[Incident]:
    """Merge findings into incidents (deterministic: sorted by start, then key)."""
    groups: dict[tuple[str, ...], list[Finding]] = {}
    for f in findings:
        key = (f.kind, f.account, f.region, f.resource, f.downstream or "")
        groups.setdefault(key, []).append(f)
    out: list[Incident] = []
    for key in sorted(groups):
        ordered = sorted(groups[key], key=lambda f: (f.start, _end_key(f.end), f.detected_at))
        cluster: list[Finding] = []
        cluster_end: pd.Timestamp | None = None
        for f in ordered:
            if cluster and (cluster_end is None or f.start <= cluster_end + merge_gap):
                cluster.append(f)
                cluster_end = (
                    None if (cluster_end is None or f.end is None) else max(cluster_end, f.end)
                )
                continue
            if cluster:
                out.append(_incident(cluster))
            cluster, cluster_end = [f], f.end
        if cluster:
            out.append(_incident(cluster))
    return sorted(out, key=lambda i: (i.start, i.key))


def _incident(cluster: list[Finding]) -> Incident:
    first = cluster[0]
    ongoing = any(f.end is None for f in cluster)
    end = None if ongoing else max(f.end for f in cluster if f.end is not None)
    peak = max(cluster, key=lambda f: (severity_rank(f.severity), f.start))
    start = min(f.start for f in cluster)
    detected = min(f.detected_at for f in cluster)
    spans = [
        [f.start.isoformat(), None if f.end is None else f.end.isoformat()]
        for f in cluster[:MAX_SPANS_IN_EVIDENCE]
    ]
    evidence = {
        "findings": len(cluster),
        "detected_at": detected.isoformat(),
        "peak": peak.evidence,
        "spans": spans,
    }
    return Incident(
        id=incident_id(
            first.kind, first.account, first.region, first.resource, first.downstream, start
        ),
        kind=first.kind,
        account=first.account,
        region=first.region,
        resource=first.resource,
        downstream=first.downstream,
        start=start,
        end=end,
        severity=peak.severity,
        summary=peak.summary,
        detected_at=detected,
        evidence=evidence,
    )


def reconcile(
    new: Iterable[Incident],
    stored: pd.DataFrame,
    *,
    window_start: pd.Timestamp,
    merge_gap: pd.Timedelta = DEFAULT_MERGE_GAP,
) -> list[Incident]:
    """Give new incidents the identity of stored ones they continue.

    A new incident continues a stored one with the same kind, account, resource and downstream
    when the stored one was ongoing or ended within ``merge_gap`` of the new one's start, and the
    new one starts at or after it. It keeps the stored id and the earlier start and peak
    severity. Stored incidents that were ongoing, start before ``window_start`` and are not
    continued by any new incident are closed at ``window_start`` (the condition was not seen
    again). Returns the incidents to write: the new ones (continued or not) and the closed ones.
    """
    incidents = list(new)
    if stored.empty:
        return incidents
    previous = [_from_row(row) for row in stored.to_dict("records")]
    by_key: dict[tuple[str, ...], list[Incident]] = {}
    for inc in previous:
        by_key.setdefault(inc.key, []).append(inc)
    out: list[Incident] = []
    continued: set[str] = set()
    for inc in incidents:
        match = None
        for old in sorted(by_key.get(inc.key, ()), key=lambda i: i.start):
            if old.id == inc.id:
                match = old
                break
            reaches = old.end is None or inc.start <= old.end + merge_gap
            if old.start <= inc.start and reaches:
                match = old
        if match is None or match.id == inc.id:
            out.append(inc)
            continue
        continued.add(match.id)
        peak = max(match, inc, key=lambda i: severity_rank(i.severity))
        evidence = dict(inc.evidence)
        evidence["continues"] = match.id
        out.append(
            replace(
                inc,
                id=match.id,
                start=min(match.start, inc.start),
                detected_at=min(match.detected_at, inc.detected_at),
                severity=peak.severity,
                summary=peak.summary,
                evidence=evidence,
            )
        )
    new_ids = {i.id for i in out}
    for old in previous:
        if (
            old.end is None
            and old.start < window_start
            and old.id not in continued
            and old.id not in new_ids
        ):
            closed = dict(old.evidence)
            closed["closed"] = "not seen again by detection from " + window_start.isoformat()
            out.append(replace(old, end=max(window_start, old.start), evidence=closed))
    return out


def _from_row(row: dict[str, Any]) -> Incident:
    evidence = json.loads(row["evidence"]) if row.get("evidence") else {}
    detected = row.get("detected_at")
    detected = row["start"] if detected is None or pd.isna(detected) else detected
    end = row.get("end")
    return Incident(
        id=row["id"],
        kind=row["kind"],
        account=row["account"] or "",
        region=row.get("region") or "",
        resource=row["resource"],
        downstream=row.get("downstream") or None,
        start=utc(row["start"]),
        end=None if end is None or pd.isna(end) else utc(end),
        severity=row["severity"] if row["severity"] in SEVERITIES else "low",
        summary=row["summary"] or "",
        detected_at=utc(detected),
        evidence=evidence,
    )


def to_frame(incidents: Iterable[Incident]) -> pd.DataFrame:
    """Rows of the store's ``incidents`` table (``evidence`` as JSON)."""
    rows = [
        {
            "id": i.id,
            "kind": i.kind,
            "account": i.account,
            "region": i.region,
            "resource": i.resource,
            "downstream": i.downstream,
            "start": i.start,
            "end": i.end,
            "detected_at": i.detected_at,
            "severity": i.severity,
            "summary": i.summary,
            "evidence": json.dumps(i.evidence, sort_keys=True, default=str),
        }
        for i in incidents
    ]
    frame = pd.DataFrame(rows, columns=INCIDENTS.columns)
    for column in ("start", "end", "detected_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ms, UTC]")
    return frame
