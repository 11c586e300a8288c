"""The sandbox's CloudWatch alarms backend, called directly with boto3-shaped params."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from sandbox.endpoint.cloudwatch.alarms import ALARM_OPERATIONS, AlarmsBackend
from sandbox.endpoint.context import RequestContext
from sandbox.endpoint.errors import AwsError

pytestmark = pytest.mark.unit

ACCOUNT, REGION = "123456789012", "eu-west-1"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BOTH = ["MetricAlarm", "CompositeAlarm"]
MODEL = botocore.session.get_session().get_service_model("cloudwatch")


def ctx(minutes: float = 0) -> RequestContext:
    return RequestContext(ACCOUNT, REGION, T0 + timedelta(minutes=minutes))


def arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}"


def metric_params(name: str = "errors", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "checkout"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 5,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def math_params(name: str = "error-rate", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "Threshold": 0.05,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Metrics": [
            {"Id": "rate", "Expression": "errors / invocations", "ReturnData": True},
            _stat("errors", "Errors"),
            _stat("invocations", "Invocations"),
        ],
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def anomaly_params(name: str = "latency-band", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": name,
        "EvaluationPeriods": 2,
        "ComparisonOperator": "GreaterThanUpperThreshold",
        "ThresholdMetricId": "band",
        "Metrics": [
            {**_stat("m1", "Duration", stat="p99"), "ReturnData": True},
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": True},
        ],
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def _stat(qid: str, metric: str, stat: str = "Sum", period: int = 60) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": []},
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": False,
    }


@pytest.fixture
def backend() -> AlarmsBackend:
    return AlarmsBackend(ACCOUNT, REGION)


def put_metric(backend: AlarmsBackend, name: str, minutes: float = 0, **overrides: Any) -> None:
    backend.put_metric_alarm(metric_params(name, **overrides), ctx(minutes))


def put_composite(
    backend: AlarmsBackend, name: str, rule: str, minutes: float = 0, **extra: Any
) -> None:
    backend.put_composite_alarm({"AlarmName": name, "AlarmRule": rule, **extra}, ctx(minutes))


def set_state(backend: AlarmsBackend, name: str, state: str, minutes: float = 1) -> None:
    params = {"AlarmName": name, "StateValue": state, "StateReason": f"test: {state}"}
    backend.set_alarm_state(params, ctx(minutes))


def describe(backend: AlarmsBackend, name: str) -> dict[str, Any]:
    out = backend.describe_alarms({"AlarmNames": [name], "AlarmTypes": BOTH}, ctx())
    (alarm,) = out["MetricAlarms"] + out["CompositeAlarms"]
    result: dict[str, Any] = alarm
    return result


def states(backend: AlarmsBackend) -> dict[str, str]:
    out = backend.describe_alarms({"AlarmTypes": BOTH}, ctx())
    return {a["AlarmName"]: a["StateValue"] for a in out["MetricAlarms"] + out["CompositeAlarms"]}


def history(backend: AlarmsBackend, **params: Any) -> list[dict[str, Any]]:
    params.setdefault("AlarmTypes", BOTH)
    params.setdefault("ScanBy", "TimestampAscending")
    items: list[dict[str, Any]] = backend.describe_alarm_history(params, ctx())["AlarmHistoryItems"]
    return items


def state_updates(backend: AlarmsBackend, name: str) -> list[str]:
    items = history(backend, AlarmName=name, HistoryItemType="StateUpdate")
    return [item["HistorySummary"] for item in items]


def raises(code: str, call: Any, *args: Any, **kwargs: Any) -> AwsError:
    with pytest.raises(AwsError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def assert_matches_output_shape(operation: str, output: dict[str, Any]) -> None:
    """The dict is acceptable to botocore as the operation's output structure."""
    shape = MODEL.operation_model(operation).output_shape
    report = ParamValidator().validate(output, shape)
    assert not report.has_errors(), report.generate_report()


# ----------------------------------------------------------------------------- PutMetricAlarm
def test_new_metric_alarm_starts_insufficient_data(backend: AlarmsBackend) -> None:
    backend.put_metric_alarm(metric_params("errors", AlarmDescription="checkout"), ctx())
    alarm = describe(backend, "errors")
    assert alarm == {
        "AlarmName": "errors",
        "AlarmArn": arn("errors"),
        "AlarmDescription": "checkout",
        "AlarmConfigurationUpdatedTimestamp": T0,
        "ActionsEnabled": True,
        "OKActions": [],
        "AlarmActions": [],
        "InsufficientDataActions": [],
        "StateValue": "INSUFFICIENT_DATA",
        "StateReason": "Unchecked: Initial alarm creation",
        "StateUpdatedTimestamp": T0,
        "MetricName": "Errors",
        "Namespace": "AWS/Lambda",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "FunctionName", "Value": "checkout"}],
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 5.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "StateTransitionedTimestamp": T0,
    }


def test_optional_members_are_returned_only_when_set(backend: AlarmsBackend) -> None:
    put_metric(
        backend,
        "errors",
        DatapointsToAlarm=2,
        TreatMissingData="notBreaching",
        Unit="Count",
        ActionsEnabled=False,
        AlarmActions=["arn:aws:sns:eu-west-1:123456789012:page"],
    )
    alarm = describe(backend, "errors")
    assert alarm["DatapointsToAlarm"] == 2
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["Unit"] == "Count"
    assert alarm["ActionsEnabled"] is False
    assert alarm["AlarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:page"]
    assert "ExtendedStatistic" not in alarm and "StateReasonData" not in alarm


def test_update_replaces_configuration_keeps_state_and_ignores_tags(
    backend: AlarmsBackend,
) -> None:
    put_metric(backend, "errors", AlarmDescription="v1", Tags=[{"Key": "team", "Value": "a"}])
    set_state(backend, "errors", "ALARM", minutes=1)
    put_metric(backend, "errors", minutes=2, Threshold=9, Tags=[{"Key": "team", "Value": "b"}])
    alarm = describe(backend, "errors")
    assert alarm["Threshold"] == 9.0
    assert "AlarmDescription" not in alarm  # the whole configuration is replaced
    assert alarm["StateValue"] == "ALARM"
    assert alarm["AlarmConfigurationUpdatedTimestamp"] == T0 + timedelta(minutes=2)
    assert alarm["StateTransitionedTimestamp"] == T0 + timedelta(minutes=1)
    tags = backend.list_tags_for_resource({"ResourceARN": arn("errors")}, ctx())
    assert tags == {"Tags": [{"Key": "team", "Value": "a"}]}
    summaries = [
        i["HistorySummary"] for i in history(backend, HistoryItemType="ConfigurationUpdate")
    ]
    assert summaries == ['Alarm "errors" created', 'Alarm "errors" updated']


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(math_params(), id="metric-math"),
        pytest.param(anomaly_params(), id="anomaly-detection-band"),
        pytest.param(metric_params(Statistic=None, ExtendedStatistic="p99.9"), id="percentile"),
        pytest.param(metric_params(Statistic=None, ExtendedStatistic="TM(10%:90%)"), id="tm-range"),
        pytest.param(metric_params(Statistic=None, ExtendedStatistic="IQM"), id="iqm"),
        pytest.param(metric_params(Statistic=None, ExtendedStatistic="PR(0:300)"), id="pr"),
        pytest.param(metric_params(Period=10), id="high-resolution-10s"),
        pytest.param(metric_params(Period=20), id="high-resolution-20s"),
        pytest.param(metric_params(Period=3600, EvaluationPeriods=168), id="seven-days"),
        pytest.param(metric_params(Dimensions=None), id="no-dimensions"),
        pytest.param(metric_params(TreatMissingData="breaching"), id="treat-missing-breaching"),
        pytest.param(
            metric_params(
                Statistic=None, ExtendedStatistic="p90", EvaluateLowSampleCountPercentile="ignore"
            ),
            id="low-sample-count-ignore",
        ),
    ],
)
def test_valid_alarms_are_accepted(backend: AlarmsBackend, params: dict[str, Any]) -> None:
    backend.put_metric_alarm(params, ctx())
    alarm = describe(backend, params["AlarmName"])
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert_matches_output_shape("DescribeAlarms", {"MetricAlarms": [alarm]})


def test_math_alarm_returns_its_queries_with_explicit_return_data(backend: AlarmsBackend) -> None:
    params = math_params()
    del params["Metrics"][0]["ReturnData"]  # ReturnData defaults to true
    backend.put_metric_alarm(params, ctx())
    alarm = describe(backend, "error-rate")
    assert [q["ReturnData"] for q in alarm["Metrics"]] == [True, False, False]
    assert "MetricName" not in alarm and alarm["Dimensions"] == []


def test_anomaly_alarm_keeps_threshold_metric_id(backend: AlarmsBackend) -> None:
    backend.put_metric_alarm(anomaly_params(), ctx())
    alarm = describe(backend, "latency-band")
    assert alarm["ThresholdMetricId"] == "band" and "Threshold" not in alarm


def _without(params: dict[str, Any], *members: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in members}


def _returning(params: dict[str, Any], *ids: str) -> dict[str, Any]:
    queries = [{**q, "ReturnData": q["Id"] in ids} for q in params["Metrics"]]
    return {**params, "Metrics": queries}


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        pytest.param(
            _without(metric_params(), "AlarmName"),
            "ValidationError",
            "1 validation error detected: Value null at 'alarmName' failed to satisfy "
            "constraint: Member must not be null",
            id="missing-alarm-name",
        ),
        pytest.param(
            metric_params("x" * 256),
            "ValidationError",
            "Member must have length less than or equal to 255",
            id="alarm-name-too-long",
        ),
        pytest.param(
            _without(metric_params(), "EvaluationPeriods"),
            "ValidationError",
            "Value null at 'evaluationPeriods'",
            id="missing-evaluation-periods",
        ),
        pytest.param(
            _without(metric_params(), "ComparisonOperator"),
            "ValidationError",
            "Value null at 'comparisonOperator'",
            id="missing-comparison-operator",
        ),
        pytest.param(
            metric_params(ComparisonOperator="Above"),
            "ValidationError",
            "Value 'Above' at 'comparisonOperator' failed to satisfy constraint: Member must "
            "satisfy enum value set: [GreaterThanOrEqualToThreshold,",
            id="unknown-comparison-operator",
        ),
        pytest.param(
            metric_params(Statistic="Median"),
            "ValidationError",
            "Value 'Median' at 'statistic' failed to satisfy constraint",
            id="unknown-statistic",
        ),
        pytest.param(
            metric_params(AlarmActions=[f"arn:aws:sns:eu-west-1:1:t{i}" for i in range(6)]),
            "ValidationError",
            "at 'alarmActions' failed to satisfy constraint: Member must have length less than "
            "or equal to 5",
            id="six-alarm-actions",
        ),
        pytest.param(
            metric_params(EvaluationPeriods=0),
            "ValidationError",
            "Member must have value greater than or equal to 1",
            id="zero-evaluation-periods",
        ),
        pytest.param(
            _without(metric_params(), "MetricName"),
            "ValidationError",
            "MetricName must not be null",
            id="missing-metric-name",
        ),
        pytest.param(
            _without(metric_params(), "Namespace"),
            "ValidationError",
            "Namespace must not be null",
            id="missing-namespace",
        ),
        pytest.param(
            _without(metric_params(), "Period"),
            "ValidationError",
            "Period must not be null",
            id="missing-period",
        ),
        pytest.param(
            metric_params(Period=45),
            "ValidationError",
            "Period must be 10, 20, 30 or a multiple of 60",
            id="period-45s",
        ),
        pytest.param(
            metric_params(Period=60, EvaluationPeriods=1441),
            "ValidationError",
            "must not exceed 86400 seconds",
            id="more-than-a-day-of-minutes",
        ),
        pytest.param(
            metric_params(Period=3600, EvaluationPeriods=169),
            "ValidationError",
            "must not exceed 604800 seconds",
            id="more-than-seven-days",
        ),
        pytest.param(
            metric_params(ExtendedStatistic="p99"),
            "InvalidParameterCombination",
            "The parameters Statistic and ExtendedStatistic are mutually exclusive",
            id="statistic-and-extended-statistic",
        ),
        pytest.param(
            _without(metric_params(), "Statistic"),
            "MissingParameter",
            "The parameter Statistic or ExtendedStatistic must be specified.",
            id="no-statistic",
        ),
        pytest.param(
            metric_params(Statistic=None, ExtendedStatistic="median"),
            "InvalidParameterValue",
            "The value median for parameter ExtendedStatistic is not supported.",
            id="bad-extended-statistic",
        ),
        pytest.param(
            _without(metric_params(), "Threshold"),
            "MissingParameter",
            "The parameter Threshold must be specified.",
            id="missing-threshold",
        ),
        pytest.param(
            metric_params(EvaluationPeriods=2, DatapointsToAlarm=3),
            "ValidationError",
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods",
            id="m-greater-than-n",
        ),
        pytest.param(
            metric_params(TreatMissingData="zero"),
            "ValidationError",
            "The value zero is not supported for TreatMissingData parameter. Supported values "
            "are [breaching, notBreaching, ignore, missing].",
            id="bad-treat-missing-data",
        ),
        pytest.param(
            metric_params(EvaluateLowSampleCountPercentile="skip"),
            "ValidationError",
            "Option skip is not supported.",
            id="bad-low-sample-count-option",
        ),
        pytest.param(
            {**math_params(), "MetricName": "Errors"},
            "ValidationError",
            "MetricName should not be set if list of Metrics is set.",
            id="metrics-and-metric-name",
        ),
        pytest.param(
            {**math_params(), "Unit": "Count"},
            "ValidationError",
            "Unit should not be set if list of Metrics is set.",
            id="metrics-and-unit",
        ),
        pytest.param(
            {**math_params(), "Period": 60},
            "ValidationError",
            "Period should not be set if list of Metrics is set.",
            id="metrics-and-period",
        ),
        pytest.param(
            _returning(math_params()),
            "ValidationError",
            "Exactly one element of the metrics list should return data.",
            id="no-query-returns-data",
        ),
        pytest.param(
            _returning(math_params(), "rate", "errors"),
            "ValidationError",
            "Exactly one element of the metrics list should return data.",
            id="two-queries-return-data",
        ),
        pytest.param(
            math_params(Metrics=[{"Id": "Rate", "Expression": "1", "ReturnData": True}]),
            "ValidationError",
            "must start with a lowercase letter",
            id="metric-id-uppercase",
        ),
        pytest.param(
            math_params(
                Metrics=[_stat("m1", "Errors"), {**_stat("m1", "Errors"), "ReturnData": True}]
            ),
            "ValidationError",
            "the Id 'm1' is used twice",
            id="duplicate-metric-id",
        ),
        pytest.param(
            math_params(Metrics=[{**_stat("m1", "Errors"), "Expression": "1", "ReturnData": True}]),
            "ValidationError",
            "must specify exactly one of MetricStat and Expression",
            id="stat-and-expression",
        ),
        pytest.param(
            math_params(Metrics=[{**_stat("m1", "Errors", period=45), "ReturnData": True}]),
            "ValidationError",
            "Metrics.member.1.MetricStat.Period must be 10, 20, 30 or a multiple of 60",
            id="query-period-45s",
        ),
        pytest.param(
            math_params(Metrics=[{**_stat("m1", "Errors", stat="Median"), "ReturnData": True}]),
            "InvalidParameterValue",
            "The value Median for parameter Metrics.member.1.MetricStat.Stat is not supported.",
            id="query-bad-stat",
        ),
        pytest.param(
            {**anomaly_params(), "Threshold": 1.0},
            "ValidationError",
            "Threshold and ThresholdMetricId cannot both be set",
            id="threshold-and-threshold-metric-id",
        ),
        pytest.param(
            _without(anomaly_params(), "ThresholdMetricId"),
            "ValidationError",
            "ComparisonOperators for ranges require ThresholdMetricId to be set",
            id="range-operator-without-threshold-metric-id",
        ),
        pytest.param(
            anomaly_params(ComparisonOperator="GreaterThanThreshold"),
            "ValidationError",
            "ThresholdMetricId can only be used with the comparison operators",
            id="threshold-metric-id-with-static-operator",
        ),
        pytest.param(
            _returning(anomaly_params(), "band"),
            "ValidationError",
            "Exactly two elements of the metrics list should return data.",
            id="anomaly-only-band-returns-data",
        ),
        pytest.param(
            _returning(anomaly_params(), "m1"),
            "ValidationError",
            "Metrics list must contain exactly one metric matching the ThresholdMetricId parameter",
            id="anomaly-band-does-not-return-data",
        ),
        pytest.param(
            anomaly_params(ThresholdMetricId="m1"),
            "ValidationError",
            "ThresholdMetricId 'm1' must be the Id of an ANOMALY_DETECTION_BAND expression",
            id="threshold-metric-id-not-a-band",
        ),
        pytest.param(
            metric_params(
                ComparisonOperator="GreaterThanUpperThreshold",
                Threshold=None,
                ThresholdMetricId="band",
            ),
            "ValidationError",
            "Metrics list must contain exactly one metric matching the ThresholdMetricId parameter",
            id="threshold-metric-id-on-single-metric",
        ),
        pytest.param(
            metric_params(EvaluationCriteria={"PromQLCriteria": {"Query": "up"}}),
            "ValidationError",
            "EvaluationCriteria (PromQL alarms) is not supported",
            id="promql-refused",
        ),
    ],
)
def test_put_metric_alarm_validation(
    backend: AlarmsBackend, params: dict[str, Any], code: str, message: str
) -> None:
    error = raises(code, backend.put_metric_alarm, params, ctx())
    assert message in error.message
    assert error.http_status == 400
    assert backend.describe_alarms({"AlarmTypes": BOTH}, ctx())["MetricAlarms"] == []


def test_metric_alarm_cannot_take_a_composite_alarms_name(backend: AlarmsBackend) -> None:
    put_composite(backend, "checkout", "TRUE")
    error = raises("ValidationError", put_metric, backend, "checkout")
    assert "already exists as a CompositeAlarm" in error.message


# ----------------------------------------------------------------------------- composites
@pytest.mark.parametrize(
    ("rule", "child_states", "expected"),
    [
        pytest.param("ALARM(a)", {"a": "ALARM"}, "ALARM", id="child-in-alarm"),
        pytest.param("ALARM(a)", {"a": "OK"}, "OK", id="child-ok"),
        pytest.param("ALARM(a)", {}, "OK", id="child-insufficient-data-is-not-alarm"),
        pytest.param("INSUFFICIENT_DATA(a)", {}, "ALARM", id="insufficient-data-function"),
        pytest.param("ALARM(a) AND ALARM(b)", {"a": "ALARM"}, "OK", id="and-one-of-two"),
        pytest.param("ALARM(a) OR ALARM(b)", {"b": "ALARM"}, "ALARM", id="or-one-of-two"),
        pytest.param("ALARM(a) AND NOT ALARM(b)", {"a": "ALARM", "b": "ALARM"}, "OK", id="not"),
        pytest.param("TRUE", {}, "ALARM", id="true"),
        pytest.param("FALSE", {}, "OK", id="false"),
        pytest.param(f"OK({arn('a')})", {"a": "OK"}, "ALARM", id="by-arn"),
    ],
)
def test_composite_is_evaluated_on_creation(
    backend: AlarmsBackend, rule: str, child_states: dict[str, str], expected: str
) -> None:
    for name in ("a", "b"):
        put_metric(backend, name)
        if name in child_states:
            set_state(backend, name, child_states[name], minutes=1)
    put_composite(backend, "top", rule, minutes=2)
    assert describe(backend, "top")["StateValue"] == expected
    assert state_updates(backend, "top") == [f"Alarm updated from INSUFFICIENT_DATA to {expected}"]


def test_composite_creation_history_and_description(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    set_state(backend, "a", "ALARM", minutes=1)
    put_composite(
        backend,
        "top",
        "ALARM(a)",
        minutes=2,
        AlarmDescription="checkout broken",
        AlarmActions=["arn:aws:sns:eu-west-1:123456789012:page"],
        Tags=[{"Key": "managed-by", "Value": "stormwatch"}],
    )
    alarm = describe(backend, "top")
    assert alarm["AlarmRule"] == "ALARM(a)"
    assert alarm["AlarmArn"] == arn("top")
    assert alarm["StateReason"] == (
        f"{arn('a')} transitioned to ALARM at Friday 01 March, 2024 12:01:00 UTC"
    )
    assert json.loads(alarm["StateReasonData"]) == {
        "triggeringAlarms": [
            {
                "arn": arn("a"),
                "state": {"value": "ALARM", "timestamp": "2024-03-01T12:01:00.000+0000"},
            }
        ]
    }
    assert_matches_output_shape("DescribeAlarms", {"CompositeAlarms": [alarm]})
    items = history(backend, AlarmName="top")
    assert [(i["HistoryItemType"], i["HistorySummary"]) for i in items] == [
        ("ConfigurationUpdate", 'Alarm "top" created'),
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM"),
    ]
    created = json.loads(items[0]["HistoryData"])
    assert created["type"] == "Create"
    assert created["createdAlarm"]["alarmRule"] == "ALARM(a)"
    assert created["createdAlarm"]["okactions"] == []  # AWS's spelling


def test_composite_follows_its_children(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_metric(backend, "b")
    put_composite(backend, "top", "ALARM(a) OR ALARM(b)")
    set_state(backend, "a", "ALARM", minutes=1)
    set_state(backend, "b", "ALARM", minutes=2)
    set_state(backend, "a", "OK", minutes=3)
    assert describe(backend, "top")["StateValue"] == "ALARM"
    set_state(backend, "b", "OK", minutes=4)
    top = describe(backend, "top")
    assert top["StateValue"] == "OK"
    assert top["StateTransitionedTimestamp"] == T0 + timedelta(minutes=4)
    assert top["StateReason"].startswith(f"{arn('b')} transitioned to OK at ")
    assert state_updates(backend, "top") == [
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]


def test_nested_composites_propagate_through_every_level(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_metric(backend, "b")
    put_composite(backend, "inner", "ALARM(a)")
    put_composite(backend, "middle", "ALARM(inner) AND NOT ALARM(b)")
    put_composite(backend, "outer", f"ALARM({arn('middle')})")
    set_state(backend, "a", "ALARM", minutes=1)
    assert states(backend) == {
        "a": "ALARM",
        "b": "INSUFFICIENT_DATA",
        "inner": "ALARM",
        "middle": "ALARM",
        "outer": "ALARM",
    }
    set_state(backend, "b", "ALARM", minutes=2)
    assert states(backend)["outer"] == "OK"
    outer = history(backend, AlarmName="outer", HistoryItemType="StateUpdate")[-1]
    new_state = json.loads(outer["HistoryData"])["newState"]
    assert new_state["stateReasonData"]["triggeringAlarms"][0]["arn"] == arn("middle")


def test_set_alarm_state_on_a_composite_moves_its_parents(backend: AlarmsBackend) -> None:
    put_composite(backend, "inner", "FALSE")
    put_composite(backend, "outer", "ALARM(inner)")
    set_state(backend, "inner", "ALARM", minutes=1)
    assert states(backend) == {"inner": "ALARM", "outer": "ALARM"}


def test_diamond_is_evaluated_children_first_without_flicker(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_composite(backend, "mid", "ALARM(a)")
    put_composite(backend, "top", "ALARM(a) AND NOT ALARM(mid)")
    set_state(backend, "a", "ALARM", minutes=1)
    assert states(backend) == {"a": "ALARM", "mid": "ALARM", "top": "OK"}
    assert state_updates(backend, "top") == ["Alarm updated from INSUFFICIENT_DATA to OK"]


def test_updating_a_composite_re_evaluates_it(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    set_state(backend, "a", "OK", minutes=1)
    put_composite(backend, "top", "ALARM(a)", minutes=2)
    put_composite(backend, "outer", "ALARM(top)", minutes=2)
    put_composite(backend, "top", "OK(a)", minutes=3)
    assert states(backend) == {"a": "OK", "top": "ALARM", "outer": "ALARM"}
    summaries = [i["HistorySummary"] for i in history(backend, AlarmName="top")]
    assert summaries == [
        'Alarm "top" created',
        "Alarm updated from INSUFFICIENT_DATA to OK",
        'Alarm "top" updated',
        "Alarm updated from OK to ALARM",
    ]


def test_same_state_updates_reason_but_records_no_transition(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_composite(backend, "top", "ALARM(a)")
    set_state(backend, "a", "ALARM", minutes=1)
    backend.set_alarm_state(
        {"AlarmName": "a", "StateValue": "ALARM", "StateReason": "still bad"}, ctx(5)
    )
    alarm = describe(backend, "a")
    assert alarm["StateReason"] == "still bad"
    assert alarm["StateUpdatedTimestamp"] == T0 + timedelta(minutes=5)
    assert alarm["StateTransitionedTimestamp"] == T0 + timedelta(minutes=1)
    assert len(state_updates(backend, "a")) == 1
    assert len(state_updates(backend, "top")) == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        pytest.param(
            "ALARM(a) AND",
            "Error in AlarmRule [Unexpected end of rule at char 12]",
            id="syntax-error",
        ),
        pytest.param(
            "ALARM(a) OR ALARM(ghost) OR OK(phantom)",
            "Could not save the composite alarm as alarms [ghost, phantom] in the alarm rule "
            "do not exist",
            id="unknown-children",
        ),
        pytest.param(
            f"ALARM({arn('a', region='us-east-1')})",
            "Could not save the composite alarm as alarms",
            id="other-region-arn",
        ),
        pytest.param(
            "ALARM(a) OR " * 1000 + "TRUE",
            "Member must have length less than or equal to 10240",
            id="rule-too-long",
        ),
        pytest.param(
            "ALARM(top)",
            "as alarms [top] in the alarm rule do not exist",
            id="self-reference-on-create",
        ),
    ],
)
def test_put_composite_alarm_rule_errors(backend: AlarmsBackend, rule: str, message: str) -> None:
    put_metric(backend, "a")
    error = raises("ValidationError", put_composite, backend, "top", rule)
    assert message in error.message
    assert "top" not in states(backend)


@pytest.mark.parametrize(
    ("rules", "update", "cycle"),
    [
        pytest.param({"x": "TRUE"}, ("x", "ALARM(x)"), "x -> x", id="self"),
        pytest.param(
            {"x": "TRUE", "y": "ALARM(x)"}, ("x", "ALARM(y)"), "x -> y -> x", id="two-alarms"
        ),
        pytest.param(
            {"x": "TRUE", "y": "ALARM(x)", "z": "OK(y)"},
            ("x", f"ALARM(a) OR NOT ALARM({arn('z')})"),
            "x -> z -> y -> x",
            id="three-alarms-by-arn",
        ),
    ],
)
def test_cycles_are_rejected(
    backend: AlarmsBackend, rules: dict[str, str], update: tuple[str, str], cycle: str
) -> None:
    put_metric(backend, "a")
    for name, rule in rules.items():
        put_composite(backend, name, rule)
    error = raises("ValidationError", put_composite, backend, *update)
    assert error.message.endswith(f"would create a cycle of composite alarms: {cycle}")
    assert describe(backend, update[0])["AlarmRule"] == rules[update[0]]


def test_actions_suppressor_is_accepted_and_returned(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_composite(backend, "maintenance", "FALSE")
    suppression: dict[str, Any] = {
        "ActionsSuppressor": "maintenance",
        "ActionsSuppressorWaitPeriod": 60,
        "ActionsSuppressorExtensionPeriod": 300,
    }
    put_composite(backend, "top", "ALARM(a)", **suppression)
    alarm = describe(backend, "top")
    assert {k: alarm[k] for k in suppression} == suppression


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            {
                "ActionsSuppressor": "nope",
                "ActionsSuppressorWaitPeriod": 60,
                "ActionsSuppressorExtensionPeriod": 60,
            },
            "the ActionsSuppressor alarm [nope] does not exist",
            id="unknown-suppressor",
        ),
        pytest.param(
            {"ActionsSuppressor": "a", "ActionsSuppressorExtensionPeriod": 60},
            "ActionsSuppressorWaitPeriod must be specified when ActionsSuppressor is set",
            id="suppressor-without-wait-period",
        ),
        pytest.param(
            {"AlarmDescription": "x" * 1025},
            "at 'alarmDescription' failed to satisfy constraint",
            id="description-too-long",
        ),
    ],
)
def test_put_composite_alarm_parameter_errors(
    backend: AlarmsBackend, extra: dict[str, Any], message: str
) -> None:
    put_metric(backend, "a")
    error = raises("ValidationError", put_composite, backend, "top", "ALARM(a)", **extra)
    assert message in error.message


def test_composite_cannot_take_a_metric_alarms_name(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    error = raises("ValidationError", put_composite, backend, "a", "TRUE")
    assert "already exists as a MetricAlarm" in error.message


# ----------------------------------------------------------------------------- SetAlarmState
@pytest.mark.parametrize(
    ("params", "code", "status", "message"),
    [
        pytest.param(
            {"AlarmName": "ghost", "StateValue": "ALARM", "StateReason": "r"},
            "ResourceNotFound",
            404,
            "ghost",
            id="unknown-alarm",
        ),
        pytest.param(
            {"AlarmName": "a", "StateValue": "INVALID", "StateReason": "r"},
            "ValidationError",
            400,
            "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy "
            "constraint: Member must satisfy enum value set: [OK, ALARM, INSUFFICIENT_DATA]",
            id="unknown-state",
        ),
        pytest.param(
            {"AlarmName": "a", "StateValue": "ALARM"},
            "ValidationError",
            400,
            "Value null at 'stateReason'",
            id="missing-reason",
        ),
        pytest.param(
            {"AlarmName": "a", "StateValue": "ALARM", "StateReason": "r", "StateReasonData": "{"},
            "InvalidFormat",
            400,
            "StateReasonData is not valid JSON",
            id="reason-data-not-json",
        ),
        pytest.param(
            {"AlarmName": "a", "StateValue": "ALARM", "StateReason": "r" * 1024},
            "ValidationError",
            400,
            "Member must have length less than or equal to 1023",
            id="reason-too-long",
        ),
    ],
)
def test_set_alarm_state_errors(
    backend: AlarmsBackend, params: dict[str, Any], code: str, status: int, message: str
) -> None:
    put_metric(backend, "a")
    error = raises(code, backend.set_alarm_state, params, ctx())
    assert error.http_status == status
    assert message in error.message
    assert describe(backend, "a")["StateValue"] == "INSUFFICIENT_DATA"


def test_set_alarm_state_records_reason_data_in_history(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    data = json.dumps({"version": "1.0", "recentDatapoints": [7.0]})
    backend.set_alarm_state(
        {"AlarmName": "a", "StateValue": "ALARM", "StateReason": "drill", "StateReasonData": data},
        ctx(1),
    )
    assert describe(backend, "a")["StateReasonData"] == data
    (item,) = history(backend, AlarmName="a", HistoryItemType="StateUpdate")
    assert item["Timestamp"] == T0 + timedelta(minutes=1)
    assert json.loads(item["HistoryData"]) == {
        "version": "1.0",
        "oldState": {
            "stateValue": "INSUFFICIENT_DATA",
            "stateReason": "Unchecked: Initial alarm creation",
        },
        "newState": {
            "stateValue": "ALARM",
            "stateReason": "drill",
            "stateReasonData": {"version": "1.0", "recentDatapoints": [7.0]},
        },
    }


def test_set_state_is_the_evaluator_entry_point(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_composite(backend, "top", "ALARM(a)")
    now = T0 + timedelta(minutes=7)
    assert backend.set_state("a", "ALARM", "Threshold Crossed", '{"version":"1.0"}', now) is True
    assert backend.set_state("a", "ALARM", "Threshold Crossed again", None, now) is False
    assert describe(backend, "top")["StateTransitionedTimestamp"] == now
    snapshot = backend.alarms()
    assert [(a["AlarmName"], a["StateValue"]) for a in snapshot] == [
        ("a", "ALARM"),
        ("top", "ALARM"),
    ]
    snapshot[0]["Dimensions"].clear()  # copies: the backend is unaffected
    assert describe(backend, "a")["Dimensions"] != []
    with pytest.raises(AwsError) as caught:
        backend.set_state("ghost", "OK", "r", None, now)
    assert caught.value.code == "ResourceNotFound"


# ----------------------------------------------------------------------------- DescribeAlarms
@pytest.fixture
def populated(backend: AlarmsBackend) -> AlarmsBackend:
    page = "arn:aws:sns:eu-west-1:123456789012:page"
    put_metric(backend, "api-errors", AlarmActions=[page])
    put_metric(backend, "api-latency", OKActions=["arn:aws:sns:eu-west-1:123456789012:ok"])
    put_metric(backend, "db-throttles")
    set_state(backend, "api-errors", "ALARM")
    put_composite(backend, "api-health", "ALARM(api-errors) OR ALARM(api-latency)")
    put_composite(
        backend, "site-health", "ALARM(api-health) OR ALARM(db-throttles)", AlarmActions=[page]
    )
    return backend


def _names(output: dict[str, Any]) -> tuple[list[str], list[str]]:
    return (
        [a["AlarmName"] for a in output["MetricAlarms"]],
        [a["AlarmName"] for a in output["CompositeAlarms"]],
    )


@pytest.mark.parametrize(
    ("params", "metric", "composite"),
    [
        pytest.param(
            {}, ["api-errors", "api-latency", "db-throttles"], [], id="default-metric-only"
        ),
        pytest.param(
            {"AlarmTypes": ["CompositeAlarm"]},
            [],
            ["api-health", "site-health"],
            id="composite-only",
        ),
        pytest.param(
            {"AlarmTypes": BOTH},
            ["api-errors", "api-latency", "db-throttles"],
            ["api-health", "site-health"],
            id="both-types",
        ),
        pytest.param({"AlarmNames": ["db-throttles", "ghost"]}, ["db-throttles"], [], id="names"),
        pytest.param({"AlarmNames": ["api-health"]}, [], [], id="names-still-metric-only"),
        pytest.param(
            {"AlarmNamePrefix": "api-", "AlarmTypes": BOTH},
            ["api-errors", "api-latency"],
            ["api-health"],
            id="prefix",
        ),
        pytest.param(
            {"StateValue": "ALARM", "AlarmTypes": BOTH},
            ["api-errors"],
            ["api-health", "site-health"],
            id="state-value",
        ),
        pytest.param(
            {"ActionPrefix": "arn:aws:sns:eu-west-1:123456789012:pa", "AlarmTypes": BOTH},
            ["api-errors"],
            ["site-health"],
            id="action-prefix",
        ),
        pytest.param(
            {"ChildrenOfAlarmName": "site-health"}, ["db-throttles"], ["api-health"], id="children"
        ),
        pytest.param({"ParentsOfAlarmName": "api-errors"}, [], ["api-health"], id="parents"),
        pytest.param({"ChildrenOfAlarmName": "api-errors"}, [], [], id="children-of-metric"),
    ],
)
def test_describe_alarms_filters(
    populated: AlarmsBackend, params: dict[str, Any], metric: list[str], composite: list[str]
) -> None:
    output = populated.describe_alarms(params, ctx())
    assert _names(output) == (metric, composite)
    assert "NextToken" not in output
    assert_matches_output_shape("DescribeAlarms", output)


def test_children_and_parents_return_only_a_few_fields(populated: AlarmsBackend) -> None:
    children = populated.describe_alarms({"ChildrenOfAlarmName": "site-health"}, ctx())
    assert set(children["CompositeAlarms"][0]) == {
        "AlarmName",
        "AlarmArn",
        "StateValue",
        "StateUpdatedTimestamp",
    }
    parents = populated.describe_alarms({"ParentsOfAlarmName": "api-health"}, ctx())
    assert parents["CompositeAlarms"] == [
        {"AlarmName": "site-health", "AlarmArn": arn("site-health")}
    ]


def test_log_alarms_key_appears_when_asked_for(populated: AlarmsBackend) -> None:
    output = populated.describe_alarms({"AlarmTypes": ["LogAlarm"]}, ctx())
    assert output == {"MetricAlarms": [], "CompositeAlarms": [], "LogAlarms": []}


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        pytest.param(
            {"AlarmNames": ["a"], "AlarmNamePrefix": "a"},
            "InvalidParameterCombination",
            "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive",
            id="names-and-prefix",
        ),
        pytest.param(
            {"ChildrenOfAlarmName": "site-health", "StateValue": "OK"},
            "ValidationError",
            "If you specify ChildrenOfAlarmName, you cannot specify any other parameters",
            id="children-with-state-filter",
        ),
        pytest.param(
            {"ParentsOfAlarmName": "a", "AlarmTypes": BOTH},
            "ValidationError",
            "If you specify ParentsOfAlarmName, you cannot specify any other parameters",
            id="parents-with-alarm-types",
        ),
        pytest.param(
            {"MaxRecords": 101},
            "ValidationError",
            "Value '101' at 'maxRecords' failed to satisfy constraint: Member must have value "
            "less than or equal to 100",
            id="max-records-101",
        ),
        pytest.param(
            {"MaxRecords": 0}, "ValidationError", "greater than or equal to 1", id="max-records-0"
        ),
        pytest.param(
            {"AlarmNames": [f"a{i}" for i in range(101)]},
            "ValidationError",
            "at 'alarmNames' failed to satisfy constraint: Member must have length less than "
            "or equal to 100",
            id="101-names",
        ),
        pytest.param(
            {"AlarmTypes": ["MetricAlarm", "Bogus"]},
            "ValidationError",
            "Member must satisfy enum value set: [CompositeAlarm, MetricAlarm, LogAlarm]",
            id="unknown-alarm-type",
        ),
        pytest.param(
            {"NextToken": "not a token"}, "InvalidNextToken", "is invalid", id="garbage-token"
        ),
        pytest.param(
            {"NextToken": "e30"}, "InvalidNextToken", "is invalid", id="token-without-position"
        ),
    ],
)
def test_describe_alarms_errors(
    populated: AlarmsBackend, params: dict[str, Any], code: str, message: str
) -> None:
    error = raises(code, populated.describe_alarms, params, ctx())
    assert message in error.message


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 8])
def test_describe_alarms_pages_in_name_order(backend: AlarmsBackend, page_size: int) -> None:
    names = [f"alarm-{i:02d}" for i in (5, 3, 1, 6, 0, 4, 2)]
    for name in names:
        put_metric(backend, name)
    put_composite(backend, "alarm-03x", "TRUE")
    seen: list[str] = []
    params: dict[str, Any] = {"MaxRecords": page_size, "AlarmTypes": BOTH}
    pages = 0
    while True:
        output = backend.describe_alarms(params, ctx())
        page = sorted(a["AlarmName"] for a in output["MetricAlarms"] + output["CompositeAlarms"])
        assert 0 < len(page) <= page_size
        seen.extend(page)  # a page splits into MetricAlarms and CompositeAlarms
        pages += 1
        if "NextToken" not in output:
            break
        params["NextToken"] = output["NextToken"]
    assert sorted(seen) == seen == sorted([*names, "alarm-03x"])
    assert pages == -(-8 // page_size)


def test_describe_alarms_default_page_is_50(backend: AlarmsBackend) -> None:
    for i in range(51):
        put_metric(backend, f"a{i:02d}")
    output = backend.describe_alarms({}, ctx())
    assert len(output["MetricAlarms"]) == 50 and "NextToken" in output


# ----------------------------------------------------------------------------- for metric
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, ["checkout-errors", "checkout-p99", "refund-errors"], id="metric-only"),
        pytest.param({"Statistic": "Sum"}, ["checkout-errors", "refund-errors"], id="statistic"),
        pytest.param({"ExtendedStatistic": "p99"}, ["checkout-p99"], id="extended-statistic"),
        pytest.param(
            {
                "Dimensions": [
                    {"Name": "Resource", "Value": "checkout"},
                    {"Name": "FunctionName", "Value": "checkout"},
                ]
            },
            ["checkout-errors", "checkout-p99"],
            id="dimensions-in-any-order",
        ),
        pytest.param({"Dimensions": []}, [], id="no-dimensions"),
        pytest.param({"Period": 300}, ["refund-errors"], id="period"),
        pytest.param({"Unit": "Count"}, [], id="unit"),
    ],
)
def test_describe_alarms_for_metric(
    backend: AlarmsBackend, params: dict[str, Any], expected: list[str]
) -> None:
    dims = [
        {"Name": "FunctionName", "Value": "checkout"},
        {"Name": "Resource", "Value": "checkout"},
    ]
    put_metric(backend, "checkout-errors", Dimensions=dims)
    put_metric(backend, "checkout-p99", Dimensions=dims, Statistic=None, ExtendedStatistic="p99")
    put_metric(backend, "refund-errors", Period=300)
    put_metric(backend, "throttles", MetricName="Throttles")
    backend.put_metric_alarm(math_params(), ctx())
    request = {"MetricName": "Errors", "Namespace": "AWS/Lambda", **params}
    output = backend.describe_alarms_for_metric(request, ctx())
    assert [a["AlarmName"] for a in output["MetricAlarms"]] == expected
    assert_matches_output_shape("DescribeAlarmsForMetric", output)


def test_describe_alarms_for_metric_requires_the_metric(backend: AlarmsBackend) -> None:
    error = raises(
        "ValidationError", backend.describe_alarms_for_metric, {"Namespace": "AWS/Lambda"}, ctx()
    )
    assert "Value null at 'metricName'" in error.message


# ----------------------------------------------------------------------------- DeleteAlarms
def test_delete_alarms_keeps_history_and_drops_tags(backend: AlarmsBackend) -> None:
    put_metric(backend, "a", Tags=[{"Key": "k", "Value": "v"}])
    backend.delete_alarms({"AlarmNames": ["a"]}, ctx(3))
    assert states(backend) == {}
    items = history(backend, AlarmName="a")
    assert [i["HistorySummary"] for i in items] == ['Alarm "a" created', 'Alarm "a" deleted']
    deleted = json.loads(items[-1]["HistoryData"])
    assert deleted["type"] == "Delete" and deleted["deletedAlarm"]["alarmName"] == "a"
    raises(
        "ResourceNotFoundException",
        backend.list_tags_for_resource,
        {"ResourceARN": arn("a")},
        ctx(),
    )
    put_metric(backend, "a", minutes=4)  # the name is free again, with no old tags
    assert backend.list_tags_for_resource({"ResourceARN": arn("a")}, ctx()) == {"Tags": []}


def test_delete_unknown_names_deletes_the_known_ones_then_reports(backend: AlarmsBackend) -> None:
    put_metric(backend, "a")
    put_metric(backend, "b")
    error = raises(
        "ResourceNotFound",
        backend.delete_alarms,
        {"AlarmNames": ["a", "ghost", "b", "phantom"]},
        ctx(),
    )
    assert error.http_status == 404
    assert "[ghost, phantom]" in error.message
    assert states(backend) == {}


def test_delete_parent_and_children_together(populated: AlarmsBackend) -> None:
    populated.delete_alarms({"AlarmNames": ["site-health", "db-throttles"]}, ctx())
    assert sorted(states(populated)) == ["api-errors", "api-health", "api-latency"]


@pytest.mark.parametrize(
    ("names", "code", "message"),
    [
        pytest.param(
            ["api-health", "site-health"],
            "ValidationError",
            "at most one composite alarm per call; got 2",
            id="two-composites",
        ),
        pytest.param(
            ["api-errors", "db-throttles"],
            "ResourceConflict",
            "Alarm api-errors cannot be deleted: it is referenced in the AlarmRule of composite "
            "alarm(s) [api-health]",
            id="child-of-a-remaining-composite",
        ),
        pytest.param(
            [f"a{i}" for i in range(101)],
            "ValidationError",
            "at 'alarmNames' failed to satisfy constraint",
            id="101-names",
        ),
    ],
)
def test_delete_alarms_errors_delete_nothing(
    populated: AlarmsBackend, names: list[str], code: str, message: str
) -> None:
    before = states(populated)
    error = raises(code, populated.delete_alarms, {"AlarmNames": names}, ctx())
    assert message in error.message
    assert states(populated) == before


# ----------------------------------------------------------------------------- history
def test_history_defaults_to_metric_alarms_newest_first(populated: AlarmsBackend) -> None:
    items = populated.describe_alarm_history({}, ctx())["AlarmHistoryItems"]
    assert {i["AlarmType"] for i in items} == {"MetricAlarm"}
    keys = [(i["Timestamp"]) for i in items]
    assert keys == sorted(keys, reverse=True)
    assert items[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert_matches_output_shape("DescribeAlarmHistory", populated.describe_alarm_history({}, ctx()))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"AlarmName": "api-health"}, [], id="composite-by-name-needs-alarm-types"),
        pytest.param(
            {"AlarmName": "api-health", "AlarmTypes": ["CompositeAlarm"]},
            ['Alarm "api-health" created', "Alarm updated from INSUFFICIENT_DATA to ALARM"],
            id="composite-by-name",
        ),
        pytest.param(
            {"AlarmName": "api-errors", "HistoryItemType": "StateUpdate"},
            ["Alarm updated from INSUFFICIENT_DATA to ALARM"],
            id="item-type",
        ),
        pytest.param(
            {"AlarmName": "api-errors", "StartDate": T0 + timedelta(minutes=1)},
            ["Alarm updated from INSUFFICIENT_DATA to ALARM"],
            id="start-date-inclusive",
        ),
        pytest.param(
            {"AlarmName": "api-errors", "EndDate": T0},
            ['Alarm "api-errors" created'],
            id="end-date-inclusive",
        ),
        pytest.param({"AlarmName": "api-errors", "HistoryItemType": "Action"}, [], id="actions"),
        pytest.param({"AlarmContributorId": "abc"}, [], id="contributor"),
    ],
)
def test_history_filters(
    populated: AlarmsBackend, params: dict[str, Any], expected: list[str]
) -> None:
    params = {"ScanBy": "TimestampAscending", **params}
    items = populated.describe_alarm_history(params, ctx())["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == expected


@pytest.mark.parametrize("scan_by", ["TimestampAscending", "TimestampDescending"])
@pytest.mark.parametrize("page_size", [1, 2, 5, 100])
def test_history_pages_match_one_big_query(
    populated: AlarmsBackend, scan_by: str, page_size: int
) -> None:
    for minute in range(2, 8):  # more items, some at the same instant
        set_state(populated, "db-throttles", "ALARM" if minute % 2 else "OK", minutes=minute // 2)
    everything = populated.describe_alarm_history({"AlarmTypes": BOTH, "ScanBy": scan_by}, ctx())[
        "AlarmHistoryItems"
    ]
    params: dict[str, Any] = {"AlarmTypes": BOTH, "ScanBy": scan_by, "MaxRecords": page_size}
    paged: list[dict[str, Any]] = []
    while True:
        output = populated.describe_alarm_history(params, ctx())
        paged.extend(output["AlarmHistoryItems"])
        if "NextToken" not in output:
            break
        params["NextToken"] = output["NextToken"]
    assert paged == everything
    assert len(everything) == 14  # 8 from the fixture, 6 transitions of db-throttles


def test_history_of_a_deleted_alarm_is_still_there(backend: AlarmsBackend) -> None:
    put_metric(backend, "gone")
    backend.delete_alarms({"AlarmNames": ["gone"]}, ctx(1))
    items = history(backend, AlarmName="gone")
    assert [i["HistorySummary"] for i in items] == ['Alarm "gone" created', 'Alarm "gone" deleted']


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"MaxRecords": 101}, "ValidationError", id="max-records-101"),
        pytest.param({"ScanBy": "Newest"}, "ValidationError", id="bad-scan-by"),
        pytest.param({"HistoryItemType": "Everything"}, "ValidationError", id="bad-item-type"),
        pytest.param({"NextToken": "%%%"}, "InvalidNextToken", id="garbage-token"),
        pytest.param({"NextToken": "eyJzIjoxLCJ0IjoieCJ9"}, "InvalidNextToken", id="bad-time"),
    ],
)
def test_history_errors(backend: AlarmsBackend, params: dict[str, Any], code: str) -> None:
    raises(code, backend.describe_alarm_history, params, ctx())


def test_configuration_history_document(backend: AlarmsBackend) -> None:
    put_metric(backend, "a", AlarmDescription="d", DatapointsToAlarm=2)
    (item,) = history(backend, AlarmName="a")
    data = json.loads(item["HistoryData"])
    assert data["version"] == "1.0" and data["type"] == "Create"
    created = data["createdAlarm"]
    assert created["alarmName"] == "a"
    assert created["alarmArn"] == arn("a")
    assert created["alarmConfigurationUpdatedTimestamp"] == "2024-03-01T12:00:00.000+0000"
    assert created["dimensions"] == [{"name": "FunctionName", "value": "checkout"}]
    assert created["datapointsToAlarm"] == 2
    assert created["stateValue"] == "INSUFFICIENT_DATA"
    assert "stateReason" not in created


# ----------------------------------------------------------------------------- tags
def test_tag_untag_and_list(backend: AlarmsBackend) -> None:
    put_composite(backend, "top", "TRUE", Tags=[{"Key": "a", "Value": "1"}])
    resource = {"ResourceARN": arn("top")}
    backend.tag_resource(
        {**resource, "Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}]}, ctx()
    )
    assert backend.list_tags_for_resource(resource, ctx())["Tags"] == [
        {"Key": "a", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    backend.untag_resource({**resource, "TagKeys": ["a", "never-set"]}, ctx())
    output = backend.list_tags_for_resource(resource, ctx())
    assert output == {"Tags": [{"Key": "b", "Value": "2"}]}
    assert_matches_output_shape("ListTagsForResource", output)


@pytest.mark.parametrize(
    ("resource", "code", "status"),
    [
        pytest.param(arn("ghost"), "ResourceNotFoundException", 404, id="unknown-alarm"),
        pytest.param(
            arn("a", region="us-east-1"), "ResourceNotFoundException", 404, id="other-region"
        ),
        pytest.param(
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:insight-rule/x",
            "InvalidParameterValue",
            400,
            id="not-an-alarm-arn",
        ),
        pytest.param("a", "InvalidParameterValue", 400, id="a-name-not-an-arn"),
    ],
)
@pytest.mark.parametrize("operation", ["tag_resource", "untag_resource", "list_tags_for_resource"])
def test_tagging_errors(
    backend: AlarmsBackend, operation: str, resource: str, code: str, status: int
) -> None:
    put_metric(backend, "a")
    params = {"ResourceARN": resource, "Tags": [{"Key": "k", "Value": "v"}], "TagKeys": ["k"]}
    error = raises(code, getattr(backend, operation), params, ctx())
    assert error.http_status == status


# ----------------------------------------------------------------------------- actions
def test_disable_and_enable_alarm_actions(populated: AlarmsBackend) -> None:
    populated.disable_alarm_actions({"AlarmNames": ["api-errors", "site-health", "ghost"]}, ctx())
    enabled = {
        a["AlarmName"]: a["ActionsEnabled"]
        for a in populated.describe_alarms({"AlarmTypes": BOTH}, ctx())["MetricAlarms"]
        + populated.describe_alarms({"AlarmTypes": BOTH}, ctx())["CompositeAlarms"]
    }
    assert enabled == {
        "api-errors": False,
        "api-latency": True,
        "db-throttles": True,
        "api-health": True,
        "site-health": False,
    }
    populated.enable_alarm_actions({"AlarmNames": ["api-errors"]}, ctx())
    assert describe(populated, "api-errors")["ActionsEnabled"] is True
    raises("ValidationError", populated.enable_alarm_actions, {}, ctx())


# ----------------------------------------------------------------------------- wiring
def test_operations_map_to_backend_methods() -> None:
    assert set(ALARM_OPERATIONS) == {
        "PutMetricAlarm",
        "PutCompositeAlarm",
        "DescribeAlarms",
        "DescribeAlarmsForMetric",
        "DeleteAlarms",
        "SetAlarmState",
        "DescribeAlarmHistory",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
        "EnableAlarmActions",
        "DisableAlarmActions",
    }
    for operation, method in ALARM_OPERATIONS.items():
        assert MODEL.operation_model(operation).name == operation
        assert callable(getattr(AlarmsBackend, method))


def test_concurrent_state_changes_leave_composites_consistent(backend: AlarmsBackend) -> None:
    children = [f"c{i}" for i in range(8)]
    for name in children:
        put_metric(backend, name)
    put_composite(backend, "any", " OR ".join(f"ALARM({c})" for c in children))
    put_composite(backend, "all", " AND ".join(f"ALARM({c})" for c in children))

    def flap(name: str) -> None:
        for i in range(50):
            backend.set_state(name, "ALARM" if i % 2 == 0 else "OK", "flap", None, T0)

    threads = [threading.Thread(target=flap, args=(name,)) for name in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = states(backend)
    assert all(final[c] == "OK" for c in children)
    assert final["any"] == "OK" and final["all"] == "OK"
    updates = history(backend, AlarmName="c0", HistoryItemType="StateUpdate", MaxRecords=100)
    assert len(updates) == 50
