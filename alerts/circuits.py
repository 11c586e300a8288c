"""Circuit-breaker rules: open, flapping, stale, half-open stuck, masking and unreadable breakers.

:func:`detect_circuits` reads three store tables and returns :class:`~alerts.findings.Finding`
objects on ``breaker:<id>`` (account and region from the rows). It is pure, deterministic and
online: every finding's ``start`` and ``detected_at`` come from data known by ``detected_at``,
so appending later data never moves them (its ``end``, severity and evidence may still grow).

**Where breaker state comes from.** Two sources are combined per breaker:

* the ``breakers`` table (authoritative): one row per observation of the item (the collector
  polls every 30 s live; a backfill may hold a single observation). An observation at
  ``observed_at`` with state S and ``last_transition`` L says the breaker has been in S since L;
  that span is credited back to L, but never before the previous observation or the end of the
  newest metric period already known (what was known stays as it was), and an item that stays
  CLOSED while its L moved past the previous observation has opened *and* closed between two
  polls (a "hidden" open, counted as one period open);
* the application metric (a documented convention, see :class:`CircuitSettings`):
  ``OrderPipeline/Resilience`` / ``CircuitBreakerState`` / ``Breaker=<id>``, statistic
  Maximum, 60 s, value 0 closed, 1 open, 2 half-open: the worst state during the minute, known
  at the end of the minute. It gives the per-minute history a single table read cannot.

Both land on one regular UTC grid (``period_s``, 60 s). A period's state is the worst state any
source saw in it (OPEN > HALF_OPEN > CLOSED); periods with no evidence carry the last known
state forward (a state holds until something changes it). UNKNOWN observations carry no state.

**Rules** (defaults in :class:`CircuitSettings`, and why):

``breaker-open``
    A run of not-CLOSED periods; runs less than ``merge_gap_s`` (600 s) apart are one finding,
    as in the ground truth's definition of an open incident (a breaker that re-trips minutes
    after closing is the same trouble). ``start`` = the first not-closed period, ``detected_at``
    = when the first evidence of it was known (end of the metric minute, or the observation),
    ``end`` = the end of the last not-closed period (None while still not closed; a breaker whose
    latest evidence is CLOSED is closed, even within the last period). Severity
    ``medium`` (the breaker is doing its job: the dependency is failing), raised to ``high``
    when *open longer than its cool-down*: a continuous OPEN (not HALF_OPEN) stretch longer than
    ``cool_down_s`` + ``overdue_slack_s`` — the breaker is not probing, so recovery will not be
    noticed; measured as an OPEN observation's age since its ``last_transition``, or as
    consecutive OPEN minutes of the metric — or when the whole episode lasts ``long_open_s``
    (900 s) or more (a sustained outage). ``cool_down_s`` defaults to 60 s (resilience4j's
    ``waitDurationInOpenState`` and pybreaker's ``reset_timeout``; ``cool_downs`` overrides it
    per breaker); ``overdue_slack_s`` (120 s) is two metric periods, because states are seen
    at 30–60 s resolution and many breakers move to HALF_OPEN lazily, on the first request
    after the cool-down. Evidence: ``open_for_s``, ``longest_open_s``, ``cool_down_s``, ``trips``.
``breaker-flapping``
    Trips (CLOSED → not-CLOSED) counted in a sliding ``flap_window_s`` (1 h) window; flapping
    once a window holds ``flap_min_trips`` (3, the ground truth's opening count). Only trips
    count: HALF_OPEN → OPEN is a failed probe within one outage, and counting every transition
    would call each single open/half-open/close cycle (three transitions) flapping. ``start`` =
    the first trip in the window that reached the threshold, ``detected_at`` = when the trip that
    reached it was seen; the finding extends while trips follow each other within the window and
    ends when the breaker closes after the last one. The first trip is caught at once by
    ``breaker-open``. Severity ``medium``, ``high`` at twice the threshold.
``breaker-half-open-stuck``
    HALF_OPEN continuously for more than ``half_open_max_s`` (600 s: a few probe requests
    should settle a half-open breaker within minutes; longer means probes are not arriving or
    not being evaluated). From the table when the breaker has rows there (an observation in
    HALF_OPEN whose ``last_transition`` is older than the limit; ``start`` = that transition),
    else from the metric (more than the limit of consecutive half-open minutes). The metric
    alone is ambiguous (a minute's Maximum of 2 may hide OPEN ↔ HALF_OPEN cycles), hence the
    table's precedence. Severity ``medium``.
``breaker-stale``
    The item is not refreshed: ``observed_at - updated_at`` exceeds
    ``max(stale_factor × interval + stale_grace_s, stale_min_s)``. The interval is configured
    per table or item (``refresh_intervals``) or learnt online as the median spacing of the
    item's distinct ``updated_at`` values seen so far (at least ``learn_min_refreshes`` = 3
    spacings; otherwise no staleness is judged — a single observation cannot tell a 1-minute
    heartbeat from an hourly one). Defaults 2 × interval + 20 s (140 s on a 1-minute heartbeat):
    a healthy item's age at a poll reaches one interval plus the writer's delay (up to two
    intervals when, as in the sandbox, the stamp names the start of the minute whose end writes
    it), and 140 s still catches a frozen 1-minute heartbeat on a 30 s poll within about
    2 minutes of the missed refresh. ``stale_min_s`` (60 s) absorbs clock skew between writer
    and collector on fast heartbeats. ``start`` = ``updated_at + interval`` (when the next
    refresh was due), ``detected_at`` = the observation that showed it, ``end`` = the next fresh
    ``updated_at``. Severity ``medium``, ``high`` after ``stale_high_s`` (1 h) without refresh.
    Items without ``updated_at`` (legacy writers) are the audit's business, not this rule's.
``breaker-masking``
    CLOSED (seen in the period itself, not carried forward) while the downstream fails:
    failures ⁄ calls ≥ ``masking_ratio`` (0.5, the usual failure-rate threshold) with at least
    ``masking_min_calls`` (10) calls in the period, for ``masking_min_periods`` (5) periods
    (gaps of ``masking_max_gap`` = 1 period bridged) — the breaker's threshold is hiding a
    failure (too few calls to trip it, or a threshold set too high). Five minutes, because a
    healthy breaker judging a sliding window of a few minutes needs two or three of them to
    trip on a failure that ramps up; a shorter rule would call every trip "masking" first.
    Downstream failures come from the application metrics ``DownstreamFailures`` ⁄
    ``DownstreamCalls`` (Sum, dimension ``Dependency=<downstream>``, summed over callers) and
    from X-Ray ``edges`` to the downstream ((errors + faults + throttles) ⁄ requests, a window
    spread evenly over its periods, known at the window's end); either source failing counts.
    The downstream of a breaker is its id (the world names breakers after the dependency they
    guard) unless ``downstreams`` maps it; ``edge_targets`` maps a downstream to its X-Ray node
    names. Severity ``high``.
``breaker-unknown``
    A run of consecutive UNKNOWN observations of an item (the collector could not read its
    state): ``start`` = the first, ``end`` = the next readable observation. Severity
    ``medium``; the summary quotes ``raw_state`` and ``problem`` as plain text.

Metric values outside ``state_values`` are ignored (no evidence). A breaker seen in several
tables is judged per table, each with the metric. ``detected_at`` is never after ``now``: a
sustained condition whose confirming period has not ended yet is not reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from alerts.findings import Finding
from alerts.grids import (
    dimension_values,
    epoch_seconds,
    expand_spans,
    first_per_period,
    has_columns,
    period_span,
    run_end,
    seconds_of,
    timestamp,
)
from alerts.spans import Run, latest_known, merge_gap_periods, runs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CircuitSettings", "detect_circuits"]

_CLOSED, _HALF, _OPEN = 1, 2, 3
_CODES: dict[str, int] = {"CLOSED": _CLOSED, "HALF_OPEN": _HALF, "OPEN": _OPEN}
_TEXT_MAX = 200  # characters of raw_state / problem quoted in a summary
_INF = math.inf


def _frozen(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class CircuitSettings:
    """Thresholds and conventions of the breaker rules (see the module docstring for why)."""

    period_s: int = 60
    # The breaker-state metric convention: value -> CLOSED | OPEN | HALF_OPEN.
    state_namespace: str = "OrderPipeline/Resilience"
    state_metric: str = "CircuitBreakerState"
    state_dimension: str = "Breaker"
    state_stat: str = "Maximum"
    state_values: Mapping[float, str] = field(
        default_factory=lambda: _frozen({0.0: "CLOSED", 1.0: "OPEN", 2.0: "HALF_OPEN"}),
        hash=False,
    )
    # Downstream of each breaker (default: the breaker id) and its failure signals.
    downstreams: Mapping[str, str] = field(default_factory=lambda: _frozen({}), hash=False)
    edge_targets: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: _frozen({}), hash=False
    )
    failure_namespace: str = "OrderPipeline/Resilience"
    failures_metric: str = "DownstreamFailures"
    calls_metric: str = "DownstreamCalls"
    dependency_dimension: str = "Dependency"
    failure_stat: str = "Sum"
    # breaker-open
    cool_down_s: float = 60.0
    cool_downs: Mapping[str, float] = field(default_factory=lambda: _frozen({}), hash=False)
    overdue_slack_s: float = 120.0
    long_open_s: float = 900.0
    merge_gap_s: float = 600.0
    max_backfill_s: float = 30 * 86_400.0  # how far back one observation may credit its state
    # breaker-flapping
    flap_window_s: float = 3_600.0
    flap_min_trips: int = 3
    # breaker-half-open-stuck
    half_open_max_s: float = 600.0
    # breaker-stale; refresh_intervals keys: "<table>/<breaker>", "<table>" or "<breaker>"
    refresh_intervals: Mapping[str, float] = field(default_factory=lambda: _frozen({}), hash=False)
    stale_factor: float = 2.0
    stale_grace_s: float = 20.0
    stale_min_s: float = 60.0
    stale_high_s: float = 3_600.0
    learn_min_refreshes: int = 3
    # breaker-masking
    masking_ratio: float = 0.5
    masking_min_calls: float = 10.0
    masking_min_periods: int = 5
    masking_max_gap: int = 1

    def __post_init__(self) -> None:
        for name in ("state_values", "downstreams", "edge_targets", "cool_downs"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "refresh_intervals", _frozen(self.refresh_intervals))
        object.__setattr__(
            self, "edge_targets", _frozen({k: tuple(v) for k, v in self.edge_targets.items()})
        )
        if self.period_s <= 0:
            raise ValueError(f"period_s must be positive, got {self.period_s}")
        bad = {v for v in self.state_values.values() if v not in _CODES}
        if bad:
            raise ValueError(f"state_values map to {sorted(bad)}; expected {sorted(_CODES)}")
        for name in ("flap_min_trips", "masking_min_periods", "learn_min_refreshes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.masking_max_gap < 0:
            raise ValueError(f"masking_max_gap must be >= 0, got {self.masking_max_gap}")

    def downstream(self, breaker: str) -> str:
        return self.downstreams.get(breaker, breaker)

    def cool_down(self, breaker: str) -> float:
        return float(self.cool_downs.get(breaker, self.cool_down_s))

    def refresh_interval(self, table: str, breaker: str) -> float | None:
        for key in (f"{table}/{breaker}", table, breaker):
            if key in self.refresh_intervals:
                return float(self.refresh_intervals[key])
        return None


# --- small helpers ------------------------------------------------------------------------------


def _quote(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    text = " ".join(str(value).split())  # plain text on one line
    if len(text) > _TEXT_MAX:
        text = text[: _TEXT_MAX - 1] + "…"
    return f'"{text}"'


def _not_closed_end(grid: _Grid, run: Run, now_s: float) -> pd.Timestamp | None:
    """The end of a not-closed run: None while it reaches the last period, unless the latest
    evidence says the breaker is CLOSED again (it closed within that period, before now)."""
    if run.ongoing and not grid.closed_now:
        return None
    stop = max(min(grid.start(run.last + 1), now_s), grid.start(run.first))
    return timestamp(stop)


def _confirmed(grid: _Grid, run: Run, known: np.ndarray, mask: np.ndarray) -> float:
    """When a sustained run was confirmed: the end of its ``detected`` period, and no earlier
    than the data of every true period up to it was known."""
    return max(grid.start(run.detected + 1), latest_known(run, mask, known))


# --- inputs -------------------------------------------------------------------------------------

_OBS_COLUMNS = ("account", "region", "table", "breaker", "observed_at", "state")


def _observations(breakers: pd.DataFrame, now_s: float) -> pd.DataFrame:
    """Breaker observations up to ``now`` with times as epoch seconds, in observation order."""
    if not has_columns(breakers, _OBS_COLUMNS):
        return pd.DataFrame(
            columns=[*_OBS_COLUMNS[:4], "o", "state", "L", "u", "raw_state", "problem"]
        )

    def column(name: str) -> pd.Series:
        if name in breakers.columns:
            return breakers[name].reset_index(drop=True)
        return pd.Series([None] * len(breakers), dtype=object)

    frame = pd.DataFrame(
        {
            "account": column("account").astype(str),
            "region": column("region").astype(str),
            "table": column("table").astype(str),
            "breaker": column("breaker").astype(str),
            "o": epoch_seconds(column("observed_at")),
            "state": column("state").astype(object),
            "L": epoch_seconds(column("last_transition")),
            "u": epoch_seconds(column("updated_at")),
            "raw_state": column("raw_state").astype(object),
            "problem": column("problem").astype(object),
        }
    )
    frame = frame[np.isfinite(frame["o"]) & (frame["o"] <= now_s)]
    return frame.sort_values(["account", "region", "table", "breaker", "o"], kind="mergesort")


def _metric_states(metrics: pd.DataFrame, settings: CircuitSettings, now_s: float) -> pd.DataFrame:
    """Per (account, region, breaker, period start): the state code from the state metric."""
    cols = ["account", "region", "breaker", "t", "code"]
    need = ("account", "region", "namespace", "metric", "dimensions", "stat", "ts", "value")
    if not has_columns(metrics, need):
        return pd.DataFrame(columns=cols)
    sel = (
        (metrics["namespace"] == settings.state_namespace)
        & (metrics["metric"] == settings.state_metric)
        & (metrics["stat"] == settings.state_stat)
    )
    if "period_s" in metrics.columns:
        sel &= metrics["period_s"] == settings.period_s
    rows = metrics[sel]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(
        {
            "account": rows["account"].astype(str).to_numpy(),
            "region": rows["region"].astype(str).to_numpy(),
            "breaker": dimension_values(rows["dimensions"], settings.state_dimension).to_numpy(),
            "t": epoch_seconds(rows["ts"]),
            "value": rows["value"].astype(np.float64).to_numpy(),
        }
    )
    lookup = {float(k): _CODES[v] for k, v in settings.state_values.items()}
    frame["code"] = frame["value"].map(lookup)
    frame = frame.dropna(subset=["breaker", "t", "code"])
    frame = frame[frame["t"] < now_s]
    frame = frame.groupby(["account", "region", "breaker", "t"], as_index=False)["code"].max()
    frame["code"] = frame["code"].astype(np.int8)
    return frame[cols]


@dataclass(frozen=True)
class _Failures:
    """Per period start (epoch s): calls, failures and when they were known, per source."""

    t: np.ndarray
    calls: np.ndarray
    failures: np.ndarray
    known: np.ndarray
    source: str


def _failure_rows(metrics: pd.DataFrame, settings: CircuitSettings, now_s: float) -> pd.DataFrame:
    """The downstream calls/failures metric rows: account, region, dep, metric, t, value."""
    cols = ["account", "region", "dep", "metric", "t", "value"]
    need = ("account", "region", "namespace", "metric", "dimensions", "stat", "ts", "value")
    if not has_columns(metrics, need):
        return pd.DataFrame(columns=cols)
    sel = (
        (metrics["namespace"] == settings.failure_namespace)
        & metrics["metric"].isin([settings.failures_metric, settings.calls_metric])
        & (metrics["stat"] == settings.failure_stat)
    )
    if "period_s" in metrics.columns:
        sel &= metrics["period_s"] == settings.period_s
    rows = metrics[sel]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(
        {
            "account": rows["account"].astype(str).to_numpy(),
            "region": rows["region"].astype(str).to_numpy(),
            "dep": dimension_values(rows["dimensions"], settings.dependency_dimension).to_numpy(),
            "metric": rows["metric"].to_numpy(),
            "t": epoch_seconds(rows["ts"]),
            "value": rows["value"].astype(np.float64).to_numpy(),
        }
    ).dropna(subset=["dep", "t"])
    return frame[frame["t"] < now_s]


def _downstream_failures(
    metrics: pd.DataFrame, edges: pd.DataFrame, settings: CircuitSettings, now_s: float
) -> dict[tuple[str, str, str], list[_Failures]]:
    out: dict[tuple[str, str, str], list[_Failures]] = {}
    period = float(settings.period_s)
    rows = _failure_rows(metrics, settings, now_s)
    if not rows.empty:
        wide = rows.pivot_table(
            index=["account", "region", "dep", "t"], columns="metric", values="value", aggfunc="sum"
        )
        for (account, region, dep), part in wide.groupby(level=[0, 1, 2], sort=True):
            t = part.index.get_level_values("t").to_numpy(dtype=np.float64)
            calls = _column(part, settings.calls_metric)
            fails = _column(part, settings.failures_metric)
            out.setdefault((str(account), str(region), str(dep)), []).append(
                _Failures(t, calls, fails, np.minimum(t + period, now_s), "metrics")
            )
    need_e = ("account", "region", "target", "window_start", "requests")
    if has_columns(edges, need_e):
        targets: dict[str, list[str]] = {}
        for downstream, names in settings.edge_targets.items():
            for name in names:
                targets.setdefault(name, []).append(downstream)
        frame = pd.DataFrame(
            {
                "account": edges["account"].astype(str).to_numpy(),
                "region": edges["region"].astype(str).to_numpy(),
                "target": edges["target"].astype(str).to_numpy(),
                "ws": epoch_seconds(edges["window_start"]),
                "we": epoch_seconds(edges["window_end"])
                if "window_end" in edges.columns
                else np.full(len(edges), np.nan),
                "requests": pd.to_numeric(edges["requests"]).fillna(0).to_numpy(np.float64),
                "failed": sum(
                    (
                        pd.to_numeric(edges[c]).fillna(0).to_numpy(np.float64)
                        for c in ("errors", "faults", "throttles")
                        if c in edges.columns
                    ),
                    np.zeros(len(edges)),
                ),
            }
        )
        frame["we"] = frame["we"].where(np.isfinite(frame["we"]), frame["ws"] + period)
        frame = frame[
            np.isfinite(frame["ws"]) & (frame["we"] <= now_s) & (frame["we"] > frame["ws"])
        ]
        frame["dep"] = frame["target"].map(lambda t: targets.get(t, [t]))
        frame = frame.explode("dep")
        for (account, region, dep), part in frame.groupby(["account", "region", "dep"], sort=True):
            spread = _spread(part, period)
            if spread is not None:
                out.setdefault((str(account), str(region), str(dep)), []).append(spread)
    return out


def _column(part: pd.DataFrame, name: str) -> np.ndarray:
    if name in part.columns:
        return np.asarray(part[name].fillna(0.0).to_numpy(np.float64))
    return np.zeros(len(part), dtype=np.float64)


def _spread(part: pd.DataFrame, period: float) -> _Failures | None:
    """X-Ray windows spread evenly over the periods they cover, known at the window's end."""
    ws, we = part["ws"].to_numpy(np.float64), part["we"].to_numpy(np.float64)
    k0 = np.floor(ws / period).astype(np.int64)
    k1 = np.ceil(we / period).astype(np.int64)
    lens = np.maximum(k1 - k0, 1)
    rows, k = expand_spans(k0, lens)
    lo, hi = np.maximum(k * period, ws[rows]), np.minimum((k + 1) * period, we[rows])
    share = np.clip(hi - lo, 0.0, None) / (we - ws)[rows]
    frame = pd.DataFrame(
        {
            "t": k * period,
            "calls": part["requests"].to_numpy(np.float64)[rows] * share,
            "failures": part["failed"].to_numpy(np.float64)[rows] * share,
            "known": we[rows],
        }
    )
    frame = frame.groupby("t").agg(
        calls=("calls", "sum"), failures=("failures", "sum"), known=("known", "max")
    )
    if frame.empty:
        return None
    return _Failures(
        frame.index.to_numpy(np.float64),
        frame["calls"].to_numpy(np.float64),
        frame["failures"].to_numpy(np.float64),
        frame["known"].to_numpy(np.float64),
        "edges",
    )


# --- the state grid -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    t0: float
    period: float
    code: np.ndarray  # int8 per period: 0 nothing known yet, 1 closed, 2 half-open, 3 open
    evidence: np.ndarray  # int8: the worst state seen in the period itself (0: none)
    metric_open: np.ndarray  # bool: the state metric says OPEN for the period
    known: np.ndarray  # when the period's not-closed evidence was first known (inf: none)
    known_closed: np.ndarray  # when its closed evidence was first known (inf: none)
    open_age: np.ndarray  # longest o - last_transition of an OPEN observation in the period
    closed_now: bool  # the latest evidence of all says CLOSED

    @property
    def n(self) -> int:
        return len(self.code)

    def start(self, k: int) -> float:
        return self.t0 + k * self.period


def _state_grid(
    obs: pd.DataFrame, states: pd.DataFrame, settings: CircuitSettings, now_s: float
) -> _Grid | None:
    period = float(settings.period_s)
    valid = obs[obs["state"].isin(list(_CODES))] if len(obs) else obs
    o = valid["o"].to_numpy(np.float64) if len(valid) else np.zeros(0)
    code = valid["state"].map(_CODES).to_numpy(np.int8) if len(valid) else np.zeros(0, np.int8)
    last = valid["L"].to_numpy(np.float64) if len(valid) else np.zeros(0)
    mt = states["t"].to_numpy(np.float64) if len(states) else np.zeros(0)
    mcode = states["code"].to_numpy(np.int8) if len(states) else np.zeros(0, np.int8)
    if len(o) == 0 and len(mt) == 0:
        return None

    # Table observations as spans [lo, o]: back to last_transition, but never before what was
    # already known (the previous observation, the newest metric period ended by then).
    prev_o = np.r_[-_INF, o[:-1]]
    ends = np.sort(mt + period)
    at = np.searchsorted(ends, o, side="right") - 1
    known_end = ends[np.maximum(at, 0)] if len(ends) else np.full(len(o), -_INF)
    bound = np.maximum(prev_o, np.where(at >= 0, known_end, -_INF))
    has_last = np.isfinite(last)
    lo = np.where(has_last, np.maximum(last, bound), np.where(np.isfinite(bound), bound, o))
    lo = np.where((code == _CLOSED) & ~np.isfinite(bound), o, lo)  # nothing earlier to close
    lo = np.maximum(np.minimum(lo, o), o - settings.max_backfill_s)
    # Hidden opens: CLOSED, CLOSED again, but the last transition moved past the previous poll.
    prev_code = np.r_[0, code[:-1]]
    prev_last = np.r_[np.nan, last[:-1]]
    hidden = (
        (code == _CLOSED)
        & (prev_code == _CLOSED)
        & has_last
        & (last > prev_o)
        & (last > np.where(np.isfinite(prev_last), prev_last, -_INF))
    )
    blip = np.maximum(prev_o[hidden], np.minimum(last[hidden], o[hidden]) - 0.001)

    starts = np.r_[lo, blip, mt]
    stops = np.r_[o, blip, mt]
    codes = np.r_[code, np.full(len(blip), _OPEN, np.int8), mcode].astype(np.int8)
    knowns = np.r_[o, o[hidden], np.minimum(mt + period, now_s)]
    t0, n = period_span(float(starts.min()), float(stops.max()), now_s, period)
    k_lo = np.floor((starts - t0) / period).astype(np.int64)
    k_hi = np.floor((stops - t0) / period).astype(np.int64)

    item, k = expand_spans(k_lo, k_hi - k_lo + 1)
    evidence = np.zeros(n, np.int8)
    np.maximum.at(evidence, k, codes[item])
    not_closed = codes[item] >= _HALF
    known = first_per_period(k[not_closed], knowns[item][not_closed], n)
    known_closed = first_per_period(k[~not_closed], knowns[item][~not_closed], n)

    # Carry the last known state forward over periods without evidence.
    carried = np.maximum.accumulate(np.where(evidence > 0, np.arange(n), 0))
    state = np.where(evidence[carried] > 0, evidence[carried], 0).astype(np.int8)
    ends_of = t0 + (np.arange(n) + 1) * period
    known = np.where((evidence == 0) & (state >= _HALF), ends_of, known)
    metric_open = np.zeros(n, bool)
    mk = np.floor((mt - t0) / period).astype(np.int64)
    metric_open[mk[mcode == _OPEN]] = True

    open_age = np.zeros(n)
    is_open = (code == _OPEN) & has_last
    if is_open.any():
        ko = np.floor((o[is_open] - t0) / period).astype(np.int64)
        np.maximum.at(open_age, ko, o[is_open] - last[is_open])
    asof = np.r_[o, blip, mt + period]
    latest = asof == asof.max()
    closed_now = bool(codes[latest].max() == _CLOSED)
    return _Grid(
        t0, period, state, evidence, metric_open, known, known_closed, open_age, closed_now
    )


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    account: str
    region: str
    breaker: str
    table: str | None
    downstream: str
    now_s: float
    settings: CircuitSettings

    @property
    def resource(self) -> str:
        return f"breaker:{self.breaker}"

    def finding(
        self,
        kind: str,
        start: float,
        end: pd.Timestamp | None,
        severity: str,
        summary: str,
        detected: float,
        evidence: dict[str, Any],
        *,
        downstream: bool = True,
    ) -> Finding:
        if self.table is not None:
            evidence = {"table": self.table, **evidence}
        return Finding(
            kind=kind,
            account=self.account,
            region=self.region,
            resource=self.resource,
            start=timestamp(start),
            end=end,
            severity=severity,
            summary=summary,
            downstream=self.downstream if downstream else None,
            evidence=evidence,
            detected_at=timestamp(max(detected, start)),
        )


def _open_and_flapping(ctx: _Context, grid: _Grid) -> list[Finding]:
    s = ctx.settings
    not_closed = grid.code >= _HALF
    raw = runs(not_closed)
    if not raw:
        return []
    raw_known = np.array([float(np.min(grid.known[r.first : r.last + 1])) for r in raw])
    raw_first = np.array([r.first for r in raw])
    gap = merge_gap_periods(s.merge_gap_s, grid.period)
    open_runs = runs(grid.metric_open)
    cool_down = ctx.settings.cool_down(ctx.breaker)
    out: list[Finding] = []
    for run in runs(not_closed, max_gap=gap):
        members = (raw_first >= run.first) & (raw_first <= run.last)
        start = grid.start(run.first)
        end = _not_closed_end(grid, run, ctx.now_s)
        open_for = (ctx.now_s if end is None else seconds_of(end)) - start
        longest = max(
            (
                (min(r.last, run.last) - max(r.first, run.first) + 1) * grid.period
                for r in open_runs
                if r.last >= run.first and r.first <= run.last
            ),
            default=0.0,
        )
        longest = max(longest, float(grid.open_age[run.first : run.last + 1].max()))
        overdue = longest > cool_down + s.overdue_slack_s
        severity = "high" if overdue or open_for >= s.long_open_s else "medium"
        trips = int(members.sum())
        why = []
        if overdue:
            why.append(f"open {longest:.0f} s at a stretch, cool-down {cool_down:.0f} s")
        if open_for >= s.long_open_s:
            why.append(f"not closed for {open_for / 60:.0f} min")
        summary = (
            f"circuit breaker {ctx.breaker} left CLOSED"
            + (f" {trips} times" if trips > 1 else "")
            + f"; {ctx.downstream} calls are failing fast"
            + (f" ({'; '.join(why)})" if why else "")
        )
        out.append(
            ctx.finding(
                "breaker-open",
                start,
                end,
                severity,
                summary,
                float(raw_known[members].min()),
                {
                    "open_for_s": round(open_for, 3),
                    "longest_open_s": round(longest, 3),
                    "cool_down_s": cool_down,
                    "overdue": bool(overdue),
                    "trips": trips,
                },
            )
        )

    # Flapping: trips (closed -> not closed) within a sliding window.
    times = grid.t0 + raw_first * grid.period
    counts = np.arange(len(times)) - np.searchsorted(times, times - s.flap_window_s, "right") + 1
    chain = np.r_[0, np.cumsum(np.diff(times) > s.flap_window_s)]
    for c in np.unique(chain):
        idx = np.flatnonzero(chain == c)
        hits = idx[counts[idx] >= s.flap_min_trips]
        if len(hits) == 0:
            continue
        hit = int(hits[0])
        first = int(np.searchsorted(times, times[hit] - s.flap_window_s, "right"))
        last_run = raw[int(idx[-1])]
        peak = int(counts[idx].max())
        trips = int(idx[-1] - first + 1)
        out.append(
            ctx.finding(
                "breaker-flapping",
                float(times[first]),
                _not_closed_end(grid, last_run, ctx.now_s),
                "high" if peak >= 2 * s.flap_min_trips else "medium",
                f"circuit breaker {ctx.breaker} is flapping: tripped {peak} times within "
                f"{s.flap_window_s / 60:.0f} min ({ctx.downstream} failing intermittently)",
                float(raw_known[hit]),
                {
                    "trips": trips,
                    "max_trips_in_window": peak,
                    "window_s": s.flap_window_s,
                    "threshold": s.flap_min_trips,
                },
            )
        )
    return out


def _half_open_from_table(ctx: _Context, obs: pd.DataFrame) -> list[Finding]:
    s = ctx.settings
    valid = obs[obs["state"].isin(list(_CODES))]
    if valid.empty:
        return []
    o = valid["o"].to_numpy(np.float64)
    half = (valid["state"] == "HALF_OPEN").to_numpy()
    last = valid["L"].to_numpy(np.float64)
    # Where each consecutive half-open stretch began: its last_transition, else its first poll.
    new = half & ~np.r_[False, half[:-1]]
    stretch = np.cumsum(new)
    first_o = pd.Series(np.where(new, o, np.nan)).ffill().to_numpy()
    since = np.where(np.isfinite(last), np.minimum(last, o), first_o)
    # A changed last_transition inside a stretch starts a new one (HALF_OPEN -> OPEN -> HALF_OPEN
    # between two polls).
    moved = half & np.r_[False, half[:-1]] & np.r_[False, since[1:] != since[:-1]]
    stretch = stretch + np.cumsum(moved)
    stuck = half & (o - since > s.half_open_max_s)
    out: list[Finding] = []
    for sid in np.unique(stretch[stuck]):
        rows = np.flatnonzero((stretch == sid) & half)
        hit = int(rows[stuck[rows]][0])
        after = int(rows[-1]) + 1
        if after < len(o):
            nxt = (
                last[after] if np.isfinite(last[after]) and last[after] > o[after - 1] else o[after]
            )
            end: pd.Timestamp | None = timestamp(max(min(nxt, o[after]), since[hit]))
        else:
            end = None
        dur = (o[after] if after < len(o) else ctx.now_s) - since[hit]
        out.append(
            ctx.finding(
                "breaker-half-open-stuck",
                float(since[hit]),
                end,
                "medium",
                f"circuit breaker {ctx.breaker} has been HALF_OPEN for {dur / 60:.0f} min "
                f"(limit {s.half_open_max_s / 60:.0f} min): probes to {ctx.downstream} are not "
                "settling it",
                float(o[hit]),
                {"half_open_for_s": round(dur, 3), "limit_s": s.half_open_max_s},
            )
        )
    return out


def _half_open_from_grid(ctx: _Context, grid: _Grid) -> list[Finding]:
    s = ctx.settings
    mask = grid.code == _HALF
    need = math.floor(s.half_open_max_s / grid.period) + 1
    out: list[Finding] = []
    for run in runs(mask, min_periods=need):
        detected = _confirmed(grid, run, grid.known, mask)
        if detected > ctx.now_s:
            continue  # not confirmed by the data yet
        end = run_end(run, grid.t0, grid.period)
        dur = (ctx.now_s if end is None else grid.start(run.last + 1)) - grid.start(run.first)
        out.append(
            ctx.finding(
                "breaker-half-open-stuck",
                grid.start(run.first),
                end,
                "medium",
                f"circuit breaker {ctx.breaker} has been HALF_OPEN for {dur / 60:.0f} min "
                f"(limit {s.half_open_max_s / 60:.0f} min): probes to {ctx.downstream} are not "
                "settling it",
                detected,
                {"half_open_for_s": round(dur, 3), "limit_s": s.half_open_max_s},
            )
        )
    return out


def _stale(ctx: _Context, obs: pd.DataFrame) -> list[Finding]:
    s = ctx.settings
    rows = obs[np.isfinite(obs["u"])]
    if rows.empty or ctx.table is None:
        return []
    o = rows["o"].to_numpy(np.float64)
    u = rows["u"].to_numpy(np.float64)
    states = rows["state"].to_numpy(object)
    changed = np.r_[True, u[1:] != u[:-1]]
    spacing = np.where(changed & np.r_[False, u[1:] > u[:-1]], u - np.r_[u[0], u[:-1]], np.nan)
    configured = s.refresh_interval(ctx.table, ctx.breaker)
    if configured is not None:
        interval = np.full(len(u), configured)
        how = "configured"
    else:
        learnt = pd.Series(spacing).expanding(min_periods=s.learn_min_refreshes).median()
        interval = learnt.to_numpy(np.float64)
        how = "learnt"
    threshold = np.maximum(s.stale_factor * interval + s.stale_grace_s, s.stale_min_s)
    lag = o - u
    stale = np.isfinite(threshold) & (lag > threshold)
    group = np.cumsum(changed)
    out: list[Finding] = []
    for gid in np.unique(group[stale]):
        members = np.flatnonzero(group == gid)
        hit = int(members[stale[members]][0])
        start = float(u[hit] + interval[hit])
        after = int(members[-1]) + 1
        end = None if after >= len(o) else timestamp(min(max(u[after], start), o[after]))
        latest = int(members[-1])
        stale_for = (o[after] if after < len(o) else o[latest]) - u[hit]
        updated = timestamp(float(u[hit])).isoformat()
        out.append(
            ctx.finding(
                "breaker-stale",
                min(start, float(o[hit])),
                end,
                "high" if stale_for >= s.stale_high_s else "medium",
                f"circuit breaker item {ctx.breaker} in {ctx.table} not refreshed since "
                f"{updated} (expected every {interval[hit]:.0f} s); its "
                f"state ({states[latest]}) cannot be trusted",
                float(o[hit]),
                {
                    "updated_at": updated,
                    "age_s": round(float(lag[latest]), 3),
                    "interval_s": float(interval[hit]),
                    "interval_source": how,
                    "threshold_s": float(threshold[hit]),
                    "last_state": str(states[latest]),
                },
                downstream=False,
            )
        )
    return out


def _unknown(ctx: _Context, obs: pd.DataFrame) -> list[Finding]:
    states = obs["state"].to_numpy(object)
    mask = states == "UNKNOWN"
    o = obs["o"].to_numpy(np.float64)
    raw_state = obs["raw_state"].to_numpy(object)
    problem = obs["problem"].to_numpy(object)
    out: list[Finding] = []
    for run in runs(mask):
        end = None if run.last + 1 >= len(o) else timestamp(float(o[run.last + 1]))
        i = run.last  # the latest reading describes it best
        out.append(
            ctx.finding(
                "breaker-unknown",
                float(o[run.first]),
                end,
                "medium",
                f"circuit breaker item {ctx.breaker} in {ctx.table} cannot be read: raw state "
                f"{_quote(raw_state[i])}, problem {_quote(problem[i])}",
                float(o[run.first]),
                {
                    "raw_state": None if raw_state[i] is None else str(raw_state[i]),
                    "problem": None if problem[i] is None else str(problem[i]),
                    "observations": run.last - run.first + 1,
                },
                downstream=False,
            )
        )
    return out


def _masking(ctx: _Context, grid: _Grid, sources: list[_Failures]) -> list[Finding]:
    s = ctx.settings
    if not sources:
        return []
    n = grid.n
    failing = np.zeros(n, bool)
    known = np.full(n, _INF)
    ratio_peak = np.zeros(n)
    calls_n = np.zeros(n)
    fails_n = np.zeros(n)
    names: list[str] = []
    for src in sources:
        k = np.round((src.t - grid.t0) / grid.period).astype(np.int64)
        keep = (k >= 0) & (k < n)
        k = k[keep]
        calls, fails, kn = src.calls[keep], src.failures[keep], src.known[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(calls > 0, fails / calls, 0.0)
        hit = (calls >= s.masking_min_calls) & (ratio >= s.masking_ratio)
        if hit.any():
            names.append(src.source)
        failing[k[hit]] = True
        np.minimum.at(known, k[hit], kn[hit])
        np.maximum.at(ratio_peak, k[hit], ratio[hit])
        np.maximum.at(calls_n, k[hit], calls[hit])
        np.maximum.at(fails_n, k[hit], fails[hit])
    closed = grid.evidence == _CLOSED
    mask = closed & failing
    when = np.maximum(known, grid.known_closed)
    out: list[Finding] = []
    for run in runs(mask, min_periods=s.masking_min_periods, max_gap=s.masking_max_gap):
        detected = _confirmed(grid, run, when, mask)
        if detected > ctx.now_s:
            continue
        seg = slice(run.first, run.last + 1)
        in_run = mask[seg]
        peak = float(ratio_peak[seg][in_run].max())
        out.append(
            ctx.finding(
                "breaker-masking",
                grid.start(run.first),
                run_end(run, grid.t0, grid.period),
                "high",
                f"circuit breaker {ctx.breaker} stays CLOSED while {ctx.downstream} fails "
                f"{peak:.0%} of calls: its threshold is masking the failure",
                detected,
                {
                    "peak_failure_ratio": round(peak, 4),
                    "failures": round(float(fails_n[seg][in_run].sum()), 3),
                    "calls": round(float(calls_n[seg][in_run].sum()), 3),
                    "periods": int(in_run.sum()),
                    "ratio_threshold": s.masking_ratio,
                    "sources": sorted(set(names)),
                },
            )
        )
    return out


# --- the detector -------------------------------------------------------------------------------


def detect_circuits(
    breakers: pd.DataFrame,
    metrics: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    now: pd.Timestamp,
    settings: CircuitSettings = CircuitSettings(),
) -> list[Finding]:
    """Findings of every breaker rule over the store's ``breakers``, ``metrics`` and ``edges``.

    ``now`` is the end of the data the caller read: later rows are ignored, and a condition
    still holding at ``now`` has ``end=None``. Sorted by account, region, resource, kind, start.
    """
    now_s = seconds_of(now)
    obs = _observations(breakers, now_s)
    states = _metric_states(metrics, settings, now_s)
    failures = _downstream_failures(metrics, edges, settings, now_s)

    tables: dict[tuple[str, str, str], list[str]] = {}
    for account, region, table, breaker in (
        obs[["account", "region", "table", "breaker"]].drop_duplicates().itertuples(index=False)
    ):
        tables.setdefault((account, region, breaker), []).append(table)
    state_groups = {
        (str(a), str(r), str(b)): part
        for (a, r, b), part in states.groupby(["account", "region", "breaker"], sort=True)
    }
    obs_groups = {
        (str(a), str(r), str(t), str(b)): part
        for (a, r, t, b), part in obs.groupby(["account", "region", "table", "breaker"], sort=True)
    }
    empty_states = states.iloc[0:0]
    empty_obs = obs.iloc[0:0]
    findings: list[Finding] = []
    for key in sorted(set(tables) | set(state_groups)):
        account, region, breaker = key
        downstream = settings.downstream(breaker)
        metric_part = state_groups.get(key, empty_states)
        names: list[str | None] = [*sorted(tables.get(key, []))] or [None]
        for table in names:
            part = empty_obs if table is None else obs_groups[(account, region, table, breaker)]
            ctx = _Context(account, region, breaker, table, downstream, now_s, settings)
            if table is not None:
                findings += _unknown(ctx, part)
                findings += _stale(ctx, part)
                findings += _half_open_from_table(ctx, part)
            grid = _state_grid(part, metric_part, settings, now_s)
            if grid is None:
                continue
            findings += _open_and_flapping(ctx, grid)
            if table is None:
                findings += _half_open_from_grid(ctx, grid)
            findings += _masking(ctx, grid, failures.get((account, region, downstream), []))
    findings.sort(
        key=lambda f: (f.account, f.region, f.resource, f.kind, f.start, f.detected_at or f.start)
    )
    return findings
