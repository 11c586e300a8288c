"""CloudWatch alarms for one (account, region): metric and composite alarms, state, history, tags.

Replaces moto's alarms, whose PutCompositeAlarm and DescribeAlarmHistory fail. Handlers take the
boto3-shaped ``params`` of an operation and return its boto3-shaped output; the wire layer does
the HTTP. Behaviour follows the CloudWatch API reference
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/), notably:

* a new alarm starts in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"); updating one
  replaces its configuration, keeps its state and ignores ``Tags``;
* a composite alarm is evaluated on creation, on update and whenever a child's StateValue
  changes (children first, so a diamond of composites never flickers); it is INSUFFICIENT_DATA
  only until that first evaluation;
* DescribeAlarms returns only metric alarms unless ``AlarmTypes`` asks otherwise, and so does
  DescribeAlarmHistory;
* history survives DeleteAlarms.

Deliberate differences from AWS: PutCompositeAlarm rejects rules that would form a cycle (AWS
accepts them and stops evaluating), and PromQL alarms (``EvaluationCriteria``) are refused.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import botocore.session

from sandbox.endpoint.cloudwatch.alarm_exceptions import (
    InvalidFormat,
    ResourceConflict,
    ResourceNotFoundException,
)
from sandbox.endpoint.cloudwatch.alarm_history import (
    AlarmHistory,
    HistoryQuery,
    StateSnapshot,
    aws_timestamp,
    configuration_update,
    state_update,
)
from sandbox.endpoint.cloudwatch.alarm_rules import (
    STATES,
    AlarmRule,
    AlarmRuleError,
    parse_alarm_arn,
    parse_alarm_rule,
)
from sandbox.endpoint.cloudwatch.alarm_validation import (
    check_constraints,
    decode_token,
    encode_token,
    validate_metric_alarm,
)
from sandbox.endpoint.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    ResourceNotFound,
    ValidationError,
)

if TYPE_CHECKING:
    from sandbox.endpoint.context import RequestContext

AlarmType = Literal["MetricAlarm", "CompositeAlarm"]
METRIC: AlarmType = "MetricAlarm"
COMPOSITE: AlarmType = "CompositeAlarm"
INITIAL_REASON = "Unchecked: Initial alarm creation"
_DESCRIBE_MAX_RECORDS = 50
_HISTORY_MAX_RECORDS = 100
_OUTPUT_KEY = {METRIC: "MetricAlarms", COMPOSITE: "CompositeAlarms"}
# Input members that are not part of an alarm's stored configuration.
_NOT_CONFIGURATION = frozenset({"AlarmName", "Tags"})
_CHILD_FIELDS = ("AlarmName", "AlarmArn", "StateValue", "StateUpdatedTimestamp")
_PARENT_FIELDS = ("AlarmName", "AlarmArn")
_EXCLUSIVE_FILTERS = ("AlarmNames", "AlarmNamePrefix", "AlarmTypes", "StateValue", "ActionPrefix")


@cache
def _output_members(kind: AlarmType) -> tuple[str, ...]:
    """The members of botocore's MetricAlarm/CompositeAlarm shape, in the model's order."""
    model = botocore.session.get_session().get_service_model("cloudwatch")
    return tuple(model.shape_for(kind).members)


@cache
def _input_members(operation: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model(operation).input_shape
    return frozenset(shape.members) if shape is not None else frozenset()


@dataclass(slots=True)
class Alarm:
    """One alarm; ``config`` holds its configuration members as DescribeAlarms shows them."""

    kind: AlarmType
    name: str
    arn: str
    config: dict[str, Any]
    config_updated: datetime
    state: str
    reason: str
    state_updated: datetime
    state_transitioned: datetime
    reason_data: str | None = None
    rule: AlarmRule | None = field(default=None)

    def describe(self) -> dict[str, Any]:
        """This alarm as a MetricAlarm/CompositeAlarm output structure (a deep copy)."""
        values: dict[str, Any] = {
            **self.config,
            "AlarmName": self.name,
            "AlarmArn": self.arn,
            "AlarmConfigurationUpdatedTimestamp": self.config_updated,
            "StateValue": self.state,
            "StateReason": self.reason,
            "StateReasonData": self.reason_data,
            "StateUpdatedTimestamp": self.state_updated,
            "StateTransitionedTimestamp": self.state_transitioned,
        }
        return {
            member: copy.deepcopy(values[member])
            for member in _output_members(self.kind)
            if values.get(member) is not None
        }

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(self.state, self.reason, self.reason_data)


def _configuration(operation: str, kind: AlarmType, params: dict[str, Any]) -> dict[str, Any]:
    """The stored configuration of a Put*Alarm request: input members the output shape shows."""
    members = (_input_members(operation) & set(_output_members(kind))) - _NOT_CONFIGURATION
    config = {m: copy.deepcopy(params[m]) for m in members if params.get(m) is not None}
    config.setdefault("ActionsEnabled", True)
    for actions in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        config.setdefault(actions, [])  # AWS always returns the three lists
    if kind == METRIC:
        config.setdefault("Dimensions", [])
        if "Threshold" in config:
            config["Threshold"] = float(config["Threshold"])
        for query in config.get("Metrics", []):
            query.setdefault("ReturnData", True)
    return config


def _tags(params: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in params.get("Tags") or []}


def _reason_moment(moment: datetime) -> str:
    """Composite reasons name the child's transition time like AWS: 'Friday 01 March, 2024 …'."""
    return moment.astimezone(UTC).strftime("%A %d %B, %Y %H:%M:%S %Z")


class AlarmsBackend:
    """All alarms of one (account, region). Every public method holds the backend's lock."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._alarms: dict[str, Alarm] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._history = AlarmHistory()
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------- lookups
    def _arn(self, name: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{name}"

    def _resolve(self, ref: str) -> Alarm | None:
        """The alarm a rule/suppressor reference (name or ARN of this account and region) means."""
        arn = parse_alarm_arn(ref)
        if arn is None:
            return self._alarms.get(ref)
        if arn.account != self.account_id or arn.region != self.region:
            return None
        return self._alarms.get(arn.name)

    def _children(self, composite: Alarm) -> list[Alarm]:
        if composite.rule is None:
            return []
        resolved = (self._resolve(ref) for ref in composite.rule.references)
        return list({a.name: a for a in resolved if a is not None}.values())

    def _parents(self, name: str) -> list[Alarm]:
        return [
            alarm
            for alarm in self._alarms.values()
            if alarm.kind == COMPOSITE and any(c.name == name for c in self._children(alarm))
        ]

    def _get(self, name: str) -> Alarm:
        alarm = self._alarms.get(name)
        if alarm is None:
            raise ResourceNotFound(f"Alarm {name} does not exist in {self.region}.")
        return alarm

    # ----------------------------------------------------------------------------- state
    def _record_config(
        self, alarm: Alarm, change: Literal["Create", "Update", "Delete"], now: datetime
    ) -> None:
        summary, data = configuration_update(change, alarm.describe())
        self._history.record(
            timestamp=now,
            alarm_name=alarm.name,
            alarm_type=alarm.kind,
            item_type="ConfigurationUpdate",
            summary=summary,
            data=data,
        )

    def _transition(
        self, alarm: Alarm, value: str, reason: str, reason_data: str | None, now: datetime
    ) -> bool:
        """Apply a state update; True (and a StateUpdate history item) if StateValue changed."""
        old = alarm.snapshot()
        alarm.reason, alarm.reason_data, alarm.state_updated = reason, reason_data, now
        if value == old.value:
            return False  # StateUpdatedTimestamp moves, StateTransitionedTimestamp does not
        alarm.state, alarm.state_transitioned = value, now
        summary, data = state_update(old, alarm.snapshot())
        self._history.record(
            timestamp=now,
            alarm_name=alarm.name,
            alarm_type=alarm.kind,
            item_type="StateUpdate",
            summary=summary,
            data=data,
        )
        return True

    def _evaluate(self, composite: Alarm, trigger: Alarm | None, now: datetime) -> bool:
        """Re-evaluate a composite's rule; ``trigger`` is the child whose change prompted it."""
        assert composite.rule is not None

        def state_of(ref: str) -> str | None:
            child = self._resolve(ref)
            return child.state if child is not None else None

        value = "ALARM" if composite.rule.evaluate(state_of) else "OK"
        if value == composite.state:
            return False
        if trigger is None:  # creation or update: cite the child that moved last
            children = self._children(composite)
            trigger = max(children, key=lambda a: (a.state_transitioned, a.name), default=None)
        if trigger is None:
            reason = f"The alarm rule evaluated to {'TRUE' if value == 'ALARM' else 'FALSE'}"
            reason_data = None
        else:
            reason = (
                f"{trigger.arn} transitioned to {trigger.state} at "
                f"{_reason_moment(trigger.state_transitioned)}"
            )
            reason_data = json.dumps(
                {
                    "triggeringAlarms": [
                        {
                            "arn": trigger.arn,
                            "state": {
                                "value": trigger.state,
                                "timestamp": aws_timestamp(trigger.state_transitioned),
                            },
                        }
                    ]
                },
                separators=(",", ":"),
            )
        return self._transition(composite, value, reason, reason_data, now)

    def _propagate(self, changed: Alarm, now: datetime) -> None:
        """Re-evaluate every composite above ``changed``, each once, children before parents."""
        affected: dict[str, Alarm] = {}
        frontier = [changed.name]
        while frontier:
            for parent in self._parents(frontier.pop()):
                if parent.name not in affected:
                    affected[parent.name] = parent
                    frontier.append(parent.name)
        order: list[Alarm] = []
        visited: set[str] = set()

        def visit(alarm: Alarm) -> None:
            visited.add(alarm.name)
            for child in self._children(alarm):
                if child.name in affected and child.name not in visited:
                    visit(child)
            order.append(alarm)

        for alarm in affected.values():
            if alarm.name not in visited:
                visit(alarm)
        moved = {changed.name: changed}
        for composite in order:
            triggers = [c for c in self._children(composite) if c.name in moved]
            if triggers and self._evaluate(composite, triggers[-1], now):
                moved[composite.name] = composite

    def set_state(
        self, name: str, state: str, reason: str, reason_data: str | None, now: datetime
    ) -> bool:
        """Set an alarm's state (SetAlarmState's path, also for an evaluator); True if it moved.

        A change of StateValue is recorded in history and re-evaluates the composite alarms
        above it. ``reason_data`` is a JSON string or None.
        """
        if state not in STATES:
            raise ValidationError(
                f"1 validation error detected: Value '{state}' at 'stateValue' failed to satisfy "
                "constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
            )
        with self._lock:
            alarm = self._get(name)
            moved = self._transition(alarm, state, reason, reason_data, now)
            if moved:
                self._propagate(alarm, now)
            return moved

    # ----------------------------------------------------------------------------- writes
    def _store(
        self, kind: AlarmType, params: dict[str, Any], config: dict[str, Any], now: datetime
    ) -> Alarm:
        """Create or update an alarm; record the ConfigurationUpdate item."""
        name = params["AlarmName"]
        existing = self._alarms.get(name)
        if existing is not None and existing.kind != kind:
            raise ValidationError(
                f"An alarm named {name} already exists as a {existing.kind}; "
                f"delete it before creating a {kind} with that name"
            )
        if existing is not None:  # AWS keeps state and tags on update
            existing.config, existing.config_updated = config, now
            self._record_config(existing, "Update", now)
            return existing
        alarm = Alarm(
            kind, name, self._arn(name), config, now, "INSUFFICIENT_DATA", INITIAL_REASON, now, now
        )
        self._alarms[name] = alarm
        self._tags[alarm.arn] = _tags(params)
        self._record_config(alarm, "Create", now)
        return alarm

    def put_metric_alarm(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """PutMetricAlarm: create or replace a metric alarm (single metric or metric math)."""
        validate_metric_alarm(params)
        with self._lock:
            self._store(METRIC, params, _configuration("PutMetricAlarm", METRIC, params), ctx.now)
        return {}

    def _parse_rule(self, name: str, text: str) -> AlarmRule:
        try:
            rule = parse_alarm_rule(text)
        except AlarmRuleError as exc:
            raise ValidationError(str(exc)) from exc
        missing = [ref for ref in rule.references if self._resolve(ref) is None]
        if missing:  # observed wording
            raise ValidationError(
                f"Could not save the composite alarm as alarms [{', '.join(missing)}] in the "
                "alarm rule do not exist"
            )
        cycle = self._cycle(name, rule)
        if cycle:
            raise ValidationError(
                f"The AlarmRule of {name} would create a cycle of composite alarms: "
                + " -> ".join(cycle)
            )
        return rule

    def _cycle(self, name: str, rule: AlarmRule) -> list[str]:
        """A path name -> … -> name through the rule's children, or [] when there is none."""

        def search(alarm: Alarm, path: list[str]) -> list[str]:
            if alarm.name == name:
                return [*path, name]
            if alarm.name in path or alarm.kind != COMPOSITE:
                return []
            for child in self._children(alarm):
                found = search(child, [*path, alarm.name])
                if found:
                    return found
            return []

        for ref in rule.references:
            child = self._resolve(ref)
            if child is not None:
                found = search(child, [name])
                if found:
                    return found
        return []

    def _check_suppressor(self, params: dict[str, Any]) -> None:
        suppressor = params.get("ActionsSuppressor")
        if suppressor is None:
            return
        if self._resolve(suppressor) is None:
            raise ValidationError(
                f"Could not save the composite alarm as the ActionsSuppressor alarm "
                f"[{suppressor}] does not exist"
            )
        # "WaitPeriod is required only when ActionsSuppressor is specified" (same for Extension).
        for member in ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod"):
            if params.get(member) is None:
                raise ValidationError(f"{member} must be specified when ActionsSuppressor is set")

    def put_composite_alarm(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """PutCompositeAlarm: create or replace a composite alarm, then evaluate it."""
        check_constraints("PutCompositeAlarm", params)
        with self._lock:
            rule = self._parse_rule(params["AlarmName"], params["AlarmRule"])
            self._check_suppressor(params)
            config = _configuration("PutCompositeAlarm", COMPOSITE, params)
            alarm = self._store(COMPOSITE, params, config, ctx.now)
            alarm.rule = rule
            if self._evaluate(alarm, None, ctx.now):
                self._propagate(alarm, ctx.now)
        return {}

    def delete_alarms(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """DeleteAlarms: up to 100 names, at most one composite; unknown names are reported
        (ResourceNotFound) after the known ones are deleted, as the API reference describes."""
        check_constraints("DeleteAlarms", params)
        names = list(dict.fromkeys(params["AlarmNames"]))
        with self._lock:
            found = [self._alarms[n] for n in names if n in self._alarms]
            composites = [a.name for a in found if a.kind == COMPOSITE]
            if len(composites) > 1:
                raise ValidationError(
                    "DeleteAlarms can delete at most one composite alarm per call; got "
                    f"{len(composites)}: [{', '.join(composites)}]"
                )
            doomed = {a.name for a in found}
            for alarm in found:
                keepers = [p.name for p in self._parents(alarm.name) if p.name not in doomed]
                if keepers:
                    raise ResourceConflict(
                        f"Alarm {alarm.name} cannot be deleted: it is referenced in the AlarmRule "
                        f"of composite alarm(s) [{', '.join(keepers)}]; change or delete those "
                        "first"
                    )
            for alarm in found:
                self._record_config(alarm, "Delete", ctx.now)
                del self._alarms[alarm.name]
                self._tags.pop(alarm.arn, None)
            missing = [n for n in names if n not in doomed]
            if missing:
                raise ResourceNotFound(f"Alarms not found: [{', '.join(missing)}]")
        return {}

    def set_alarm_state(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """SetAlarmState: StateReasonData must be JSON (InvalidFormat); unknown alarm → 404."""
        check_constraints("SetAlarmState", params)
        reason_data = params.get("StateReasonData")
        if reason_data is not None:
            try:
                json.loads(reason_data)
            except ValueError as exc:
                raise InvalidFormat(
                    f"StateReasonData is not valid JSON: {reason_data[:100]!r}"
                ) from exc
        self.set_state(
            params["AlarmName"], params["StateValue"], params["StateReason"], reason_data, ctx.now
        )
        return {}

    def _set_actions_enabled(self, params: dict[str, Any], operation: str, value: bool) -> None:
        check_constraints(operation, params)
        with self._lock:
            for name in params["AlarmNames"]:
                alarm = self._alarms.get(name)
                if alarm is not None:  # unknown names are ignored (no errors are modelled)
                    alarm.config["ActionsEnabled"] = value

    def enable_alarm_actions(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """EnableAlarmActions."""
        self._set_actions_enabled(params, "EnableAlarmActions", True)
        return {}

    def disable_alarm_actions(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """DisableAlarmActions."""
        self._set_actions_enabled(params, "DisableAlarmActions", False)
        return {}

    # ----------------------------------------------------------------------------- reads
    def _describe_related(self, params: dict[str, Any]) -> list[tuple[Alarm, dict[str, Any]]]:
        """ChildrenOfAlarmName / ParentsOfAlarmName, with the few fields AWS returns for them."""
        if params.get("ChildrenOfAlarmName") is not None:
            target = self._alarms.get(params["ChildrenOfAlarmName"])
            related = self._children(target) if target is not None else []
            fields: tuple[str, ...] = _CHILD_FIELDS
        else:
            related = self._parents(params["ParentsOfAlarmName"])
            fields = _PARENT_FIELDS
        rows = []
        for alarm in related:
            described = alarm.describe()
            rows.append((alarm, {f: described[f] for f in fields}))
        return rows

    def _describe_filtered(self, params: dict[str, Any]) -> list[tuple[Alarm, dict[str, Any]]]:
        names = params.get("AlarmNames")
        prefix = params.get("AlarmNamePrefix")
        types = set(params.get("AlarmTypes") or [METRIC])  # AWS: omitted means metric alarms only
        state = params.get("StateValue")
        action_prefix = params.get("ActionPrefix")
        rows = []
        for alarm in self._alarms.values():
            if alarm.kind not in types:
                continue
            if names is not None and alarm.name not in names:
                continue
            if prefix is not None and not alarm.name.startswith(prefix):
                continue
            if state is not None and alarm.state != state:
                continue
            if action_prefix is not None and not any(
                action.startswith(action_prefix)
                for key in ("OKActions", "AlarmActions", "InsufficientDataActions")
                for action in alarm.config[key]
            ):
                continue
            rows.append((alarm, alarm.describe()))
        return rows

    def describe_alarms(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """DescribeAlarms: filters, AlarmTypes (default metric only), paging by name."""
        check_constraints("DescribeAlarms", params)
        if params.get("AlarmNames") is not None and params.get("AlarmNamePrefix") is not None:
            raise InvalidParameterCombination(
                "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive and you "
                "have specified both."
            )
        related = [m for m in ("ChildrenOfAlarmName", "ParentsOfAlarmName") if params.get(m)]
        if related:
            others = [
                m
                for m in (*_EXCLUSIVE_FILTERS, "ChildrenOfAlarmName", "ParentsOfAlarmName")
                if m != related[0] and params.get(m) is not None
            ]
            if others:
                raise ValidationError(
                    f"If you specify {related[0]}, you cannot specify any other parameters in "
                    f"the request except for MaxRecords and NextToken; got {', '.join(others)}"
                )
        after = decode_token(params["NextToken"], "n")["n"] if params.get("NextToken") else None
        limit = params.get("MaxRecords") or _DESCRIBE_MAX_RECORDS
        with self._lock:
            rows = self._describe_related(params) if related else self._describe_filtered(params)
        rows.sort(key=lambda row: row[0].name)
        if after is not None:
            rows = [row for row in rows if row[0].name > after]
        page = rows[:limit]
        output: dict[str, Any] = {"MetricAlarms": [], "CompositeAlarms": []}
        if "LogAlarm" in (params.get("AlarmTypes") or []):
            output["LogAlarms"] = []  # the sandbox has no log alarms
        for alarm, described in page:
            output[_OUTPUT_KEY[alarm.kind]].append(described)
        if len(rows) > limit:
            output["NextToken"] = encode_token({"n": page[-1][0].name})
        return output

    def describe_alarms_for_metric(
        self, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        """DescribeAlarmsForMetric: single-metric alarms on exactly this metric (and filters)."""
        check_constraints("DescribeAlarmsForMetric", params)
        wanted_dims = params.get("Dimensions")
        wanted = sorted((d["Name"], d["Value"]) for d in wanted_dims or [])
        with self._lock:
            matches = []
            for alarm in sorted(self._alarms.values(), key=lambda a: a.name):
                config = alarm.config
                if alarm.kind != METRIC or "MetricName" not in config:
                    continue
                if (config["MetricName"], config["Namespace"]) != (
                    params["MetricName"],
                    params["Namespace"],
                ):
                    continue
                if any(
                    params.get(m) is not None and config.get(m) != params[m]
                    for m in ("Statistic", "ExtendedStatistic", "Period", "Unit")
                ):
                    continue
                dims = sorted((d["Name"], d["Value"]) for d in config["Dimensions"])
                if wanted_dims is not None and dims != wanted:
                    continue
                matches.append(alarm.describe())
        return {"MetricAlarms": matches}

    def describe_alarm_history(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """DescribeAlarmHistory: newest first by default, 100 a page, metric alarms by default."""
        check_constraints("DescribeAlarmHistory", params)
        after = None
        if params.get("NextToken"):
            token = decode_token(params["NextToken"], "t", "s")
            try:
                after = (datetime.fromisoformat(token["t"]), int(token["s"]))
            except (TypeError, ValueError) as exc:
                raise InvalidNextToken(
                    f"The NextToken '{params['NextToken']}' is invalid."
                ) from exc
        query = HistoryQuery(
            alarm_types=frozenset(params.get("AlarmTypes") or [METRIC]),
            alarm_name=params.get("AlarmName"),
            item_type=params.get("HistoryItemType"),
            start=params.get("StartDate"),
            end=params.get("EndDate"),
            ascending=params.get("ScanBy") == "TimestampAscending",
            limit=params.get("MaxRecords") or _HISTORY_MAX_RECORDS,
            after=after,
        )
        if params.get("AlarmContributorId") is not None:
            return {"AlarmHistoryItems": []}  # the sandbox has no multi-contributor alarms
        with self._lock:
            items, more = self._history.query(query)
        output: dict[str, Any] = {"AlarmHistoryItems": [item.output() for item in items]}
        if more:
            last = items[-1]
            output["NextToken"] = encode_token({"t": last.timestamp.isoformat(), "s": last.seq})
        return output

    # ----------------------------------------------------------------------------- tags
    def _tagged(self, arn: str) -> dict[str, str]:
        parsed = parse_alarm_arn(arn)
        if parsed is None:
            raise InvalidParameterValue(
                f"The value {arn} for parameter ResourceARN is not a valid CloudWatch alarm ARN."
            )
        alarm = self._resolve(arn)
        if alarm is None or alarm.arn != arn:
            raise ResourceNotFoundException(f"The alarm {arn} does not exist.")
        return self._tags.setdefault(arn, {})

    def tag_resource(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """TagResource: add or overwrite tags on an alarm, by ARN."""
        check_constraints("TagResource", params)
        with self._lock:
            self._tagged(params["ResourceARN"]).update(_tags(params))
        return {}

    def untag_resource(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """UntagResource: remove tag keys (absent keys are ignored)."""
        check_constraints("UntagResource", params)
        with self._lock:
            tags = self._tagged(params["ResourceARN"])
            for key in params["TagKeys"]:
                tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """ListTagsForResource: the alarm's tags in the order they were first set."""
        check_constraints("ListTagsForResource", params)
        with self._lock:
            tags = self._tagged(params["ResourceARN"])
            return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    # ----------------------------------------------------------------------------- evaluator aid
    def alarms(self) -> list[dict[str, Any]]:
        """Every alarm, metric and composite, as DescribeAlarms shows it (copies), by name.

        For an alarm evaluator: read configurations here, write states with :meth:`set_state`.
        """
        with self._lock:
            return [self._alarms[name].describe() for name in sorted(self._alarms)]


ALARM_OPERATIONS: dict[str, str] = {
    "PutMetricAlarm": "put_metric_alarm",
    "PutCompositeAlarm": "put_composite_alarm",
    "DescribeAlarms": "describe_alarms",
    "DescribeAlarmsForMetric": "describe_alarms_for_metric",
    "DeleteAlarms": "delete_alarms",
    "SetAlarmState": "set_alarm_state",
    "DescribeAlarmHistory": "describe_alarm_history",
    "TagResource": "tag_resource",
    "UntagResource": "untag_resource",
    "ListTagsForResource": "list_tags_for_resource",
    "EnableAlarmActions": "enable_alarm_actions",
    "DisableAlarmActions": "disable_alarm_actions",
}
