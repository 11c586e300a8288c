"""Ground truth files: incidents JSON round trip and the NAB corpus layout."""

from __future__ import annotations

import csv
import itertools
import json
from datetime import UTC, datetime

import pytest

from sandbox.world.ground_truth import (
    SCHEMA,
    GroundTruthError,
    export_nab,
    incidents_from_json,
    incidents_to_json,
    read_incidents,
    write_incidents,
)
from sandbox.world.model import Incident
from tests.unit.world_runs import run

pytestmark = pytest.mark.unit

INCIDENT = Incident(
    "retry-storm",
    "111111111111",
    "lambda:payment-processor",
    "payment-api",
    1_717_848_720.0,
    1_717_850_760.0,
    "demo",
    "payment-outage: payment-api answers 5xx",
)


def test_incidents_round_trip_through_a_file(tmp_path):
    incidents = [*run("prod", "demo", 7).incidents, INCIDENT]
    path = write_incidents(tmp_path / "truth" / "incidents.json", incidents)
    assert read_incidents(path) == incidents
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_the_json_document_is_readable():
    document = incidents_to_json([INCIDENT])
    assert document == {
        "schema": SCHEMA,
        "incidents": [
            {
                "kind": "retry-storm",
                "account_id": "111111111111",
                "resource": "lambda:payment-processor",
                "downstream": "payment-api",
                "start": "2024-06-08T12:12:00Z",
                "end": "2024-06-08T12:46:00Z",
                "scenario": "demo",
                "detail": "payment-outage: payment-api answers 5xx",
                "ongoing": False,
            }
        ],
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            {"schema": "other/1", "incidents": []},
            "truth.json: expected schema 'stormwatch.ground-truth/1', found 'other/1'",
            id="wrong-schema",
        ),
        pytest.param(
            [],
            "truth.json: expected schema 'stormwatch.ground-truth/1', found 'list'",
            id="not-object",
        ),
        pytest.param(
            {"schema": SCHEMA, "incidents": {}},
            "truth.json: 'incidents' must be a list",
            id="incidents-not-a-list",
        ),
        pytest.param(
            {"schema": SCHEMA, "incidents": [{"kind": "retry-storm"}]},
            "truth.json: incidents[0] lacks account_id, resource, downstream, start, end, scenario",
            id="missing-fields",
        ),
        pytest.param(
            {
                "schema": SCHEMA,
                "incidents": [
                    {**incidents_to_json([INCIDENT])["incidents"][0], "start": "yesterday"}
                ],
            },
            "truth.json: incidents[0] start/end must be ISO-8601 UTC times "
            "(Invalid isoformat string: 'yesterday')",
            id="bad-time",
        ),
    ],
)
def test_bad_documents_name_the_problem(document, message):
    with pytest.raises(GroundTruthError) as info:
        incidents_from_json(document, source="truth.json")
    assert str(info.value) == message


def test_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(GroundTruthError, match=r"truth\.json: not JSON"):
        read_incidents(path)


def test_nab_export_layout(tmp_path):
    prod, staging = run("prod", "demo", 7), run("staging", "demo", 7)
    labels = export_nab([prod, staging], tmp_path)
    data = tmp_path / "data"
    written = {p.relative_to(data).as_posix() for p in data.rglob("*.csv")}
    assert written == set(labels)
    on_disk = json.loads((tmp_path / "labels" / "combined_windows.json").read_text())
    assert on_disk == labels
    assert "prod/AWS/Lambda/Errors__payment-processor.csv" in labels
    assert "prod/AWS/SQS/ApproximateNumberOfMessagesVisible__payments-dlq.csv" in labels
    assert "staging/AWS/Lambda/Invocations__checkout-api.csv" in labels  # a control series
    assert labels["staging/AWS/Lambda/Invocations__checkout-api.csv"] == []

    with (data / "prod/AWS/Lambda/Errors__payment-processor.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["timestamp", "value"]
    assert len(rows) == 1 + len(prod.timestamps)
    assert rows[1][0] == datetime.fromtimestamp(int(prod.timestamps[0]), UTC).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    assert sum(int(v) for _, v in rows[1:]) == int(prod.functions["payment-processor"].errors.sum())

    # Duration: a row for each minute the function ran, none (a gap, as on CloudWatch) otherwise.
    fn = staging.functions["checkout-payments"]
    assert (fn.invocations == 0).any()  # the demo world has idle minutes to leave out
    with (data / "staging/AWS/Lambda/Duration-p99__checkout-payments.csv").open() as handle:
        durations = list(csv.reader(handle))[1:]
    assert len(durations) == int((fn.invocations > 0).sum())
    assert all(float(v) > 0 for _, v in durations)

    # windows: the union of the incidents on the file's resource, NAB-formatted, inclusive
    storm = [
        i
        for i in prod.incidents
        if i.resource == "lambda:payment-processor" and i.detail.startswith("payment-outage")
    ]
    windows = labels["prod/AWS/Lambda/Errors__payment-processor.csv"]
    assert len(windows) == 1
    start = datetime.strptime(windows[0][0], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    end = datetime.strptime(windows[0][1], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    assert start.timestamp() == min(i.start for i in storm)
    assert end.timestamp() == max(i.end for i in storm) - 60
    for file_windows in labels.values():
        assert file_windows == sorted(file_windows)
        for a, b in itertools.pairwise(file_windows):
            assert a[1] < b[0]  # merged: no overlaps


def test_nab_export_takes_one_run_per_account(tmp_path):
    prod = run("prod", "quiet", 7)
    with pytest.raises(
        ValueError, match=r"two results for account 'prod'; pass one run per account"
    ):
        export_nab([prod, prod], tmp_path)
