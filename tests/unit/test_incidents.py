"""Findings merge into incidents with stable ids; stored incidents keep their identity."""

from __future__ import annotations

import pandas as pd
import pytest

from alerts.findings import Finding
from alerts.incidents import incident_id, merge, reconcile, to_frame
from alerts.truth import Label, score
from collectors.schema import INCIDENTS

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2026-11-10T12:00Z")


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def finding(
    start: float,
    end: float | None,
    *,
    kind: str = "retry-storm",
    resource: str = "lambda:checkout",
    severity: str = "low",
    downstream: str | None = "payment-api",
    detected: float | None = None,
) -> Finding:
    return Finding(
        kind=kind,
        account="111111111111",
        region="us-east-1",
        resource=resource,
        start=at(start),
        end=None if end is None else at(end),
        severity=severity,
        summary=f"{kind} {severity}",
        downstream=downstream,
        evidence={"severity": severity},
        detected_at=at(detected if detected is not None else start + 1),
    )


def test_findings_close_in_time_merge_and_keep_the_peak() -> None:
    incidents = merge(
        [
            finding(0, 5, severity="low"),
            finding(12, 20, severity="high"),  # 7 minutes after: same storm
            finding(45, 50, severity="medium"),  # 25 minutes after: a new one
        ]
    )
    assert len(incidents) == 2
    first, second = incidents
    assert (first.start, first.end, first.severity) == (at(0), at(20), "high")
    assert first.summary == "retry-storm high"
    assert first.evidence["findings"] == 2
    assert first.detected_at == at(1)
    assert (second.start, second.end) == (at(45), at(50))


def test_an_ongoing_finding_makes_the_incident_ongoing() -> None:
    [incident] = merge([finding(0, 5), finding(8, None)])
    assert incident.ongoing and incident.end is None


def test_different_kinds_resources_or_downstreams_stay_apart() -> None:
    incidents = merge(
        [
            finding(0, 5),
            finding(0, 5, kind="function-errors", downstream=None),
            finding(0, 5, resource="lambda:refunds"),
            finding(0, 5, downstream="inventory-db"),
        ]
    )
    assert len(incidents) == 4
    assert len({i.id for i in incidents}) == 4


def test_ids_are_stable_and_merge_is_order_independent() -> None:
    findings = [finding(0, 5), finding(3, 9, severity="high"), finding(60, 65)]
    a = merge(findings)
    b = merge(list(reversed(findings)))
    assert [i.id for i in a] == [i.id for i in b]
    assert a[0].id == incident_id(
        "retry-storm", "111111111111", "us-east-1", "lambda:checkout", "payment-api", at(0)
    )
    assert a[0].id.startswith("retry-storm:")


def test_to_frame_matches_the_store_schema() -> None:
    frame = to_frame(merge([finding(0, 5), finding(30, None, kind="dlq-arrivals")]))
    assert list(frame.columns) == INCIDENTS.columns
    assert frame["end"].isna().sum() == 1
    assert str(frame["start"].dtype) == "datetime64[ms, UTC]"


def test_reconcile_keeps_the_stored_identity_of_a_continuing_incident() -> None:
    stored = to_frame(merge([finding(0, None, severity="high")]))
    # The next run's window starts later: it sees only the tail of the same storm.
    later = merge([finding(30, None, severity="low")])
    [kept] = reconcile(later, stored, window_start=at(30))
    assert kept.id == stored["id"].iloc[0]
    assert kept.start == at(0)
    assert kept.severity == "high"


def test_reconcile_closes_a_stored_incident_no_longer_seen() -> None:
    stored = to_frame(merge([finding(0, None)]))
    [closed] = reconcile([], stored, window_start=at(60))
    assert closed.end == at(60)
    assert "not seen again" in closed.evidence["closed"]


def test_reconcile_leaves_unrelated_incidents_alone() -> None:
    stored = to_frame(merge([finding(0, 5)]))
    new = merge([finding(200, 210)])
    assert reconcile(new, stored, window_start=at(100)) == new


def label(kind: str, start: float, end: float, resource: str = "lambda:checkout") -> Label:
    return Label(kind, "111111111111", resource, "payment-api", at(start), at(end))


def test_truth_scoring_counts_detections_latency_and_false_positives() -> None:
    incidents = merge(
        [
            finding(0, 30, detected=1.5),  # storm detected 1.5 min after its start
            finding(100, 110, resource="lambda:other", detected=101),  # nothing labelled there
            finding(200, 230, detected=204),  # too late: 4 minutes
        ]
    )
    labels = [label("retry-storm", 0, 30), label("retry-storm", 200, 230)]
    result = score(incidents, labels)
    assert result.detected == 1
    assert result.matches[0].latency_s == 90
    assert [m.label.start for m in result.missed] == [at(200)]
    assert [i.resource for i in result.false_positives] == ["lambda:other"]


def test_truth_scoring_accepts_related_kinds() -> None:
    incidents = merge([finding(0, 10, kind="breaker-flapping", resource="breaker:payment-api")])
    result = score(incidents, [label("breaker-open", 0, 10, resource="breaker:payment-api")])
    assert result.detected == 1
    wrong = merge([finding(0, 10, kind="dlq-growth", resource="breaker:payment-api")])
    assert score(wrong, [label("breaker-open", 0, 10, "breaker:payment-api")]).detected == 0
