"""Static retry amplification: how many attempts one unit of work can become along each call path,
from configuration alone, so a retry storm can be predicted before it happens.

Every layer that retries multiplies the attempts of the layers below it: an SQS message received
up to ``maxReceiveCount`` times, each receive running a function whose SDK makes 3 attempts per
call, is 9 attempts on the function's downstream for one message. :func:`amplification_paths`
walks the discovered inventory (:mod:`collectors.discovery` records, as JSON in the ``inventory``
table) from each entry to each Lambda function and multiplies the layers' attempt budgets:

``sqs`` (an SQS event source mapping)
    the queue's ``maxReceiveCount`` (RedrivePolicy). Without a redrive policy a failing message
    is received until it expires: ``retention / visibility timeout`` receives (noted).
``eventbridge`` (a rule's target)
    ``MaximumRetryAttempts + 1`` (AWS's default 185 retries, so 186, within
    ``MaximumEventAgeInSeconds``, default 24 h; the event age can end retrying earlier, which
    configuration alone cannot count, so the number is an upper bound and the note says so).
    EventBridge re-sends a delivery its target refused (throttling, 5xx), not one whose function
    later failed, so this factor bounds load on the target's API more than on its downstreams.
``lambda_async`` (a function invoked asynchronously: an EventBridge target, or one with an event
invoke config or a DLQ)
    ``MaximumRetryAttempts + 1`` (AWS's default 2 retries, so 3).
``step_functions`` (a Task state invoking the function, directly by ARN or through
``arn:aws:states:::lambda:invoke``; Parallel branches and Map iterators included)
    the largest ``MaxAttempts + 1`` among the state's retriers (``MaxAttempts`` defaults to 3;
    no Retry block is 1). Retriers keep separate counters, so errors alternating between
    retriers could exceed this; one failure mode cannot.
``sdk`` (calls the function makes)
    ``sdk_attempts``: what the function's SDK client makes per call, which configuration
    discovery cannot see (botocore's standard retry mode makes 3 attempts; legacy mode up to 5,
    DynamoDB 10), hence a parameter.

Paths: ``[events:<rule>,] sqs:<queue>, lambda:<fn>``; ``events:<rule>, lambda:<fn>``;
``[events:<rule>,] states:<machine>/<state>, lambda:<fn>``; and ``lambda:<fn>`` alone for a
function no discovered entry reaches (its async retries counted when it is invoked
asynchronously). Stream sources (Kinesis, DynamoDB streams), SNS and S3 triggers are not
discovered and not walked.

Risk from ``worst_case_attempts``: below 4 "low" (one layer's default budget, e.g. the SDK's 3);
4-9 "medium" (two default layers, e.g. SDK 3 x SQS 3 = 9); 10-49 "high" (three layers, or an
aggressive budget); 50 and more "critical" (an outage downstream multiplies load fifty-fold or
more; nothing recovers under that). Thresholds are a parameter.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

RISKS: tuple[str, ...] = ("low", "medium", "high", "critical")
DEFAULT_RISK_THRESHOLDS: tuple[int, int, int] = (4, 10, 50)
LAMBDA_ASYNC_DEFAULT_RETRIES = 2  # AWS's default for asynchronous invocation
EVENTBRIDGE_DEFAULT_RETRIES = 185  # AWS's default target RetryPolicy
EVENTBRIDGE_DEFAULT_AGE_S = 86_400
STATES_DEFAULT_MAX_ATTEMPTS = 3  # a retrier without MaxAttempts
COLUMNS = [
    "account",
    "region",
    "entry",
    "path",
    "function",
    "worst_case_attempts",
    "factors",
    "risk",
    "notes",
]

_Key = tuple[str, str, str]  # (account, region, name)


def _config(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _parse_arn(arn: Any) -> tuple[str, str, str, str] | None:
    """``(service, region, account, name)`` of a Lambda function, SQS queue or state machine ARN;
    a Lambda version or alias qualifier is dropped."""
    parts = str(arn or "").split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return None
    service, region, account = parts[2], parts[3], parts[4]
    if service == "lambda" and len(parts) >= 7 and parts[5] == "function":
        return "lambda", region, account, parts[6]
    if service == "sqs":
        return "sqs", region, account, parts[5]
    if service == "states" and len(parts) >= 7 and parts[5] == "stateMachine":
        return "states", region, account, parts[6]
    return None


def _task_function(state: dict[str, Any], account: str, region: str) -> _Key | None:
    """The function a Task state invokes, or None (not Lambda, or chosen at run time)."""
    resource = str(state.get("Resource") or "")
    direct = _parse_arn(resource)
    if direct and direct[0] == "lambda":
        return direct[2] or account, direct[1] or region, direct[3]
    if ":states:::lambda:invoke" not in resource:
        return None
    for block in ("Parameters", "Arguments"):
        params = state.get(block)
        if isinstance(params, dict) and isinstance(params.get("FunctionName"), str):
            name = params["FunctionName"]
            parsed = _parse_arn(name)
            if parsed and parsed[0] == "lambda":
                return parsed[2] or account, parsed[1] or region, parsed[3]
            # A name, "name:alias", or a partial ARN "123456789012:function:name".
            pieces = name.split(":")
            if len(pieces) >= 3 and pieces[1] == "function":
                return pieces[0], region, pieces[2]
            if name and not name.startswith("{%"):  # JSONata expressions are run-time choices
                return account, region, pieces[0]
    return None


def _task_states(definition: Any, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every Task state in a definition, Parallel branches and Map iterators included, as
    ``(name, state)``; nested names are ``Outer/Inner``."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(definition, dict):
        return out
    states = definition.get("States")
    if not isinstance(states, dict):
        return out
    for name in sorted(states):
        state = states[name]
        if not isinstance(state, dict):
            continue
        label = f"{prefix}{name}"
        kind = state.get("Type")
        if kind == "Task":
            out.append((label, state))
        elif kind == "Parallel":
            for branch in state.get("Branches") or ():
                out.extend(_task_states(branch, f"{label}/"))
        elif kind == "Map":
            for inner in ("ItemProcessor", "Iterator"):
                out.extend(_task_states(state.get(inner), f"{label}/"))
    return out


def _task_attempts(state: dict[str, Any]) -> int:
    """The largest ``MaxAttempts + 1`` among the state's retriers (1 without Retry)."""
    best = 1
    for retrier in state.get("Retry") or ():
        if not isinstance(retrier, dict):
            continue
        raw = retrier.get("MaxAttempts", STATES_DEFAULT_MAX_ATTEMPTS)
        attempts = _int(raw)
        best = max(best, (attempts if attempts is not None else STATES_DEFAULT_MAX_ATTEMPTS) + 1)
    return best


def _risk(attempts: float, thresholds: tuple[int, int, int]) -> str:
    return RISKS[sum(attempts >= t for t in thresholds)]


def _latest(inventory: pd.DataFrame) -> pd.DataFrame:
    needed = {"account", "region", "kind", "name", "config"}
    if inventory is None or inventory.empty or not needed <= set(inventory.columns):
        return pd.DataFrame(columns=["account", "region", "kind", "name", "arn", "config"])
    frame = inventory
    if "collected_at" in frame.columns:
        frame = frame.sort_values("collected_at", kind="mergesort")
    return frame.drop_duplicates(["account", "region", "kind", "name"], keep="last")


class _Walk:
    """The inventory of every account and region, indexed for walking call paths."""

    def __init__(self, inventory: pd.DataFrame, sdk_attempts: int) -> None:
        self.sdk_attempts = sdk_attempts
        self.functions: dict[_Key, dict[str, Any]] = {}
        self.queues: dict[_Key, dict[str, Any]] = {}
        self.rules: dict[_Key, dict[str, Any]] = {}
        self.machines: dict[_Key, dict[str, Any]] = {}
        latest = _latest(inventory)
        arns = latest["arn"] if "arn" in latest.columns else [None] * len(latest)
        tables = {
            "lambda": self.functions,
            "sqs": self.queues,
            "events-rule": self.rules,
            "state-machine": self.machines,
        }
        for account, region, kind, name, arn, text in zip(
            latest["account"],
            latest["region"],
            latest["kind"],
            latest["name"],
            arns,
            latest["config"],
            strict=True,
        ):
            table = tables.get(str(kind))
            if table is not None:
                config = dict(_config(text))
                config["_arn"] = arn
                table[(str(account), str(region), str(name))] = config
        # Rules' targets, by what they target: (service, account, region, name) -> rule keys.
        self.rule_targets: dict[tuple[str, str, str, str], list[tuple[_Key, dict[str, Any]]]] = {}
        for key in sorted(self.rules):
            for target in self.rules[key].get("targets") or ():
                if not isinstance(target, dict):
                    continue
                parsed = _parse_arn(target.get("arn"))
                if parsed is None:
                    continue
                service, region, account, name = parsed
                where = (service, account or key[0], region or key[1], name)
                self.rule_targets.setdefault(where, []).append((key, target))

    def rows(self) -> list[dict[str, Any]]:
        found = self._rows()
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, ...]] = set()
        for row in found:  # a rule with two targets on one function is one path
            key = (row["account"], row["region"], *row["path"])
            if key not in seen:
                seen.add(key)
                out.append(row)
        return out

    def _rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        reached: set[_Key] = set()
        for key in sorted(self.functions):
            for row in self._sqs_paths(key):
                out.append(row)
                reached.add(key)
            for row in self._rule_paths(key):
                out.append(row)
                reached.add(key)
        for key in sorted(self.machines):
            for row in self._machine_paths(key):
                out.append(row)
                reached.add((row["account"], row["region"], row["function"]))
        for key in sorted(self.functions):
            if key not in reached:
                out.append(self._alone(key))
        return out

    # -- layers -------------------------------------------------------------------------------

    def _row(
        self,
        key: _Key,
        entry: str,
        path: list[str],
        factors: dict[str, int],
        notes: list[str],
    ) -> dict[str, Any]:
        factors = {**factors, "sdk": self.sdk_attempts}
        worst = math.prod(factors.values())
        return {
            "account": key[0],
            "region": key[1],
            "entry": entry,
            "path": path,
            "function": key[2],
            "worst_case_attempts": int(worst),
            "factors": factors,
            "notes": notes,
        }

    def _async_factor(self, key: _Key, notes: list[str]) -> int:
        config = self.functions.get(key, {})
        retries = _int((config.get("async_config") or {}).get("maximum_retry_attempts"))
        if retries is None:
            retries = LAMBDA_ASYNC_DEFAULT_RETRIES
            notes.append(
                f"lambda:{key[2]} async retries not configured: AWS's default "
                f"{LAMBDA_ASYNC_DEFAULT_RETRIES} apply"
            )
        return retries + 1

    def _rule_factor(self, rule: _Key, target: dict[str, Any], notes: list[str]) -> int:
        retries = _int(target.get("maximum_retry_attempts"))
        age = _int(target.get("maximum_event_age_s")) or EVENTBRIDGE_DEFAULT_AGE_S
        default = " (EventBridge's default)" if retries is None else ""
        retries = EVENTBRIDGE_DEFAULT_RETRIES if retries is None else retries
        notes.append(
            f"events:{rule[2]} retries a refused delivery up to {retries} times{default} "
            f"within {age} s of the event; the event age can end retrying sooner (upper bound)"
        )
        return retries + 1

    def _queue_factor(self, queue: _Key, notes: list[str]) -> int:
        config = self.queues.get(queue)
        if config is None:
            notes.append(f"sqs:{queue[2]} not in the inventory: its receive count is unknown")
            return 1
        count = _int(config.get("max_receive_count"))
        if count is not None and count > 0:
            return count
        retention = _int(config.get("retention_s")) or 345_600
        visibility = max(_int(config.get("visibility_timeout_s")) or 30, 1)
        bound = max(1, retention // visibility)
        notes.append(
            f"sqs:{queue[2]} has no redrive policy: a failing message is received until it "
            f"expires, up to {bound} times (retention {retention} s / visibility {visibility} s)"
        )
        return bound

    def _upstream_rules(self, service: str, key: _Key) -> list[tuple[_Key, dict[str, Any]]]:
        return self.rule_targets.get((service, key[0], key[1], key[2]), [])

    # -- paths --------------------------------------------------------------------------------

    def _sqs_paths(self, key: _Key) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        config = self.functions[key]
        mappings = [m for m in config.get("event_source_mappings") or () if isinstance(m, dict)]
        for mapping in sorted(mappings, key=lambda m: str(m.get("source_arn"))):
            parsed = _parse_arn(mapping.get("source_arn"))
            if parsed is None or parsed[0] != "sqs":
                continue
            queue = (parsed[2] or key[0], parsed[1] or key[1], parsed[3])
            notes: list[str] = []
            factor = self._queue_factor(queue, notes)
            types = mapping.get("function_response_types") or ()
            if (
                "ReportBatchItemFailures" not in types
                and (_int(mapping.get("batch_size")) or 1) > 1
            ):
                notes.append(
                    f"lambda:{key[2]} reports no batch item failures: one failing message "
                    f"redelivers its whole batch (up to {mapping.get('batch_size')} messages)"
                )
            state = mapping.get("state")
            if state and str(state).lower() not in ("enabled", "enabling", "updating"):
                notes.append(f"event source mapping from sqs:{queue[2]} is {state}")
            base = [f"sqs:{queue[2]}", f"lambda:{key[2]}"]
            out.append(self._row(key, base[0], base, {"sqs": factor}, notes))
            for rule, target in self._upstream_rules("sqs", queue):
                rule_notes = list(notes)
                events = self._rule_factor(rule, target, rule_notes)
                out.append(
                    self._row(
                        key,
                        f"events:{rule[2]}",
                        [f"events:{rule[2]}", *base],
                        {"eventbridge": events, "sqs": factor},
                        rule_notes,
                    )
                )
        return out

    def _rule_paths(self, key: _Key) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rule, target in self._upstream_rules("lambda", key):
            notes: list[str] = []
            events = self._rule_factor(rule, target, notes)
            retries = self._async_factor(key, notes)
            out.append(
                self._row(
                    key,
                    f"events:{rule[2]}",
                    [f"events:{rule[2]}", f"lambda:{key[2]}"],
                    {"eventbridge": events, "lambda_async": retries},
                    notes,
                )
            )
        return out

    def _machine_paths(self, machine: _Key) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        config = self.machines[machine]
        definition = config.get("definition")
        if not isinstance(definition, dict):
            return out
        for state_name, state in _task_states(definition):
            function = _task_function(state, machine[0], machine[1])
            if function is None:
                continue
            attempts = _task_attempts(state)
            notes: list[str] = []
            if attempts == 1:
                notes.append(f"Task state {state_name} has no Retry")
            if function not in self.functions:
                notes.append(f"lambda:{function[2]} not in the inventory")
            hop = f"states:{machine[2]}/{state_name}"
            base = [hop, f"lambda:{function[2]}"]
            out.append(
                self._row(
                    function, f"states:{machine[2]}", base, {"step_functions": attempts}, notes
                )
            )
            for rule, target in self._upstream_rules("states", machine):
                rule_notes = list(notes)
                events = self._rule_factor(rule, target, rule_notes)
                out.append(
                    self._row(
                        function,
                        f"events:{rule[2]}",
                        [f"events:{rule[2]}", *base],
                        {"eventbridge": events, "step_functions": attempts},
                        rule_notes,
                    )
                )
        return out

    def _alone(self, key: _Key) -> dict[str, Any]:
        config = self.functions[key]
        notes: list[str] = []
        factors: dict[str, int] = {}
        is_async = bool(
            config.get("async_config")
            or config.get("dead_letter_target")
            or config.get("async_sources")
        )
        if is_async:
            factors["lambda_async"] = self._async_factor(key, notes)
            notes.append(f"lambda:{key[2]} is invoked asynchronously by callers not discovered")
        else:
            notes.append(f"no discovered trigger for lambda:{key[2]}: its own SDK retries only")
        return self._row(key, f"lambda:{key[2]}", [f"lambda:{key[2]}"], factors, notes)


def amplification_paths(
    inventory: pd.DataFrame,
    *,
    sdk_attempts: int = 3,
    risk_thresholds: tuple[int, int, int] = DEFAULT_RISK_THRESHOLDS,
) -> pd.DataFrame:
    """One row per call path from an entry (queue, rule, state machine task, or the function
    itself) to a Lambda function, with the product of the retry budgets along it.

    Columns: ``account``, ``region``, ``entry`` (the first hop), ``path`` (list of hops in the
    store's resource spelling), ``function``, ``worst_case_attempts`` (int), ``factors`` (dict,
    layer -> attempts: ``eventbridge``, ``sqs``, ``lambda_async``, ``step_functions``, ``sdk``),
    ``risk`` (low | medium | high | critical) and ``notes`` (list of str: defaults assumed,
    bounds, batch behaviour). Sorted by account, region, entry, function and path; the latest
    inventory snapshot of each resource is used.
    """
    if sdk_attempts < 1:
        raise ValueError("sdk_attempts counts the first attempt: it must be at least 1")
    if list(risk_thresholds) != sorted(risk_thresholds):
        raise ValueError("risk_thresholds must be ascending")
    rows = _Walk(inventory, sdk_attempts).rows()
    for row in rows:
        row["risk"] = _risk(row["worst_case_attempts"], risk_thresholds)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    frame["worst_case_attempts"] = frame["worst_case_attempts"].astype("int64")
    order = sorted(
        range(len(frame)),
        key=lambda i: (
            frame.at[i, "account"],
            frame.at[i, "region"],
            frame.at[i, "entry"],
            frame.at[i, "function"],
            tuple(frame.at[i, "path"]),
        ),
    )
    return frame.iloc[order].reset_index(drop=True)
