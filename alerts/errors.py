"""Error rates: Lambda functions failing (``function-errors``) and Step Functions executions failing
(``execution-failures``), above both a count and a rate, sustained.

Rules, per period (60 s by default) on a regular UTC grid, missing periods counted as 0 (AWS
count metrics publish nothing in idle minutes); comparisons are inclusive:

``function-errors`` on ``lambda:<function>`` (AWS/Lambda, ``FunctionName`` series, Sum)
    ``Errors >= errors_min`` and ``Errors >= rate_min x Invocations``.
``execution-failures`` on ``states:<state machine name>`` (AWS/States, ``StateMachineArn``)
    ``failed >= errors_min`` and ``failed >= rate_min x ExecutionsStarted``, where ``failed`` is
    ``ExecutionsFailed`` plus ``ExecutionsTimedOut`` (``count_timed_out``; aborted executions are
    someone's decision, not a failure).

A finding is a run of at least ``min_periods`` holding periods (``max_gap`` non-holding periods
inside it bridged); it starts at the run's first period, ends after its last (None while it
holds at the last complete period before ``now``) and is detected at the end of the
``min_periods``-th holding period: a finding at time t uses only data up to t, and appending
later data never moves a past finding's ``start`` or ``detected_at``.

Defaults and why: ``errors_min=3`` a minute (one or two errors a minute are the background of a
busy function: cold-start timeouts, a bad request), ``rate_min=0.05`` (5 % of invocations: a
rate a healthy function does not sustain, while the count minimum keeps a low-traffic function's
single failure from being "100 %"), ``min_periods=2`` (two minutes: past a blip, and two holding
minutes in a row are detected two periods after the start), ``max_gap=3`` (failures come in
waves: asynchronous retries after about 1 and 2 minutes, SQS redeliveries after the visibility
timeout, idle minutes of a low-traffic function; up to three clean periods between holding ones
do not end an incident). Failures are counted where they end: executions
started earlier can fail in a minute with no starts, so the rate's denominator is never taken
below the failures themselves.

Severity follows the peak error rate over ``min_periods`` consecutive periods of the run (ratio of
sums, so one odd low-volume minute cannot set it): below 10 % "low", 10-25 % "medium", 25-50 %
"high", 50 % and more "critical" (most work is failing).

``function-errors`` names a ``downstream`` when the application's per-dependency metrics
(:class:`alerts.retry_storms.AppMetrics`) show the function's calls failing during the run: the
dependency with the most ``DownstreamFailures``, if at least ``errors_min`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from alerts.findings import SEVERITIES, Finding, utc
from alerts.retry_storms import (
    AppMetrics,
    _call_edges,
    _epoch_ms,
    _Grid,
    _grid_for,
    _level,
    _matrices,
    _minutes,
    _number,
    _only_dimension,
    _peak_ratio,
    _resource_column,
    _sort_key,
    _Store,
    _times,
)
from alerts.spans import runs

if TYPE_CHECKING:
    import pandas as pd

    from alerts.spans import Run


@dataclass(frozen=True, slots=True)
class ErrorSettings:
    """Thresholds of :func:`detect_errors` (see the module docstring for the reasons)."""

    period_s: int = 60
    errors_min: float = 3.0
    rate_min: float = 0.05
    min_periods: int = 2
    max_gap: int = 3
    count_timed_out: bool = True
    severity_rates: tuple[float, float, float] = (0.10, 0.25, 0.50)
    app: AppMetrics = field(default_factory=AppMetrics)

    def __post_init__(self) -> None:
        if self.period_s <= 0:
            raise ValueError("period_s must be positive")
        if self.min_periods < 1:
            raise ValueError("min_periods must be at least 1")
        if self.max_gap < 0:
            raise ValueError("max_gap must not be negative")
        if list(self.severity_rates) != sorted(self.severity_rates):
            raise ValueError("severity_rates must be ascending")


@dataclass(slots=True)
class _Rule:
    kind: str
    grid: _Grid
    keys: pd.DataFrame  # account, region, resource
    failures: np.ndarray
    work: np.ndarray
    extra: dict[str, np.ndarray]


def _lambda_rule(store: _Store, now: pd.Timestamp, s: ErrorSettings) -> _Rule | None:
    wanted = ("Invocations", "Errors", "Throttles")
    rows = _only_dimension(store.select("AWS/Lambda", wanted, "Sum", s.period_s), "FunctionName")
    if rows.empty:
        return None
    grid = _grid_for(_epoch_ms(rows["ts"]), now, s.period_s)
    if grid is None:
        return None
    rows = rows.assign(resource=_resource_column(rows, "lambda", "FunctionName"))
    keys, m = _matrices(rows, ["account", "region", "resource"], wanted, grid)
    if keys.empty:
        return None
    return _Rule(
        "function-errors",
        grid,
        keys,
        m["Errors"],
        m["Invocations"],
        {"invocations": m["Invocations"], "throttles": m["Throttles"]},
    )


def _states_rule(store: _Store, now: pd.Timestamp, s: ErrorSettings) -> _Rule | None:
    wanted = ("ExecutionsStarted", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled")
    rows = _only_dimension(store.select("AWS/States", wanted, "Sum", s.period_s), "StateMachineArn")
    if rows.empty:
        return None
    grid = _grid_for(_epoch_ms(rows["ts"]), now, s.period_s)
    if grid is None:
        return None
    rows = rows.assign(resource=_resource_column(rows, "states", "StateMachineArn"))
    keys, m = _matrices(rows, ["account", "region", "resource"], wanted, grid)
    if keys.empty:
        return None
    failed = m["ExecutionsFailed"] + (m["ExecutionsTimedOut"] if s.count_timed_out else 0.0)
    return _Rule(
        "execution-failures",
        grid,
        keys,
        failed,
        m["ExecutionsStarted"],
        {
            "started": m["ExecutionsStarted"],
            "failed": m["ExecutionsFailed"],
            "timed_out": m["ExecutionsTimedOut"],
            "throttled": m["ExecutionThrottled"],
        },
    )


def _dependency_failures(
    store: _Store, rule: _Rule, s: ErrorSettings
) -> dict[tuple[str, str, str], tuple[list[str], np.ndarray]]:
    """(account, region, ``lambda:<fn>``) -> (dependencies, their failures per period)."""
    app = s.app
    rows = _call_edges(store.select(app.namespace, (app.failures,), app.stat, s.period_s), app)
    if rows.empty:
        return {}
    rows = rows.assign(resource="lambda:" + rows["caller"].astype(str)).rename(
        columns={"downstream": "dependency"}
    )
    keys, m = _matrices(
        rows, ["account", "region", "resource", "dependency"], (app.failures,), rule.grid
    )
    out: dict[tuple[str, str, str], tuple[list[str], np.ndarray]] = {}
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for i, (a, r, res) in enumerate(
        zip(keys["account"], keys["region"], keys["resource"], strict=True)
    ):
        grouped.setdefault((str(a), str(r), str(res)), []).append(i)
    for key, rows_of in grouped.items():
        out[key] = (
            [str(keys.at[i, "dependency"]) for i in rows_of],
            m[app.failures][rows_of],
        )
    return out


def _describe(kind: str, resource: str, e: dict[str, Any], duration: str) -> str:
    name = resource.partition(":")[2]
    if kind == "function-errors":
        cause = (
            f" (calls to {e['failing_dependency']} failing)" if "failing_dependency" in e else ""
        )
        return (
            f"{name} failing: up to {e['peak_rate']:.0%} of invocations, {e['errors']:g} errors "
            f"over {duration}{cause}"
        )
    return (
        f"state machine {name} failing executions: up to {e['peak_rate']:.0%} of executions "
        f"started, {e['failures']:g} failed over {duration}"
    )


def _findings(rule: _Rule, store: _Store, s: ErrorSettings) -> list[Finding]:
    failures, work = rule.failures, rule.work
    holds = (failures >= s.errors_min) & (failures >= s.rate_min * work)
    found: dict[int, list[Run]] = {}
    for index in np.flatnonzero(holds.any(axis=1)).tolist():
        index_runs = runs(holds[index], min_periods=s.min_periods, max_gap=s.max_gap)
        if index_runs:
            found[index] = index_runs
    if not found:
        return []
    dependencies = _dependency_failures(store, rule, s) if rule.kind == "function-errors" else {}
    out: list[Finding] = []
    for row, row_runs in found.items():
        account = str(rule.keys.at[row, "account"])
        region = str(rule.keys.at[row, "region"])
        resource = str(rule.keys.at[row, "resource"])
        for run in row_runs:
            span = slice(run.first, run.last + 1)
            fails, done = failures[row, span], work[row, span]
            # Failures are counted where they end: never rate them against less than themselves.
            peak = _peak_ratio(fails, np.maximum(done, fails), s.min_periods)
            start, end, detected = _times(rule.grid, run)
            evidence: dict[str, Any] = {
                "peak_rate": round(min(peak, 1.0), 4),
                "errors" if rule.kind == "function-errors" else "failures": _number(
                    float(fails.sum())
                ),
                "peak_per_period": _number(float(fails.max())),
                "holding_periods": int(holds[row, span].sum()),
                "period_s": rule.grid.period_s,
                "thresholds": {
                    "errors_min": _number(s.errors_min),
                    "rate_min": _number(s.rate_min),
                    "min_periods": s.min_periods,
                },
            }
            for name, values in rule.extra.items():
                evidence[name] = _number(float(values[row, span].sum()))
            downstream = None
            deps = dependencies.get((account, region, resource))
            if deps is not None:
                totals = deps[1][:, span].sum(axis=1)
                best = int(np.argmax(totals))
                if totals[best] >= s.errors_min:
                    downstream = deps[0][best]
                    evidence["failing_dependency"] = downstream
                    evidence["dependency_failures"] = {
                        dep: _number(float(total))
                        for dep, total in sorted(zip(deps[0], totals, strict=True))
                        if total > 0
                    }
            level = _level(min(peak, 1.0), s.severity_rates)
            duration = _minutes((run.last - run.first + 1) * rule.grid.period_s)
            out.append(
                Finding(
                    kind=rule.kind,
                    account=account,
                    region=region,
                    resource=resource,
                    start=start,
                    end=end,
                    severity=SEVERITIES[level],
                    summary=_describe(rule.kind, resource, evidence, duration),
                    downstream=downstream,
                    evidence=evidence,
                    detected_at=detected,
                )
            )
    return out


def detect_errors(
    metrics: pd.DataFrame, *, now: pd.Timestamp, settings: ErrorSettings = ErrorSettings()
) -> list[Finding]:
    """``function-errors`` and ``execution-failures`` findings in ``metrics`` up to ``now`` (see
    the module docstring). Sorted by start, then account, region and resource."""
    s = settings
    now = utc(now)
    found: list[Finding] = []
    store = _Store(metrics)
    for rule in (_lambda_rule(store, now, s), _states_rule(store, now, s)):
        if rule is not None:
            found.extend(_findings(rule, store, s))
    return sorted(found, key=_sort_key)
