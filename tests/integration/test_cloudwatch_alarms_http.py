"""CloudWatch alarms over HTTP through boto3, in each of CloudWatch's three wire protocols.

The sandbox's alarm backend (``sandbox/endpoint/cloudwatch/alarms.py``) reached the way a
user's code reaches AWS: a boto3 client, SigV4, the protocol botocore picks (forced here to
each of ``smithy-rpc-v2-cbor``, ``json`` and ``query``). Expected values are the ones the
CloudWatch API reference documents, computed in the test, never copied from the backend.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.endpoint.testing import DUMMY_CREDENTIALS, botocore_session

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.integration

PROTOCOLS = {"cbor": "smithy-rpc-v2-cbor", "json": "json", "query": "query"}
PROD, STAGING = "111111111111", "222222222222"
REGION = "us-east-1"
BOTH = ["MetricAlarm", "CompositeAlarm"]
INITIAL_REASON = "Unchecked: Initial alarm creation"  # what AWS writes on a new alarm


@pytest.fixture(params=list(PROTOCOLS.values()), ids=list(PROTOCOLS))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def clients(endpoint_server: Any) -> Callable[[str, bool], Any]:
    """Clients by (protocol, validating?), made once per module: creating one takes ~0.1 s."""

    @functools.cache
    def make(protocol: str, validating: bool) -> Any:
        session = boto3.Session(
            botocore_session=botocore_session("cloudwatch", protocol), **DUMMY_CREDENTIALS
        )
        config = Config(
            parameter_validation=validating,
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        return session.client(
            "cloudwatch", endpoint_url=endpoint_server.url, region_name=REGION, config=config
        )

    return make


@pytest.fixture
def cw(endpoint: Any, clients: Callable[[str, bool], Any], protocol: str) -> Any:
    """A CloudWatch client in ``protocol``; ``endpoint`` resets the sandbox after the test."""
    return clients(protocol, True)


@pytest.fixture
def unchecked(endpoint: Any, clients: Callable[[str, bool], Any], protocol: str) -> Any:
    """A client that skips botocore's own parameter validation, so the server sees bad input."""
    return clients(protocol, False)


# ----------------------------------------------------------------------------- request builders
def metric_stat(
    qid: str, metric: str, stat: str = "Sum", *, returns: bool = False
) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": "Shop",
                "MetricName": metric,
                "Dimensions": [{"Name": "Service", "Value": "checkout"}],
            },
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": returns,
    }


def single_metric(name: str, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "Shop",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "Service", "Value": "checkout"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "Threshold": 5,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def metric_math(name: str, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "EvaluationPeriods": 5,
        "Threshold": 0.05,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Metrics": [
            {"Id": "rate", "Expression": "errors / requests", "Label": "Error rate"},
            metric_stat("errors", "Errors"),
            metric_stat("requests", "Requests"),
        ],
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def anomaly_band(name: str, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "EvaluationPeriods": 2,
        "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold",
        "ThresholdMetricId": "band",
        "Metrics": [
            metric_stat("latency", "Latency", "p99", returns=True),
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(latency, 2)"},
        ],
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def arn_pattern(name: str, account: str = r"\d{12}") -> re.Pattern[str]:
    return re.compile(rf"arn:aws:cloudwatch:{REGION}:{account}:alarm:{re.escape(name)}")


def describe(cw: Any, name: str) -> dict[str, Any]:
    out = cw.describe_alarms(AlarmNames=[name], AlarmTypes=BOTH)
    (alarm,) = out["MetricAlarms"] + out["CompositeAlarms"]
    return dict(alarm)


def state_of(cw: Any, name: str) -> str:
    return str(describe(cw, name)["StateValue"])


def set_state(cw: Any, name: str, value: str, **extra: Any) -> None:
    cw.set_alarm_state(AlarmName=name, StateValue=value, StateReason=f"test: {value}", **extra)


def expected_metrics(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Metrics list as DescribeAlarms documents it: ReturnData defaults to true."""
    return [{**query, "ReturnData": query.get("ReturnData", True)} for query in queries]


# ----------------------------------------------------------------------------- PutMetricAlarm
ALARM_KINDS = [
    pytest.param(single_metric, id="single-metric"),
    pytest.param(metric_math, id="metric-math"),
    pytest.param(anomaly_band, id="anomaly-detection-band"),
]


@pytest.mark.parametrize("build", ALARM_KINDS)
def test_put_metric_alarm_is_described_as_sent(cw: Any, build: Callable[..., dict]) -> None:
    params = build("checkout-alarm", AlarmDescription="pages the on-call")
    cw.put_metric_alarm(**params)

    out = cw.describe_alarms(AlarmNames=["checkout-alarm"])
    assert out["CompositeAlarms"] == []
    (alarm,) = out["MetricAlarms"]
    assert arn_pattern("checkout-alarm").fullmatch(alarm["AlarmArn"])
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == INITIAL_REASON
    assert alarm["ActionsEnabled"] is True
    assert (alarm["OKActions"], alarm["AlarmActions"], alarm["InsufficientDataActions"]) == (
        [],
        [],
        [],
    )
    for member in ("AlarmDescription", "EvaluationPeriods", "ComparisonOperator"):
        assert alarm[member] == params[member]
    for member in ("MetricName", "Namespace", "Statistic", "Period", "Dimensions"):
        assert alarm.get(member) == params.get(member, [] if member == "Dimensions" else None)
    if "Threshold" in params:
        assert alarm["Threshold"] == float(params["Threshold"])
    else:
        assert "Threshold" not in alarm
    assert alarm.get("ThresholdMetricId") == params.get("ThresholdMetricId")
    assert alarm.get("Metrics") == (
        expected_metrics(params["Metrics"]) if "Metrics" in params else None
    )


def test_updating_an_alarm_replaces_its_configuration_but_keeps_its_state(cw: Any) -> None:
    cw.put_metric_alarm(**single_metric("errors"))
    set_state(cw, "errors", "ALARM")
    cw.put_metric_alarm(**single_metric("errors", Threshold=50, DatapointsToAlarm=None))
    alarm = describe(cw, "errors")
    assert (alarm["Threshold"], alarm["StateValue"]) == (50.0, "ALARM")
    assert "DatapointsToAlarm" not in alarm


# ----------------------------------------------------------------------------- DescribeAlarms
@pytest.mark.parametrize(
    ("alarm_types", "metric", "composite"),
    [
        pytest.param(None, ["cpu", "errors"], [], id="omitted-means-metric-only"),
        pytest.param(["MetricAlarm"], ["cpu", "errors"], [], id="metric"),
        pytest.param(["CompositeAlarm"], [], ["service-down"], id="composite"),
        pytest.param(BOTH, ["cpu", "errors"], ["service-down"], id="both"),
    ],
)
def test_describe_alarms_by_type(
    cw: Any, alarm_types: list[str] | None, metric: list[str], composite: list[str]
) -> None:
    cw.put_metric_alarm(**single_metric("errors"))
    cw.put_metric_alarm(**single_metric("cpu", MetricName="CPUUtilization"))
    cw.put_composite_alarm(AlarmName="service-down", AlarmRule='ALARM("errors") OR ALARM(cpu)')
    out = cw.describe_alarms(**({} if alarm_types is None else {"AlarmTypes": alarm_types}))
    assert [alarm["AlarmName"] for alarm in out["MetricAlarms"]] == metric
    assert [alarm["AlarmName"] for alarm in out["CompositeAlarms"]] == composite
    assert "NextToken" not in out


def test_composite_alarm_is_described_with_its_rule(cw: Any) -> None:
    cw.put_metric_alarm(**single_metric("errors"))
    rule = 'ALARM("errors")'
    cw.put_composite_alarm(
        AlarmName="service-down",
        AlarmRule=rule,
        AlarmDescription="checkout is down",
        ActionsEnabled=False,
    )
    alarm = describe(cw, "service-down")
    assert arn_pattern("service-down").fullmatch(alarm["AlarmArn"])
    assert (alarm["AlarmRule"], alarm["AlarmDescription"], alarm["ActionsEnabled"]) == (
        rule,
        "checkout is down",
        False,
    )
    assert alarm["StateValue"] in ("OK", "INSUFFICIENT_DATA")  # the child is not in ALARM
    related = cw.describe_alarms(ChildrenOfAlarmName="service-down")
    assert [a["AlarmName"] for a in related["MetricAlarms"]] == ["errors"]
    related = cw.describe_alarms(ParentsOfAlarmName="errors")
    assert [a["AlarmName"] for a in related["CompositeAlarms"]] == ["service-down"]


def test_describe_alarms_pages_through_every_alarm_once(cw: Any) -> None:
    metric_names = [f"metric-{n:02d}" for n in range(7)]
    composite_names = ["composite-a", "composite-b"]
    for name in metric_names:
        cw.put_metric_alarm(**single_metric(name))
    for name in composite_names:
        cw.put_composite_alarm(AlarmName=name, AlarmRule=f"ALARM({metric_names[0]})")

    pages = list(
        cw.get_paginator("describe_alarms").paginate(
            AlarmTypes=BOTH, PaginationConfig={"PageSize": 3}
        )
    )
    seen = [
        alarm["AlarmName"]
        for page in pages
        for alarm in page["MetricAlarms"] + page["CompositeAlarms"]
    ]
    assert sorted(seen) == sorted(metric_names + composite_names)
    assert len(seen) == len(set(seen))
    assert [len(page["MetricAlarms"]) + len(page["CompositeAlarms"]) for page in pages] == [3, 3, 3]
    assert ["NextToken" in page for page in pages] == [True, True, False]


PAGE = "arn:aws:sns:us-east-1:123456789012:page"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({"AlarmNamePrefix": "api-"}, ["api-errors", "api-latency"], id="name-prefix"),
        pytest.param({"StateValue": "ALARM"}, ["api-latency", "site"], id="state-alarm"),
        pytest.param({"StateValue": "OK"}, ["db-errors"], id="state-ok"),
        pytest.param({"ActionPrefix": "arn:aws:sns:"}, ["api-errors"], id="action-prefix"),
        pytest.param(
            {"AlarmNames": ["site", "db-errors", "nope"]}, ["db-errors", "site"], id="names"
        ),
    ],
)
def test_describe_alarms_filters(cw: Any, filters: dict[str, Any], expected: list[str]) -> None:
    cw.put_metric_alarm(**single_metric("api-errors", AlarmActions=[PAGE]))
    cw.put_metric_alarm(**single_metric("api-latency", MetricName="Latency"))
    cw.put_metric_alarm(**single_metric("db-errors", Namespace="Db"))
    cw.put_composite_alarm(AlarmName="site", AlarmRule="ALARM(api-latency)")
    set_state(cw, "api-latency", "ALARM")
    set_state(cw, "db-errors", "OK")
    out = cw.describe_alarms(AlarmTypes=BOTH, **filters)
    assert sorted(a["AlarmName"] for a in out["MetricAlarms"] + out["CompositeAlarms"]) == expected


def test_awkward_names_and_values_round_trip(cw: Any) -> None:
    """XML-special and non-ASCII characters survive every protocol, both ways."""
    name = "Checkout & <Cart> 5xx ✓ p99/eu"
    reason_data = json.dumps({"note": "<&> ✓"})
    cw.put_metric_alarm(
        **single_metric(
            name,
            AlarmDescription="errors > 5 & rising",
            Dimensions=[{"Name": "Route", "Value": "/cart?id=<1>&x=2"}],
            Tags=[{"Key": "owner&team", "Value": "<sre>"}],
        )
    )
    cw.put_composite_alarm(AlarmName="site ✓", AlarmRule=f'ALARM("{name}")')
    set_state(cw, name, "ALARM", StateReasonData=reason_data)
    alarm = describe(cw, name)
    assert (alarm["AlarmName"], alarm["AlarmDescription"]) == (name, "errors > 5 & rising")
    assert alarm["Dimensions"] == [{"Name": "Route", "Value": "/cart?id=<1>&x=2"}]
    assert json.loads(alarm["StateReasonData"]) == {"note": "<&> ✓"}
    assert state_of(cw, "site ✓") == "ALARM"
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "owner&team", "Value": "<sre>"}]


# ----------------------------------------------------------------------------- tags
@pytest.mark.parametrize("kind", ["metric", "composite"])
def test_tags_are_added_overwritten_listed_and_removed(cw: Any, kind: str) -> None:
    cw.put_metric_alarm(**single_metric("errors", Tags=[{"Key": "team", "Value": "sre"}]))
    name = "errors"
    if kind == "composite":
        name = "service-down"
        cw.put_composite_alarm(
            AlarmName=name, AlarmRule="ALARM(errors)", Tags=[{"Key": "team", "Value": "sre"}]
        )
    arn = describe(cw, name)["AlarmArn"]

    def tags() -> dict[str, str]:
        listed = cw.list_tags_for_resource(ResourceARN=arn)["Tags"]
        return {tag["Key"]: tag["Value"] for tag in listed}

    assert tags() == {"team": "sre"}
    cw.tag_resource(
        ResourceARN=arn,
        Tags=[{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}],
    )
    assert tags() == {"team": "payments", "env": "prod"}
    cw.untag_resource(ResourceARN=arn, TagKeys=["team", "never-set"])
    assert tags() == {"env": "prod"}


# ----------------------------------------------------------------------------- composite state
# Composite rules with the same rule as a Python predicate over the children's states.
RULES = [
    pytest.param('ALARM("a") OR ALARM("b")', lambda s: "ALARM" in (s["a"], s["b"]), id="or"),
    pytest.param("ALARM(a) AND ALARM(b)", lambda s: s["a"] == s["b"] == "ALARM", id="and"),
    pytest.param("ALARM(a) AND NOT ALARM(b)", lambda s: s["a"] == "ALARM" != s["b"], id="and-not"),
    pytest.param(
        "OK(a) OR (INSUFFICIENT_DATA(b) AND TRUE)",
        lambda s: s["a"] == "OK" or s["b"] == "INSUFFICIENT_DATA",
        id="ok-or-insufficient",
    ),
]
STEPS = [("a", "ALARM"), ("b", "ALARM"), ("a", "OK"), ("b", "OK"), ("a", "ALARM"), ("b", "ALARM")]


@pytest.mark.parametrize(("rule", "holds"), RULES)
def test_set_alarm_state_drives_the_composite(
    cw: Any, rule: str, holds: Callable[[dict[str, str]], bool]
) -> None:
    states = {"a": "INSUFFICIENT_DATA", "b": "INSUFFICIENT_DATA"}
    for name in states:
        cw.put_metric_alarm(**single_metric(name))
    cw.put_composite_alarm(AlarmName="both", AlarmRule=rule)
    assert state_of(cw, "both") == ("ALARM" if holds(states) else "OK")
    for child, value in STEPS:
        set_state(cw, child, value)
        states[child] = value
        assert state_of(cw, child) == value
        assert state_of(cw, "both") == ("ALARM" if holds(states) else "OK"), (child, value)


def test_composite_of_composites_follows_its_grandchildren(cw: Any) -> None:
    for name in ("db", "api"):
        cw.put_metric_alarm(**single_metric(name))
    cw.put_composite_alarm(AlarmName="backend", AlarmRule="ALARM(db)")
    cw.put_composite_alarm(AlarmName="site", AlarmRule="ALARM(backend) OR ALARM(api)")
    set_state(cw, "db", "ALARM")
    assert (state_of(cw, "backend"), state_of(cw, "site")) == ("ALARM", "ALARM")
    set_state(cw, "db", "OK")
    assert (state_of(cw, "backend"), state_of(cw, "site")) == ("OK", "OK")


# ----------------------------------------------------------------------------- history
def state_updates(cw: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    pages = cw.get_paginator("describe_alarm_history").paginate(
        AlarmName=name,
        HistoryItemType="StateUpdate",
        ScanBy="TimestampAscending",
        PaginationConfig={"PageSize": 2},
        **params,
    )
    return [item for page in pages for item in page["AlarmHistoryItems"]]


def transitions(initial: str, values: list[str]) -> list[tuple[str, str]]:
    """(old, new) for every step that changes the state; repeating a state is no change."""
    changes, current = [], initial
    for value in values:
        if value != current:
            changes.append((current, value))
            current = value
    return changes


HISTORY_STEPS = ["ALARM", "ALARM", "OK", "INSUFFICIENT_DATA", "OK", "OK", "ALARM"]


def test_history_records_every_state_change(cw: Any) -> None:
    cw.put_metric_alarm(**single_metric("errors"))
    cw.put_composite_alarm(AlarmName="service-down", AlarmRule="ALARM(errors)")
    # A composite starts in INSUFFICIENT_DATA; it may already have been evaluated (to OK).
    composite_values = [state_of(cw, "service-down")]
    for value in HISTORY_STEPS:
        set_state(cw, "errors", value, StateReasonData=json.dumps({"step": value}))
        composite_values.append("ALARM" if value == "ALARM" else "OK")

    expected = {
        "errors": transitions("INSUFFICIENT_DATA", HISTORY_STEPS),
        "service-down": transitions("INSUFFICIENT_DATA", composite_values),
    }
    for name, alarm_type in (("errors", "MetricAlarm"), ("service-down", "CompositeAlarm")):
        items = state_updates(cw, name, AlarmTypes=[alarm_type])
        assert len(items) == len(expected[name]), name
        seen = []
        for item in items:
            data = json.loads(item["HistoryData"])
            old, new = data["oldState"]["stateValue"], data["newState"]["stateValue"]
            seen.append((old, new))
            assert (item["AlarmName"], item["AlarmType"]) == (name, alarm_type)
            assert item["HistorySummary"] == f"Alarm updated from {old} to {new}"
        assert seen == expected[name]

    last = json.loads(state_updates(cw, "errors")[-1]["HistoryData"])
    assert last["newState"]["stateReason"] == "test: ALARM"
    assert last["newState"]["stateReasonData"] == {"step": "ALARM"}


def test_history_without_alarm_types_is_metric_alarms_only(cw: Any) -> None:
    cw.put_metric_alarm(**single_metric("errors"))
    cw.put_composite_alarm(AlarmName="service-down", AlarmRule="ALARM(errors)")
    set_state(cw, "errors", "ALARM")
    default = cw.describe_alarm_history()["AlarmHistoryItems"]
    both = cw.describe_alarm_history(AlarmTypes=BOTH)["AlarmHistoryItems"]
    assert {item["AlarmType"] for item in default} == {"MetricAlarm"}
    assert {item["AlarmName"] for item in both} == {"errors", "service-down"}
    assert {item["HistoryItemType"] for item in both} == {"ConfigurationUpdate", "StateUpdate"}


def test_history_between_dates(cw: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    cw.put_metric_alarm(**single_metric("errors"))
    set_state(cw, "errors", "ALARM")
    after = datetime.now(UTC) + timedelta(seconds=1)
    inside = cw.describe_alarm_history(StartDate=before, EndDate=after)["AlarmHistoryItems"]
    assert [item["HistoryItemType"] for item in inside] == ["StateUpdate", "ConfigurationUpdate"]
    assert all(before <= item["Timestamp"] <= after for item in inside)  # newest first
    earlier = cw.describe_alarm_history(EndDate=before - timedelta(hours=1))
    assert earlier["AlarmHistoryItems"] == []


# ----------------------------------------------------------------------------- DeleteAlarms
def test_delete_alarms_removes_both_kinds_and_keeps_history(cw: Any) -> None:
    for name in ("a", "b"):
        cw.put_metric_alarm(**single_metric(name))
    cw.put_composite_alarm(AlarmName="c", AlarmRule="ALARM(a) OR ALARM(b)")
    cw.delete_alarms(AlarmNames=["c"])
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmTypes=BOTH)["MetricAlarms"]] == [
        "a",
        "b",
    ]
    cw.delete_alarms(AlarmNames=["a", "b"])
    out = cw.describe_alarms(AlarmTypes=BOTH)
    assert (out["MetricAlarms"], out["CompositeAlarms"]) == ([], [])
    history = cw.describe_alarm_history(AlarmName="a", HistoryItemType="ConfigurationUpdate")
    assert [item["HistorySummary"] for item in history["AlarmHistoryItems"]] == [
        'Alarm "a" deleted',
        'Alarm "a" created',
    ]


# ----------------------------------------------------------------------------- bad input
# (id, call on the validating client or on the unchecked one, AWS's code, HTTP status).
# Before each call: metric alarm "a" exists, and composite "c" = ALARM(a).
BAD_INPUT: list[tuple[str, str, Callable[[Any], Any], str, int]] = [
    (
        "put-metric-alarm-missing-required",
        "unchecked",
        lambda c: c.put_metric_alarm(AlarmName="x", MetricName="Errors"),
        "ValidationError",
        400,
    ),
    (
        "put-metric-alarm-without-metric-name",
        "checked",
        lambda c: c.put_metric_alarm(**single_metric("x", MetricName=None)),
        "ValidationError",
        400,
    ),
    (
        "put-metric-alarm-without-statistic",
        "checked",
        lambda c: c.put_metric_alarm(**single_metric("x", Statistic=None)),
        "MissingParameter",
        400,
    ),
    (
        "put-metric-alarm-without-threshold",
        "checked",
        lambda c: c.put_metric_alarm(**single_metric("x", Threshold=None)),
        "MissingParameter",
        400,
    ),
    (
        "statistic-and-extended-statistic",
        "checked",
        lambda c: c.put_metric_alarm(**single_metric("x", ExtendedStatistic="p99")),
        "InvalidParameterCombination",
        400,
    ),
    (
        "metric-math-with-two-results",
        "checked",
        lambda c: c.put_metric_alarm(
            **metric_math(
                "x",
                Metrics=[
                    metric_stat("m1", "A", returns=True),
                    metric_stat("m2", "B", returns=True),
                ],
            )
        ),
        "ValidationError",
        400,
    ),
    (
        "band-operator-without-threshold-metric-id",
        "checked",
        lambda c: c.put_metric_alarm(**anomaly_band("x", ThresholdMetricId=None)),
        "ValidationError",
        400,
    ),
    (
        "threshold-metric-id-not-a-band",
        "checked",
        lambda c: c.put_metric_alarm(**anomaly_band("x", ThresholdMetricId="latency")),
        "ValidationError",
        400,
    ),
    (
        "composite-missing-rule",
        "unchecked",
        lambda c: c.put_composite_alarm(AlarmName="x"),
        "ValidationError",
        400,
    ),
    (
        "composite-rule-names-missing-alarm",
        "checked",
        lambda c: c.put_composite_alarm(AlarmName="x", AlarmRule='ALARM(a) OR ALARM("gone")'),
        "ValidationError",
        400,
    ),
    (
        "composite-rule-syntax-error",
        "checked",
        lambda c: c.put_composite_alarm(AlarmName="x", AlarmRule="ALARM(a) ORR OK(a)"),
        "ValidationError",
        400,
    ),
    (
        "composite-rule-unbalanced",
        "checked",
        lambda c: c.put_composite_alarm(AlarmName="x", AlarmRule="(ALARM(a) OR OK(a)"),
        "ValidationError",
        400,
    ),
    (
        "set-state-reason-data-not-json",
        "checked",
        lambda c: set_state(c, "a", "ALARM", StateReasonData="{not json"),
        "InvalidFormat",
        400,
    ),
    (
        "set-state-unknown-value",
        "checked",
        lambda c: set_state(c, "a", "BROKEN"),
        "ValidationError",
        400,
    ),
    (
        "set-state-missing-reason",
        "unchecked",
        lambda c: c.set_alarm_state(AlarmName="a", StateValue="OK"),
        "ValidationError",
        400,
    ),
    (
        "set-state-unknown-alarm",
        "checked",
        lambda c: set_state(c, "nope", "ALARM"),
        "ResourceNotFound",
        404,
    ),
    (
        "delete-child-of-composite",
        "checked",
        lambda c: c.delete_alarms(AlarmNames=["a"]),
        "ResourceConflict",
        409,
    ),
    (
        "delete-unknown-alarm",
        "checked",
        lambda c: c.delete_alarms(AlarmNames=["nope"]),
        "ResourceNotFound",
        404,
    ),
    (
        "tags-unknown-alarm",
        "checked",
        lambda c: c.list_tags_for_resource(
            ResourceARN=f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:nope"
        ),
        "ResourceNotFoundException",
        404,
    ),
    (
        "tags-not-an-alarm-arn",
        "checked",
        lambda c: c.tag_resource(ResourceARN="errors", Tags=[{"Key": "k", "Value": "v"}]),
        "InvalidParameterValue",
        400,
    ),
    (
        "describe-bad-next-token",
        "checked",
        lambda c: c.describe_alarms(NextToken="not-a-token!"),
        "InvalidNextToken",
        400,
    ),
    (
        "describe-names-and-prefix",
        "checked",
        lambda c: c.describe_alarms(AlarmNames=["a"], AlarmNamePrefix="a"),
        "InvalidParameterCombination",
        400,
    ),
    (
        "history-bad-next-token",
        "checked",
        lambda c: c.describe_alarm_history(NextToken="not-a-token!"),
        "InvalidNextToken",
        400,
    ),
]


def assert_aws_error(
    caught: pytest.ExceptionInfo[ClientError], client: Any, code: str, status: int
) -> None:
    response = caught.value.response
    error = response["Error"]
    assert (error["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), error
    assert error["Message"]
    assert error.get("Type", "Sender") == "Sender"
    # JSON and CBOR carry the error's shape name: the operation's own modelled error when it
    # declares one with this code (SetAlarmState's ResourceNotFound, not DashboardNotFoundError).
    shape_name = error.get("QueryErrorCode")
    if shape_name is not None:
        operation = client.meta.service_model.operation_model(caught.value.operation_name)
        declared = {
            shape.metadata.get("error", {}).get("code", shape.name): shape.name
            for shape in operation.error_shapes
        }
        assert shape_name == declared.get(code, shape_name)
    assert isinstance(caught.value, client.exceptions.from_code(code))


@pytest.mark.parametrize(
    ("which", "call", "code", "status"),
    [pytest.param(w, c, code, s, id=name) for name, w, c, code, s in BAD_INPUT],
)
def test_bad_input_is_a_client_error_with_awss_code(
    cw: Any,
    unchecked: Any,
    which: str,
    call: Callable[[Any], Any],
    code: str,
    status: int,
) -> None:
    cw.put_metric_alarm(**single_metric("a"))
    cw.put_composite_alarm(AlarmName="c", AlarmRule="ALARM(a)")
    client = unchecked if which == "unchecked" else cw
    with pytest.raises(ClientError) as caught:
        call(client)
    assert_aws_error(caught, client, code, status)
    # Nothing was half-applied: the alarms are as they were.
    out = cw.describe_alarms(AlarmTypes=BOTH)
    assert [a["AlarmName"] for a in out["MetricAlarms"] + out["CompositeAlarms"]] == ["a", "c"]


# ----------------------------------------------------------------------------- accounts
def test_accounts_are_isolated(aws: Callable[..., Any], protocol: str) -> None:
    prod = aws("cloudwatch", account=PROD, protocol=protocol)
    staging = aws("cloudwatch", account=STAGING, protocol=protocol)
    prod.put_metric_alarm(**single_metric("errors", Tags=[{"Key": "team", "Value": "sre"}]))
    prod.put_composite_alarm(AlarmName="service-down", AlarmRule="ALARM(errors)")
    arn = describe(prod, "errors")["AlarmArn"]
    assert arn_pattern("errors", PROD).fullmatch(arn)

    out = staging.describe_alarms(AlarmTypes=BOTH)
    assert (out["MetricAlarms"], out["CompositeAlarms"]) == ([], [])
    assert staging.describe_alarm_history(AlarmTypes=BOTH)["AlarmHistoryItems"] == []
    with pytest.raises(ClientError) as caught:
        set_state(staging, "errors", "ALARM")
    assert_aws_error(caught, staging, "ResourceNotFound", 404)
    with pytest.raises(ClientError) as caught:
        staging.list_tags_for_resource(ResourceARN=arn)
    assert_aws_error(caught, staging, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as caught:  # a rule cannot name another account's alarm
        staging.put_composite_alarm(AlarmName="x", AlarmRule=f'ALARM("{arn}")')
    assert_aws_error(caught, staging, "ValidationError", 400)

    # The same name in staging is a different alarm; prod's is untouched.
    staging.put_metric_alarm(**single_metric("errors"))
    set_state(staging, "errors", "ALARM")
    assert arn_pattern("errors", STAGING).fullmatch(describe(staging, "errors")["AlarmArn"])
    assert (state_of(prod, "errors"), state_of(prod, "service-down")) == (
        "INSUFFICIENT_DATA",
        "OK",
    )
