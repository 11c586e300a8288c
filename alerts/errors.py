"""Error rates: Lambda functions failing (``function-errors``) and Step Functions executions failing
(``execution-failures``), above a count and a rate, and improbable for the resource's own baseline.

Rules, per period (60 s by default) on a regular UTC grid, missing periods counted as 0 (AWS
count metrics publish nothing in idle minutes); comparisons are inclusive. A period *holds* when:

``function-errors`` on ``lambda:<function>`` (AWS/Lambda, ``FunctionName`` series, Sum)
    ``Errors >= errors_min`` and ``Errors >= rate_min x Invocations``.
``execution-failures`` on ``states:<state machine name>`` (AWS/States, ``StateMachineArn``)
    ``failed >= errors_min`` and ``failed >= rate_min x ExecutionsStarted``, where ``failed`` is
    ``ExecutionsFailed`` plus ``ExecutionsTimedOut`` (``count_timed_out``; aborted executions are
    someone's decision, not a failure).

Both kinds then judge their failures against the resource's own *baseline* error rate: the
failures over the *exposure* (invocations or started executions, never taken below the failures
themselves: failures are counted where they end) summed over the ``baseline_window_s`` that ends
``baseline_lag_s`` before the period, plus a prior worth ``prior_invocations`` at ``prior_rate``
(so a resource with no failures in its history is judged against ``1 / (exposure +
prior_invocations)`` of a failure per unit, never zero). The *surprise* of some periods is the
Poisson tail ``P(X >= failures)`` for ``X ~ Poisson(sum of baseline x exposure)`` over them
(:func:`poisson_tail`, a closed-form upper bound, exact to a few per cent where it is small).

A run of holding periods (``max_gap`` non-holding periods inside it bridged) becomes a finding
at the first period ``d``, from its first holding period to ``max_gap`` periods after its latest
holding one, where at least ``min_periods`` periods held and either

* the failures of the last one, two or up to ``surprise_periods`` periods up to ``d`` (inside
  the run) have a surprise of at most ``surprise_p`` (a sudden, improbable burst), or
* at least two periods held and the failures of the whole run so far have a surprise of at most
  ``sustained_p`` (sustained, and still unusual for this resource).

It starts at the run's first holding period, is detected at the end of ``d``, ends after the
later of its last holding period and ``d`` (None while that is the last complete period before
``now``). Everything judged at ``d`` is data up to ``d`` (the baseline only data before it): a
finding at time t uses only data up to t, and appending later data never moves a past finding's
``start`` or ``detected_at``. A run never confirmed is no finding.

Cold start: with no history (a new function, or the first hours of the window ``alerts detect``
reads) the baseline is ``prior_rate``. One minute of 3 errors in 40 invocations is then a
surprise of about 1e-3 and no finding; 12 in 40 (30 %) is about 1e-17 and a finding on that
minute; two holding minutes at 5 % of 60 (6 in 120, about 4e-5) confirm as sustained. As the
resource's own history accumulates it outweighs the prior.

Defaults and why: ``errors_min=3`` a minute (one or two errors a minute are the background of a
busy function: cold-start timeouts, a bad request), ``rate_min=0.05`` (5 % of invocations: a
rate a healthy function does not sustain, while the count minimum keeps a low-traffic function's
single failure from being "100 %"), ``min_periods=2`` (two minutes: past a blip, and two holding
minutes in a row are detected two periods after the start), ``max_gap=3`` (failures come in
waves: asynchronous retries after about 1 and 2 minutes, SQS redeliveries after the visibility
timeout, idle minutes of a low-traffic function; up to three clean periods between holding ones
do not end an incident). ``baseline_window_s`` = 6 h gives a low-traffic function (5
invocations a minute: 1,800) a usable rate while following its day, and a ratio of sums weighs
minutes by their traffic; an incident inside the window raises the baseline for that long, but
errors of tens of percent still stand out against it. ``baseline_lag_s`` = 15 min keeps a run's
own first failures (minutes below ``errors_min`` just before it) out of its baseline.
``prior_rate=0.005`` is a healthy function's order of magnitude, and ``prior_invocations=200``
lets a few hours of a function's own traffic outweigh it. ``surprise_p=1e-6``: Poisson noise
passes it in at most one window judged in a million (and only windows inside runs of holding
periods are judged), while incidents of tens of percent are far below it (the sandbox's
labelled incidents confirm at 2e-7 down to 1e-60); a minute as likely as 3 errors in 40
invocations on a 0.2 % baseline (8e-5) is noise in a large account, and 23 of the 26
``function-errors`` findings of ``benchmarks/detect_at_scale.py`` (140 functions, a week) were
such minutes. ``surprise_periods=3``: an incident's first minute can be unremarkable on its own
(3 errors in 31 invocations on a 0.2 % baseline, 4e-5, in the sandbox's payment outage) and
confirmed by the next one (5 in 59, 2e-7) without waiting for a second holding minute.
``sustained_p=1e-3``: two holding periods remain enough for any resource near its usual rate
(the rule's ``min_periods=2`` default), but a resource that fails 10 % of the time all day is
not reported again each time its errors cross 5 %. ``surprise_p=1`` turns the baseline off
(every holding period confirms, as before it).

Severity follows the peak error rate over ``min_periods`` consecutive periods of the run (ratio of
sums, so one odd low-volume minute cannot set it): below 10 % "low", 10-25 % "medium", 25-50 %
"high", 50 % and more "critical" (most work is failing). ``evidence`` holds the
``baseline_rate`` and ``surprise_p`` (the probability that confirmed the run) at ``d``.

``function-errors`` names a ``downstream`` when the application's per-dependency metrics
(:class:`alerts.retry_storms.AppMetrics`) show the function's calls failing during the run: the
dependency with the most ``DownstreamFailures``, if at least ``errors_min`` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from alerts.findings import SEVERITIES, Finding, utc
from alerts.grids import Grid, MetricStore, expand_spans, matrices, resource_matrices
from alerts.retry_storms import AppMetrics, call_edges
from alerts.spans import Run, duration, finding_order, level, number, peak_ratio, runs

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class ErrorSettings:
    """Thresholds of :func:`detect_errors` (see the module docstring for the defaults' reasons).

    ``errors_min`` and ``rate_min`` make a period hold; ``min_periods`` holding periods, with up
    to ``max_gap`` others between them, make a run. ``baseline_window_s`` is how much of a
    resource's past its baseline error rate sums, ending ``baseline_lag_s`` before the period
    judged. ``prior_rate`` is the baseline of a resource with no history, and
    ``prior_invocations`` how many invocations of its own history that prior is worth.
    ``surprise_p`` is the largest Poisson tail probability of the failures in the last one to
    ``surprise_periods`` periods that confirms a run on its own; ``sustained_p`` the largest
    for the failures of a whole run of two or more holding periods. ``surprise_p=1`` turns
    the baseline off.
    """

    period_s: int = 60
    errors_min: float = 3.0
    rate_min: float = 0.05
    min_periods: int = 2
    max_gap: int = 3
    count_timed_out: bool = True
    severity_rates: tuple[float, float, float] = (0.10, 0.25, 0.50)
    app: AppMetrics = field(default_factory=AppMetrics)
    baseline_window_s: int = 21_600
    baseline_lag_s: int = 900
    prior_rate: float = 0.005
    prior_invocations: float = 200.0
    surprise_p: float = 1e-6
    surprise_periods: int = 3
    sustained_p: float = 1e-3

    def __post_init__(self) -> None:
        if self.period_s <= 0:
            raise ValueError("period_s must be positive")
        if self.min_periods < 1:
            raise ValueError("min_periods must be at least 1")
        if self.max_gap < 0:
            raise ValueError("max_gap must not be negative")
        if list(self.severity_rates) != sorted(self.severity_rates):
            raise ValueError("severity_rates must be ascending")
        if self.baseline_window_s <= 0 or self.baseline_lag_s < 0:
            raise ValueError("baseline_window_s must be positive and baseline_lag_s not negative")
        if not (0.0 < self.prior_rate <= 1.0 and self.prior_invocations > 0):
            raise ValueError("prior_rate must be in (0, 1] and prior_invocations positive")
        if not (0.0 < self.surprise_p <= 1.0 and 0.0 < self.sustained_p <= 1.0):
            raise ValueError("surprise_p and sustained_p must be in (0, 1]")
        if self.surprise_periods < 1:
            raise ValueError("surprise_periods must be at least 1")


@dataclass(slots=True)
class _Rule:
    kind: str
    grid: Grid
    keys: pd.DataFrame  # account, region, resource
    failures: np.ndarray
    work: np.ndarray
    extra: dict[str, np.ndarray]


def _lambda_rule(store: MetricStore, now: pd.Timestamp, s: ErrorSettings) -> _Rule | None:
    wanted = ("Invocations", "Errors", "Throttles")
    found = resource_matrices(
        store, "AWS/Lambda", wanted, "FunctionName", "lambda", now=now, period_s=s.period_s
    )
    if found is None:
        return None
    grid, keys, m = found
    return _Rule(
        "function-errors",
        grid,
        keys,
        m["Errors"],
        m["Invocations"],
        {"invocations": m["Invocations"], "throttles": m["Throttles"]},
    )


def _states_rule(store: MetricStore, now: pd.Timestamp, s: ErrorSettings) -> _Rule | None:
    wanted = ("ExecutionsStarted", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled")
    found = resource_matrices(
        store, "AWS/States", wanted, "StateMachineArn", "states", now=now, period_s=s.period_s
    )
    if found is None:
        return None
    grid, keys, m = found
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
    store: MetricStore, rule: _Rule, s: ErrorSettings
) -> dict[tuple[str, str, str], tuple[list[str], np.ndarray]]:
    """(account, region, ``lambda:<fn>``) -> (dependencies, their failures per period)."""
    app = s.app
    rows = call_edges(store.select(app.namespace, (app.failures,), app.stat, s.period_s), app)
    if rows.empty:
        return {}
    rows = rows.assign(resource="lambda:" + rows["caller"].astype(str)).rename(
        columns={"downstream": "dependency"}
    )
    keys, m = matrices(
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


# -- the baseline and how surprising a run is ----------------------------------------------------


def poisson_tail(count: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``P(X >= count)`` for ``X ~ Poisson(mean)``, elementwise, as the closed-form upper bound
    ``pmf(k) * (k + 1) / (k + 1 - mean)`` with ``k = ceil(count)`` (the tail's terms after
    ``pmf(k)`` shrink at least geometrically by ``mean / (k + 1)``). Where it matters, ``k`` well
    above ``mean``, it is within a few per cent of the exact tail and never below it; 1 where
    ``k <= 0`` or ``k + 1 <= mean`` (a tail that large is no surprise anyway)."""
    count = np.asarray(count, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    k = np.maximum(np.ceil(count - 1e-9), 0.0)
    out = np.ones(np.broadcast(k, mean).shape)
    k, mean = np.broadcast_to(k, out.shape), np.broadcast_to(mean, out.shape)
    out[(k >= 1) & (mean <= 0)] = 0.0
    use = (k >= 1) & (mean > 0) & (k + 1 > mean)
    if use.any():
        ku, mu = k[use], mean[use]
        values, where = np.unique(ku, return_inverse=True)
        log_factorial = np.array([math.lgamma(v + 1.0) for v in values])[where.reshape(-1)]
        log_p = ku * np.log(mu) - mu - log_factorial + np.log((ku + 1) / (ku + 1 - mu))
        out[use] = np.minimum(np.exp(log_p), 1.0)
    return out


def _prefix_sums(x: np.ndarray) -> np.ndarray:
    """Per row, sums of the periods before each column: column ``j`` holds ``x[:, :j].sum()``,
    so any span's sum is a difference of two columns."""
    return np.concatenate((np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)), axis=1)


def _baseline(sum_failures: np.ndarray, sum_exposure: np.ndarray, s: ErrorSettings) -> np.ndarray:
    """Each series' error rate per period, from the prefix sums of its failures and exposure:
    failures over exposure in the window of ``baseline_window_s`` ending ``baseline_lag_s``
    before the period's start, plus a prior worth ``prior_invocations`` at ``prior_rate``.
    Periods before the grid count as idle (0/0), so a series with no history is judged against
    the prior."""
    n = sum_failures.shape[1] - 1
    lag = math.ceil(s.baseline_lag_s / s.period_s)
    window = max(1, math.ceil(s.baseline_window_s / s.period_s))
    t = np.arange(n)
    hi = np.clip(t - lag, 0, n)  # exclusive
    lo = np.clip(t - lag - window, 0, n)
    seen_failures = sum_failures[:, hi] - sum_failures[:, lo]
    seen_exposure = sum_exposure[:, hi] - sum_exposure[:, lo]
    prior = s.prior_rate * s.prior_invocations
    rate: np.ndarray = (seen_failures + prior) / (seen_exposure + s.prior_invocations)
    return rate


@dataclass(frozen=True, slots=True)
class _Confirmed:
    """A run of holding periods that its errors confirmed, and how."""

    run: Run  # ``detected`` is the confirming period; ``last`` reaches at least to it
    p: float  # the tail probability that confirmed it
    baseline: float  # the baseline error rate at the confirming period


def _confirmed(
    holds: np.ndarray, failures: np.ndarray, exposure: np.ndarray, s: ErrorSettings
) -> dict[int, list[_Confirmed]]:
    """Per series (row), its runs of holding periods confirmed by their errors, each at the first
    period ``d`` (from the run's first holding period to ``max_gap`` periods past its latest one,
    as far as known at ``d``) where at least ``min_periods`` periods held and either

    * the errors of a window of the last ``surprise_periods`` periods up to ``d`` (within the run)
      have a Poisson tail probability of at most ``surprise_p`` given the baseline, or
    * at least two periods held and the errors of the run so far have one of at most
      ``sustained_p``.

    Everything used at ``d`` is data up to ``d``: the rule stays online."""
    n = holds.shape[1]
    active = np.flatnonzero(holds.any(axis=1))
    if len(active) == 0:
        return {}
    found: list[tuple[int, Run]] = [
        (int(row), run)
        for row in active.tolist()
        for run in runs(holds[row], min_periods=1, max_gap=s.max_gap)
    ]
    rows = np.array([row for row, _ in found], dtype=np.int64)
    first = np.array([run.first for _, run in found], dtype=np.int64)
    reach = np.array([min(run.last + s.max_gap, n - 1) for _, run in found], dtype=np.int64)
    # Cumulative sums of the active series (column j: periods before j).
    local = np.searchsorted(active, rows)
    sum_fails = _prefix_sums(failures[active])
    rate = _baseline(sum_fails, _prefix_sums(exposure[active]), s)
    sum_expected = _prefix_sums(rate * exposure[active])
    sum_holds = _prefix_sums(holds[active])
    # One cell per (run, period d) in the run's reach.
    run_of, d = expand_spans(first, reach - first + 1)
    r, a = local[run_of], first[run_of]
    held = sum_holds[r, d + 1] - sum_holds[r, a]
    whole = poisson_tail(
        sum_fails[r, d + 1] - sum_fails[r, a], sum_expected[r, d + 1] - sum_expected[r, a]
    )
    recent = np.ones(len(d))
    for periods in range(1, s.surprise_periods + 1):
        lo = d + 1 - periods
        inside = lo >= a
        lo = np.maximum(lo, a)
        p = poisson_tail(
            sum_fails[r, d + 1] - sum_fails[r, lo], sum_expected[r, d + 1] - sum_expected[r, lo]
        )
        recent = np.minimum(recent, np.where(inside, p, 1.0))
    sudden = recent <= s.surprise_p
    sustained = (held >= 2) & (whole <= s.sustained_p)
    ok = (held >= s.min_periods) & (sudden | sustained)
    hits = np.flatnonzero(ok)
    runs_hit, at = np.unique(run_of[hits], return_index=True)
    out: dict[int, list[_Confirmed]] = {}
    for index, cell in zip(runs_hit.tolist(), hits[at].tolist(), strict=True):
        row, run = found[index]
        detected = int(d[cell])
        last = max(run.last, detected)
        out.setdefault(row, []).append(
            _Confirmed(
                Run(run.first, last, detected, last == n - 1),
                float(recent[cell] if sudden[cell] else whole[cell]),
                float(rate[local[index], detected]),
            )
        )
    return out


def _findings(rule: _Rule, store: MetricStore, s: ErrorSettings) -> list[Finding]:
    failures, work = rule.failures, rule.work
    holds = (failures >= s.errors_min) & (failures >= s.rate_min * work)
    # Failures are counted where they end: never rate them against less than themselves.
    exposure = np.maximum(work, failures)
    found = _confirmed(holds, failures, exposure, s)
    if not found:
        return []
    dependencies = _dependency_failures(store, rule, s) if rule.kind == "function-errors" else {}
    out: list[Finding] = []
    for row, confirmed in found.items():
        account = str(rule.keys.at[row, "account"])
        region = str(rule.keys.at[row, "region"])
        resource = str(rule.keys.at[row, "resource"])
        for c in confirmed:
            run = c.run
            span = slice(run.first, run.last + 1)
            fails = failures[row, span]
            peak = peak_ratio(fails, exposure[row, span], s.min_periods)
            start, end, detected = rule.grid.times(run)
            evidence: dict[str, Any] = {
                "peak_rate": round(min(peak, 1.0), 4),
                "errors" if rule.kind == "function-errors" else "failures": number(
                    float(fails.sum())
                ),
                "peak_per_period": number(float(fails.max())),
                "holding_periods": int(holds[row, span].sum()),
                "period_s": rule.grid.period_s,
                "baseline_rate": float(f"{c.baseline:.3g}"),
                "surprise_p": float(f"{c.p:.3g}"),
                "thresholds": {
                    "errors_min": number(s.errors_min),
                    "rate_min": number(s.rate_min),
                    "min_periods": s.min_periods,
                    "surprise_p": s.surprise_p,
                    "sustained_p": s.sustained_p,
                },
            }
            for name, values in rule.extra.items():
                evidence[name] = number(float(values[row, span].sum()))
            downstream = None
            deps = dependencies.get((account, region, resource))
            if deps is not None:
                totals = deps[1][:, span].sum(axis=1)
                best = int(np.argmax(totals))
                if totals[best] >= s.errors_min:
                    downstream = deps[0][best]
                    evidence["failing_dependency"] = downstream
                    evidence["dependency_failures"] = {
                        dep: number(float(total))
                        for dep, total in sorted(zip(deps[0], totals, strict=True))
                        if total > 0
                    }
            rank = level(min(peak, 1.0), s.severity_rates)
            lasted = duration((run.last - run.first + 1) * rule.grid.period_s)
            out.append(
                Finding(
                    kind=rule.kind,
                    account=account,
                    region=region,
                    resource=resource,
                    start=start,
                    end=end,
                    severity=SEVERITIES[rank],
                    summary=_describe(rule.kind, resource, evidence, lasted),
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
    store = MetricStore(metrics)
    for rule in (_lambda_rule(store, now, s), _states_rule(store, now, s)):
        if rule is not None:
            found.extend(_findings(rule, store, s))
    return sorted(found, key=finding_order)
