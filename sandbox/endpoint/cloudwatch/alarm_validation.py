"""Request validation for the alarm operations, with AWS's error codes and messages.

Two layers:

* :func:`check_constraints` applies the constraints of botocore's input shape (required members,
  enums, length and range limits) to the top-level parameters and reports them in AWS's
  ``1 validation error detected: Value 'x' at 'alarmName' failed to satisfy constraint: …`` form.
  botocore checks some of these client-side, but not the maxima, and not for every client.
* :func:`validate_metric_alarm` checks PutMetricAlarm's parameter combinations. Messages quoted
  in comments were observed from AWS; the others follow the same style.

Also the opaque ``NextToken`` codec shared by DescribeAlarms and DescribeAlarmHistory.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session

from sandbox.endpoint.cloudwatch.alarm_exceptions import constraint_errors
from sandbox.endpoint.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ValidationError,
)

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
ANOMALY_OPERATORS = frozenset(
    {
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    }
)
TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
LOW_SAMPLE_COUNT_OPTIONS = ("evaluate", "ignore")
_SINGLE_METRIC_FIELDS = (
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
)
# An alarm looks back at most one day when its period is under an hour, else at most 7 days.
_ONE_DAY_S = 86_400
_SEVEN_DAYS_S = 7 * _ONE_DAY_S
_PERCENT = r"(?:\d{1,2}(?:\.\d+)?|100(?:\.0+)?)"
_EXTENDED_STATISTIC = re.compile(
    rf"^(?:(?:p|tm|tc|ts|wm){_PERCENT}|IQM|(?:TM|TC|TS|WM|PR)\([^():]*:[^():]*\))$"
)
_METRIC_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_ANOMALY_BAND = re.compile(r"^\s*ANOMALY_DETECTION_BAND\s*\(", re.IGNORECASE)


@cache
def _operation(name: str) -> OperationModel:
    model = botocore.session.get_session().get_service_model("cloudwatch")
    return model.operation_model(name)


def _field(member: str) -> str:
    """AWS names fields lowerCamel in constraint messages: ``AlarmName`` → ``alarmName``."""
    return member[:1].lower() + member[1:]


def _render(value: Any) -> str:
    if isinstance(value, list):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    return f"'{value}'"


def _problems(member: str, value: Any, shape: Shape) -> list[str]:
    at = f"Value {_render(value)} at '{_field(member)}' failed to satisfy constraint: "
    meta = shape.metadata
    problems: list[str] = []
    if shape.type_name == "string":
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            problems.append(at + "Member must satisfy enum value set: [" + ", ".join(enum) + "]")
    if shape.type_name in ("string", "list"):
        if "min" in meta and len(value) < meta["min"]:
            problems.append(at + f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(at + f"Member must have length less than or equal to {meta['max']}")
    if shape.type_name == "list" and shape.member.type_name == "string":
        enum = getattr(shape.member, "enum", None)
        for item in value:
            if enum and item not in enum:
                problems.append(
                    at
                    + "Member must satisfy constraint: [Member must satisfy enum value set: ["
                    + ", ".join(enum)
                    + "]]"
                )
                break
    if shape.type_name in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            problems.append(at + f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            problems.append(at + f"Member must have value less than or equal to {meta['max']}")
    return problems


def check_constraints(operation: str, params: dict[str, Any]) -> None:
    """Raise ``ValidationError`` listing every top-level constraint ``params`` violate."""
    shape = _operation(operation).input_shape
    if shape is None:
        return
    problems: list[str] = []
    for member in shape.required_members:
        if params.get(member) is None:
            problems.append(
                f"Value null at '{_field(member)}' failed to satisfy constraint: "
                "Member must not be null"
            )
    for member, member_shape in shape.members.items():
        value = params.get(member)
        if value is not None:
            problems.extend(_problems(member, value, member_shape))
    if problems:
        raise constraint_errors(problems)


def require(params: dict[str, Any], *members: str) -> None:
    """Members the model leaves optional but this use of the operation needs."""
    missing = [
        f"Value null at '{_field(m)}' failed to satisfy constraint: Member must not be null"
        for m in members
        if params.get(m) is None
    ]
    if missing:
        raise constraint_errors(missing)


def is_extended_statistic(value: str) -> bool:
    """p90, tm90, TC(10%:90%), PR(0:300), IQM, … (the forms PutMetricAlarm documents)."""
    return bool(_EXTENDED_STATISTIC.match(value))


def _check_period(period: int, where: str = "Period") -> None:
    # "Valid values are 10, 20, 30, and any multiple of 60."
    if period not in (10, 20, 30) and period % 60 != 0:
        raise ValidationError(f"{where} must be 10, 20, 30 or a multiple of 60")


def _check_window(period: int | None, evaluation_periods: int) -> None:
    if period is None:
        return
    total = period * evaluation_periods
    limit = _ONE_DAY_S if period < 3600 else _SEVEN_DAYS_S
    if total > limit:
        raise ValidationError(
            f"The evaluation period (Period * EvaluationPeriods = {total} seconds) must not "
            f"exceed {limit} seconds for an alarm with a period of {period} seconds"
        )


def _present(params: dict[str, Any], member: str) -> bool:
    value = params.get(member)
    return value is not None and value != []


def _check_single_metric(params: dict[str, Any]) -> None:
    # Observed: "MetricName must not be null", "Period must not be null".
    for member in ("MetricName", "Namespace", "Period"):
        if not _present(params, member):
            raise ValidationError(f"{member} must not be null")
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if statistic is not None and extended is not None:
        raise InvalidParameterCombination(
            "The parameters Statistic and ExtendedStatistic are mutually exclusive and you "
            "have specified both."
        )
    if statistic is None and extended is None:
        raise MissingParameter("The parameter Statistic or ExtendedStatistic must be specified.")
    if extended is not None and not is_extended_statistic(extended):
        raise InvalidParameterValue(
            f"The value {extended} for parameter ExtendedStatistic is not supported."
        )
    _check_period(params["Period"])
    _check_window(params["Period"], params["EvaluationPeriods"])
    if params.get("ThresholdMetricId") is not None:
        raise ValidationError(
            "Metrics list must contain exactly one metric matching the ThresholdMetricId parameter"
        )


def _check_query(index: int, query: dict[str, Any]) -> None:
    qid = query.get("Id")
    where = f"Metrics.member.{index}"
    if not qid or not _METRIC_ID.match(qid):
        raise ValidationError(
            f"Invalid metrics list: the Id '{qid}' of {where} must start with a lowercase letter "
            "and contain only letters, numbers and underscores"
        )
    stat, expression = query.get("MetricStat"), query.get("Expression")
    if (stat is None) == (expression is None):
        raise ValidationError(
            f"Invalid metrics list: {where} ('{qid}') must specify exactly one of MetricStat "
            "and Expression"
        )
    if stat is not None:
        for member in ("Metric", "Period", "Stat"):
            if stat.get(member) is None:
                raise ValidationError(f"{where}.MetricStat.{member} must not be null")
        name = stat["Stat"]
        if name not in STATISTICS and not is_extended_statistic(name):
            raise InvalidParameterValue(
                f"The value {name} for parameter {where}.MetricStat.Stat is not supported."
            )
        _check_period(stat["Period"], f"{where}.MetricStat.Period")
    if query.get("Period") is not None:
        _check_period(query["Period"], f"{where}.Period")


def _query_period(query: dict[str, Any]) -> int | None:
    stat = query.get("MetricStat")
    period: int | None = stat["Period"] if stat else query.get("Period")
    return period


def _check_metrics(params: dict[str, Any]) -> None:
    # Observed: "Statistic should not be set if list of Metrics is set."
    for member in _SINGLE_METRIC_FIELDS:
        if _present(params, member):
            raise ValidationError(f"{member} should not be set if list of Metrics is set.")
    queries: list[dict[str, Any]] = params["Metrics"]
    seen: set[str] = set()
    for index, query in enumerate(queries, start=1):
        _check_query(index, query)
        if query["Id"] in seen:
            raise ValidationError(f"Invalid metrics list: the Id '{query['Id']}' is used twice")
        seen.add(query["Id"])
    # ReturnData defaults to true when omitted.
    returning = [q for q in queries if q.get("ReturnData", True)]
    threshold_id = params.get("ThresholdMetricId")
    if threshold_id is None:
        if len(returning) != 1:
            raise ValidationError("Exactly one element of the metrics list should return data.")
        _check_window(_query_period(returning[0]), params["EvaluationPeriods"])
        return
    # Anomaly-detection alarm: the band and the metric both return data (observed order).
    band = [q for q in returning if q["Id"] == threshold_id]
    if len(band) != 1:
        raise ValidationError(
            "Metrics list must contain exactly one metric matching the ThresholdMetricId parameter"
        )
    if len(returning) != 2:  # the metric and its band
        raise ValidationError("Exactly two elements of the metrics list should return data.")
    if not _ANOMALY_BAND.match(band[0].get("Expression") or ""):
        raise ValidationError(
            f"ThresholdMetricId '{threshold_id}' must be the Id of an ANOMALY_DETECTION_BAND "
            "expression"
        )
    metric = next(q for q in returning if q["Id"] != threshold_id)
    _check_window(_query_period(metric), params["EvaluationPeriods"])


def validate_metric_alarm(params: dict[str, Any]) -> None:
    """Check a PutMetricAlarm request beyond its shape; raise the AWS error AWS would."""
    check_constraints("PutMetricAlarm", params)
    if params.get("EvaluationCriteria") is not None:
        raise ValidationError(
            "EvaluationCriteria (PromQL alarms) is not supported by the stormwatch sandbox; "
            "use MetricName or Metrics"
        )
    require(params, "EvaluationPeriods", "ComparisonOperator")
    operator = params["ComparisonOperator"]
    has_threshold = params.get("Threshold") is not None
    has_threshold_id = params.get("ThresholdMetricId") is not None
    # Observed: "Threshold and ThresholdMetricId cannot both be set",
    # "ComparisonOperators for ranges require ThresholdMetricId to be set".
    if has_threshold and has_threshold_id:
        raise ValidationError("Threshold and ThresholdMetricId cannot both be set")
    if operator in ANOMALY_OPERATORS and not has_threshold_id:
        raise ValidationError("ComparisonOperators for ranges require ThresholdMetricId to be set")
    if operator not in ANOMALY_OPERATORS and has_threshold_id:
        raise ValidationError(
            f"ThresholdMetricId can only be used with the comparison operators "
            f"{', '.join(sorted(ANOMALY_OPERATORS))}; got {operator}"
        )
    if not has_threshold and not has_threshold_id:
        raise MissingParameter("The parameter Threshold must be specified.")
    # Observed: "DatapointsToAlarm must be less than or equal to EvaluationPeriods".
    datapoints = params.get("DatapointsToAlarm")
    if datapoints is not None and datapoints > params["EvaluationPeriods"]:
        raise ValidationError("DatapointsToAlarm must be less than or equal to EvaluationPeriods")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in TREAT_MISSING_DATA:
        raise ValidationError(
            f"The value {treat} is not supported for TreatMissingData parameter. "
            f"Supported values are [{', '.join(TREAT_MISSING_DATA)}]."
        )
    low = params.get("EvaluateLowSampleCountPercentile")
    if low is not None and low not in LOW_SAMPLE_COUNT_OPTIONS:
        raise ValidationError(
            f"Option {low} is not supported. Supported options for parameter "
            "EvaluateLowSampleCountPercentile are evaluate and ignore."
        )
    if _present(params, "Metrics"):
        _check_metrics(params)
    else:
        _check_single_metric(params)


def encode_token(payload: dict[str, Any]) -> str:
    """An opaque NextToken carrying ``payload``."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, *keys: str) -> dict[str, Any]:
    """The payload of a token made by :func:`encode_token`; ``InvalidNextToken`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidNextToken(f"The NextToken '{token}' is invalid.") from exc
    if not isinstance(payload, dict) or any(key not in payload for key in keys):
        raise InvalidNextToken(f"The NextToken '{token}' is invalid.")
    return payload
