"""Dead-letter queue rules: new arrivals, sustained growth, and messages about to expire.

:func:`detect_dlqs` reads the ``queues`` table (live depth snapshots) and the ``metrics`` table
(``AWS/SQS``, dimension ``QueueName=<name>``) and returns :class:`~alerts.findings.Finding`
objects on ``sqs:<queue>`` for each dead-letter queue: those named in ``dlqs`` (account,
region, queue name), or, when the caller passes None, those whose ``queues`` rows say
``is_dlq``. It is pure, deterministic and online: a finding's ``start`` and ``detected_at`` come
from data known by ``detected_at`` (a metric datapoint is known at the end of its period, a
snapshot at ``observed_at``), so appending later data never moves them.

**Depth and arrivals.** Everything lands on a regular UTC grid (``period_s``, 60 s). A period's
*level* is the metric depth ``ApproximateNumberOfMessagesVisible`` + ``…NotVisible`` (+
``…Delayed`` when collected; one SQS sample a minute, Maximum) or, without a metric datapoint,
the period's last snapshot (``visible + in_flight + delayed``); its *peak* is the largest depth
any source saw in it. Arrivals in a period = max(``NumberOfMessagesSent`` (Sum), peak − the last
known level before it). Both are needed on AWS: a message moved into a DLQ by a redrive policy is
*not* counted in the DLQ's ``NumberOfMessagesSent``, so redrives show only as depth increases,
and NotVisible counts because a message received from the DLQ (by a reprocessor or an operator)
leaves the visible count without leaving the queue. A period whose depth is unknown is a gap:
the next known level is compared with the last one before the gap. The first period with data
has no level before it, so depth already there is not an arrival (the expiry rule still sees it).

**Rules** (defaults in :class:`DlqSettings`, and why):

``dlq-arrivals``
    Any arrival: a drained DLQ that receives one message (level 0 → 1) is a finding. Arrival
    periods less than ``arrivals_merge_gap_s`` (600 s) apart are one finding, as for breakers:
    a failure that dead-letters a message every few minutes is one episode. ``start`` = the
    first arrival period, ``detected_at`` = when the first arrival was known (the end of the
    metric minute, or the first snapshot showing the increase), ``end`` = the end of the last
    arrival period (None while the last period still has arrivals). Severity by the number of
    messages: 1 low, 10 medium, 100 high, 1000 critical (``arrival_severities``).
``dlq-growth``
    The level rising (peak above the last level) in ``growth_min_periods`` (3) periods, with
    gaps of up to ``growth_max_gap`` (2) periods without a rise bridged: a DLQ filling for
    minutes on end, not one redrive batch. ``detected_at`` = when the third rising period was
    known; sustained runs less than ``growth_merge_gap_s`` (600 s) apart are one finding (an
    intermittent failure fills the DLQ in bursts). Severity by messages added since the run
    began: medium, 100 high, 1000 critical.
``dlq-expiry``
    The oldest message close to the retention period, when SQS deletes it. SQS counts
    retention from a message's *original* enqueue, while ``ApproximateAgeOfOldestMessage`` of a
    DLQ counts from its arrival there, so the age is raised by a lower bound of the time spent in
    the source queue (its ``max_receive_count`` × ``visibility_timeout_s``, for queues that
    redrive into this DLQ). Fires when age ≥ ``expiry_fraction`` (80 %) of the retention, or
    when less than ``expiry_horizon_s`` (24 h) is left — whichever comes first, the horizon only
    for retentions longer than it (a 1-hour DLQ would otherwise always be "within 24 h").
    ``evidence["seconds_until_loss"]`` = retention − age (at the latest period of the run).
    Retention comes from the queue's snapshots (the latest at or before each period), else from
    ``retention`` (per queue name), else ``default_retention_s`` (None: not judged — guessing
    SQS's 4-day default would flag 14-day DLQs). Gaps of up to ``expiry_max_gap`` (5) periods
    are bridged. Severity medium; high with 6 h or less left; critical with 1 h or less.
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
    epoch_seconds,
    first_per_period,
    has_columns,
    period_span,
    run_end,
    seconds_of,
    timestamp,
)
from alerts.spans import grid, latest_known, merge_gap_periods, runs

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from alerts.spans import Run

__all__ = ["DlqSettings", "detect_dlqs"]

_INF = math.inf


@dataclass(frozen=True)
class DlqSettings:
    """Thresholds of the DLQ rules (see the module docstring for why)."""

    period_s: int = 60
    namespace: str = "AWS/SQS"
    visible_metric: str = "ApproximateNumberOfMessagesVisible"
    not_visible_metric: str = "ApproximateNumberOfMessagesNotVisible"
    delayed_metric: str = "ApproximateNumberOfMessagesDelayed"
    depth_stat: str = "Maximum"
    sent_metric: str = "NumberOfMessagesSent"
    sent_stat: str = "Sum"
    age_metric: str = "ApproximateAgeOfOldestMessage"
    age_stat: str = "Maximum"
    queue_dimension: str = "QueueName"
    # dlq-arrivals
    arrivals_merge_gap_s: float = 600.0
    arrival_severities: tuple[tuple[float, str], ...] = (
        (1, "low"),
        (10, "medium"),
        (100, "high"),
        (1000, "critical"),
    )
    # dlq-growth
    growth_min_periods: int = 3
    growth_max_gap: int = 2
    growth_merge_gap_s: float = 600.0
    growth_severities: tuple[tuple[float, str], ...] = (
        (0, "medium"),
        (100, "high"),
        (1000, "critical"),
    )
    # dlq-expiry
    expiry_fraction: float = 0.8
    expiry_horizon_s: float = 86_400.0
    expiry_high_s: float = 6 * 3_600.0
    expiry_critical_s: float = 3_600.0
    expiry_max_gap: int = 5
    retention: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    default_retention_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "retention", MappingProxyType(dict(self.retention)))
        if self.period_s <= 0:
            raise ValueError(f"period_s must be positive, got {self.period_s}")
        if self.growth_min_periods < 1:
            raise ValueError(
                f"growth_min_periods must be at least 1, got {self.growth_min_periods}"
            )
        if not 0 < self.expiry_fraction <= 1:
            raise ValueError(f"expiry_fraction must be in (0, 1], got {self.expiry_fraction}")
        for name in ("growth_max_gap", "expiry_max_gap"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


# --- helpers ------------------------------------------------------------------------------------


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return np.asarray(
        pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    )


def _severity(value: float, ladder: tuple[tuple[float, str], ...]) -> str:
    chosen = ladder[0][1]
    for floor, name in ladder:
        if value >= floor:
            chosen = name
    return chosen


def _ffill(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.Series(values).ffill().to_numpy(np.float64))


# --- inputs -------------------------------------------------------------------------------------


def _snapshots(queues: pd.DataFrame, now_s: float) -> pd.DataFrame:
    cols = ["account", "region", "queue", "o", "depth", "age", "retention", "is_dlq"]
    cols += ["sources", "allowance"]
    need = ("account", "region", "queue", "observed_at")
    if not has_columns(queues, need):
        return pd.DataFrame(columns=cols)
    visible = _numbers(queues, "visible")
    extra = np.nan_to_num(_numbers(queues, "in_flight")) + np.nan_to_num(
        _numbers(queues, "delayed")
    )
    is_dlq = (
        queues["is_dlq"].fillna(False).astype(bool).to_numpy()
        if "is_dlq" in queues.columns
        else np.zeros(len(queues), bool)
    )
    sources = (
        queues["sources"].to_numpy(object)
        if "sources" in queues.columns
        else np.full(len(queues), None, dtype=object)
    )
    frame = pd.DataFrame(
        {
            "account": queues["account"].astype(str).to_numpy(),
            "region": queues["region"].astype(str).to_numpy(),
            "queue": queues["queue"].astype(str).to_numpy(),
            "o": epoch_seconds(queues["observed_at"]),
            "depth": visible + extra,
            "age": _numbers(queues, "oldest_age_s"),
            "retention": _numbers(queues, "retention_s"),
            "is_dlq": is_dlq,
            "sources": sources,
            "allowance": _numbers(queues, "max_receive_count")
            * _numbers(queues, "visibility_timeout_s"),
        }
    )
    frame = frame[np.isfinite(frame["o"]) & (frame["o"] <= now_s)]
    return frame.sort_values(["account", "region", "queue", "o"], kind="mergesort")


def _sqs_rows(
    metrics: pd.DataFrame,
    settings: DlqSettings,
    now_s: float,
    targets: set[tuple[str, str, str]],
) -> pd.DataFrame:
    """The DLQs' SQS metric rows: account, region, queue, ts, t, metric (short name), value."""
    cols = ["account", "region", "queue", "ts", "t", "metric", "value"]
    need = ("account", "region", "namespace", "metric", "dimensions", "stat", "ts", "value")
    if not has_columns(metrics, need):
        return pd.DataFrame(columns=cols)
    wanted = {
        f"{settings.visible_metric}|{settings.depth_stat}": "visible",
        f"{settings.not_visible_metric}|{settings.depth_stat}": "not_visible",
        f"{settings.delayed_metric}|{settings.depth_stat}": "delayed",
        f"{settings.sent_metric}|{settings.sent_stat}": "sent",
        f"{settings.age_metric}|{settings.age_stat}": "age",
    }
    dims = {f"{settings.queue_dimension}={q}": q for _, _, q in targets}
    sel = (metrics["namespace"] == settings.namespace) & metrics["dimensions"].isin(list(dims))
    if "period_s" in metrics.columns:
        sel &= metrics["period_s"] == settings.period_s
    rows = metrics[sel]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    key = rows["metric"].astype(str) + "|" + rows["stat"].astype(str)
    stamps = pd.to_datetime(rows["ts"], utc=True)
    frame = pd.DataFrame(
        {
            "account": rows["account"].astype(str).to_numpy(),
            "region": rows["region"].astype(str).to_numpy(),
            "queue": rows["dimensions"].map(dims).to_numpy(),
            "ts": stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
            "t": epoch_seconds(stamps),
            "metric": key.map(wanted).to_numpy(),
            "value": pd.to_numeric(rows["value"], errors="coerce").to_numpy(np.float64),
        }
    ).dropna(subset=["queue", "metric", "t"])
    return frame[frame["t"] < now_s]


# --- one DLQ ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """One DLQ on the grid."""

    t0: float
    period: float
    level: np.ndarray  # depth standing for the period (NaN: unknown)
    before: np.ndarray  # the last known level before the period (NaN: none)
    peak: np.ndarray  # the largest depth seen in the period
    arrivals: np.ndarray
    known: np.ndarray  # when the period's arrivals were first known (inf: none)
    age: np.ndarray  # oldest message age (s) seen in the period
    metric_age: np.ndarray  # the metric's oldest age per period (NaN: none)
    snap_k: np.ndarray  # snapshot period indices
    snap_o: np.ndarray
    snap_age: np.ndarray

    @property
    def n(self) -> int:
        return len(self.level)

    def start(self, k: int) -> float:
        return self.t0 + k * self.period


def _series(snap: pd.DataFrame, rows: pd.DataFrame, settings: DlqSettings, now_s: float) -> _Series:
    period = float(settings.period_s)
    times = np.r_[rows["t"].to_numpy(np.float64), snap["o"].to_numpy(np.float64)]
    t0, n = period_span(float(times.min()), float(times.max()), now_s, period)
    wide = grid(
        rows,
        columns="metric",
        period_s=settings.period_s,
        start=timestamp(t0),
        end=timestamp(t0 + n * period),
        fill=None,
    )
    wide = wide.reindex(columns=["visible", "not_visible", "delayed", "sent", "age"])

    def col(name: str) -> np.ndarray:
        return np.asarray(wide[name].to_numpy(np.float64, na_value=np.nan))[:n]

    visible = col("visible")
    extra = np.nan_to_num(_ffill(col("not_visible"))) + np.nan_to_num(_ffill(col("delayed")))
    metric_depth = visible + extra  # NaN where the visible count is unknown
    sent = np.nan_to_num(col("sent"))
    metric_age = col("age")

    o = snap["o"].to_numpy(np.float64)
    sk = np.floor((o - t0) / period).astype(np.int64)
    sdepth = snap["depth"].to_numpy(np.float64)
    sage = snap["age"].to_numpy(np.float64)
    has = np.isfinite(sdepth)
    last_snap = np.full(n, np.nan)
    last_snap[sk[has]] = sdepth[has]  # observation order: the last write per period wins
    max_snap = np.full(n, np.nan)
    np.fmax.at(max_snap, sk[has], sdepth[has])

    level = np.where(np.isfinite(metric_depth), metric_depth, last_snap)
    before = np.r_[np.nan, _ffill(level)[:-1]]
    peak = np.fmax(metric_depth, max_snap)
    rise = np.nan_to_num(peak - before, nan=0.0).clip(min=0.0)
    arrivals = np.maximum(sent, rise)

    ends = np.minimum(t0 + (np.arange(n) + 1) * period, now_s)
    by_metric = (np.isfinite(metric_depth) & (metric_depth > before)) | (sent > 0)
    known = np.where(by_metric, ends, _INF)
    shows = has & (sdepth > before[sk])
    known = np.minimum(known, first_per_period(sk[shows], o[shows], n))
    known = np.where((arrivals > 0) & ~np.isfinite(known), ends, known)

    age = metric_age.copy()
    hasa = np.isfinite(sage)
    np.fmax.at(age, sk[hasa], sage[hasa])
    return _Series(t0, period, level, before, peak, arrivals, known, age, metric_age, sk, o, sage)


@dataclass(frozen=True)
class _Context:
    account: str
    region: str
    queue: str
    now_s: float
    settings: DlqSettings
    sources: tuple[str, ...]

    def finding(
        self,
        kind: str,
        start: float,
        end: pd.Timestamp | None,
        severity: str,
        summary: str,
        detected: float,
        evidence: dict[str, Any],
    ) -> Finding:
        if self.sources:
            evidence = {**evidence, "sources": list(self.sources)}
        return Finding(
            kind=kind,
            account=self.account,
            region=self.region,
            resource=f"sqs:{self.queue}",
            start=timestamp(start),
            end=end,
            severity=severity,
            summary=summary,
            evidence=evidence,
            detected_at=timestamp(max(detected, start)),
        )


def _level_text(value: float) -> str:
    return "unknown" if not math.isfinite(value) else f"{value:.0f}"


def _arrivals(ctx: _Context, s: _Series) -> list[Finding]:
    st = ctx.settings
    mask = s.arrivals > 0
    gap = merge_gap_periods(st.arrivals_merge_gap_s, s.period)
    out: list[Finding] = []
    for run in runs(mask, max_gap=gap):
        seg = slice(run.first, run.last + 1)
        count = float(s.arrivals[seg].sum())
        detected = float(np.min(np.where(mask[seg], s.known[seg], _INF)))
        messages = f"{count:.0f} message" + ("" if round(count) == 1 else "s")
        out.append(
            ctx.finding(
                "dlq-arrivals",
                s.start(run.first),
                run_end(run, s.t0, s.period),
                _severity(count, st.arrival_severities),
                f"{messages} arrived in dead-letter queue {ctx.queue} (depth now "
                f"{_level_text(float(s.level[run.last]))}): work failed for good and waits for "
                "a redrive",
                detected,
                {
                    "messages": round(count, 3),
                    "arrival_periods": int(mask[seg].sum()),
                    "peak_per_period": round(float(s.arrivals[seg].max()), 3),
                    "depth_before": None
                    if not math.isfinite(s.before[run.first])
                    else float(s.before[run.first]),
                    "depth": None
                    if not math.isfinite(s.level[run.last])
                    else float(s.level[run.last]),
                },
            )
        )
    return out


def _growth(ctx: _Context, s: _Series) -> list[Finding]:
    st = ctx.settings
    mask = np.nan_to_num(s.peak - s.before, nan=0.0) > 0
    confirmed: list[tuple[Run, float]] = []
    for run in runs(mask, min_periods=st.growth_min_periods, max_gap=st.growth_max_gap):
        detected = latest_known(run, mask, s.known)
        if detected <= ctx.now_s:
            confirmed.append((run, detected))
    # Sustained runs less than growth_merge_gap_s apart are one episode (intermittent failures).
    episodes: list[list[tuple[Run, float]]] = []
    for item in confirmed:
        gap_s = (item[0].first - episodes[-1][-1][0].last - 1) * s.period if episodes else _INF
        if gap_s < st.growth_merge_gap_s:
            episodes[-1].append(item)
        else:
            episodes.append([item])
    out: list[Finding] = []
    for episode in episodes:
        first, detected = episode[0]
        last = episode[-1][0]
        seg = slice(first.first, last.last + 1)
        base = float(s.before[first.first])
        top = float(np.nanmax(s.peak[seg]))
        added = top - base
        periods = int(mask[seg].sum())
        out.append(
            ctx.finding(
                "dlq-growth",
                s.start(first.first),
                run_end(last, s.t0, s.period),
                _severity(added, st.growth_severities),
                f"dead-letter queue {ctx.queue} keeps growing: {base:.0f} → {top:.0f} messages "
                f"over {periods} periods",
                detected,
                {
                    "depth_before": base,
                    "depth_peak": top,
                    "added": round(added, 3),
                    "growing_periods": periods,
                    "bursts": len(episode),
                },
            )
        )
    return out


def _per_period_asof(times: np.ndarray, values: np.ndarray, s: _Series) -> np.ndarray:
    """The latest value known by each period's end (NaN before the first)."""
    ok = np.isfinite(values) & np.isfinite(times)
    times, values = times[ok], values[ok]
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    if len(times) == 0:
        return np.full(s.n, np.nan)
    ends = s.t0 + (np.arange(s.n) + 1) * s.period
    at = np.searchsorted(times, ends, side="left") - 1  # strictly before the end
    return np.where(at >= 0, values[np.maximum(at, 0)], np.nan)


def _expiry(
    ctx: _Context, s: _Series, snap: pd.DataFrame, source_snaps: list[pd.DataFrame]
) -> list[Finding]:
    st = ctx.settings
    retention = _per_period_asof(
        snap["o"].to_numpy(np.float64), snap["retention"].to_numpy(np.float64), s
    )
    fallback = st.retention.get(ctx.queue, st.default_retention_s)
    if ctx.queue in st.retention:
        retention = np.full(s.n, float(st.retention[ctx.queue]))
    elif fallback is not None:
        retention = np.where(np.isfinite(retention), retention, float(fallback))
    allowance = np.zeros(s.n)
    for src in source_snaps:
        got = _per_period_asof(
            src["o"].to_numpy(np.float64), src["allowance"].to_numpy(np.float64), s
        )
        allowance = np.fmax(allowance, np.nan_to_num(got))
    horizon = st.expiry_horizon_s
    threshold = np.where(
        retention > horizon,
        np.minimum(st.expiry_fraction * retention, retention - horizon),
        st.expiry_fraction * retention,
    )
    effective = s.age + allowance
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(effective) & np.isfinite(threshold) & (s.age > 0)
        mask &= effective >= threshold
    left = np.clip(retention - effective, 0.0, None)
    # When each period's condition was first known: its metric at the period end, or the first
    # snapshot that showed an age past the threshold.
    ends = np.minimum(s.t0 + (np.arange(s.n) + 1) * s.period, ctx.now_s)
    snap_hit = np.zeros(len(s.snap_k), bool)
    inside = (s.snap_k >= 0) & (s.snap_k < s.n)
    kk = s.snap_k[inside]
    with np.errstate(invalid="ignore"):
        snap_hit[inside] = (s.snap_age[inside] + allowance[kk]) >= threshold[kk]
    with np.errstate(invalid="ignore"):
        metric_hit = np.isfinite(s.metric_age) & (s.metric_age + allowance >= threshold)
    known = np.minimum(
        np.where(metric_hit, ends, _INF),
        first_per_period(s.snap_k[snap_hit], s.snap_o[snap_hit], s.n),
    )
    out: list[Finding] = []
    for run in runs(mask, max_gap=st.expiry_max_gap):
        seg = slice(run.first, run.last + 1)
        hits = np.flatnonzero(mask[seg]) + run.first
        detected = float(np.min(known[hits]))
        latest = int(hits[-1])
        least = float(left[hits].min())
        if least <= st.expiry_critical_s:
            severity = "critical"
        elif least <= st.expiry_high_s:
            severity = "high"
        else:
            severity = "medium"
        remaining = float(left[latest])
        out.append(
            ctx.finding(
                "dlq-expiry",
                s.start(run.first),
                run_end(run, s.t0, s.period),
                severity,
                f"oldest message in dead-letter queue {ctx.queue} is "
                f"{s.age[latest] / 3600:.1f} h old of a {retention[latest] / 3600:.1f} h "
                f"retention: messages are lost in {remaining / 3600:.1f} h unless redriven",
                detected,
                {
                    "seconds_until_loss": round(remaining, 3),
                    "min_seconds_until_loss": round(least, 3),
                    "oldest_age_s": round(float(s.age[latest]), 3),
                    "retention_s": float(retention[latest]),
                    "threshold_age_s": round(float(threshold[latest]), 3),
                    "source_allowance_s": round(float(allowance[latest]), 3),
                },
            )
        )
    return out


# --- the detector -------------------------------------------------------------------------------


def detect_dlqs(
    queues: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    now: pd.Timestamp,
    dlqs: Collection[tuple[str, str, str]] | None = None,
    settings: DlqSettings = DlqSettings(),
) -> list[Finding]:
    """Findings of the DLQ rules for every dead-letter queue.

    ``dlqs``: (account, region, queue name) of the queues to treat as DLQs (the caller decides,
    e.g. from the inventory's ``dead_letter_sources``/``failure_senders``); None = the queues
    whose ``queues`` rows say ``is_dlq``. ``now`` is the end of the data the caller read: later
    rows are ignored and a condition still holding at ``now`` has ``end=None``. Sorted by
    account, region, resource, kind, start.
    """
    now_s = seconds_of(now)
    snaps = _snapshots(queues, now_s)
    if dlqs is None:
        flagged = snaps[snaps["is_dlq"].astype(bool)]
        targets = {
            (str(a), str(r), str(q))
            for a, r, q in flagged[["account", "region", "queue"]].itertuples(index=False)
        }
    else:
        targets = {(str(a), str(r), str(q)) for a, r, q in dlqs}
    if not targets:
        return []
    rows = _sqs_rows(metrics, settings, now_s, targets)
    snap_groups = {
        (str(a), str(r), str(q)): part
        for (a, r, q), part in snaps.groupby(["account", "region", "queue"], sort=True)
    }
    row_groups = {
        (str(a), str(r), str(q)): part
        for (a, r, q), part in rows.groupby(["account", "region", "queue"], sort=True)
    }
    empty_snaps, empty_rows = snaps.iloc[0:0], rows.iloc[0:0]
    findings: list[Finding] = []
    for key in sorted(targets):
        account, region, queue = key
        snap = snap_groups.get(key, empty_snaps)
        part = row_groups.get(key, empty_rows)
        if snap.empty and part.empty:
            continue
        listed = snap["sources"].explode().dropna() if len(snap) else snap["sources"]
        sources = tuple(sorted({str(x) for x in pd.unique(listed)}))
        source_snaps = [
            snap_groups[(account, region, name)]
            for name in sources
            if ":" not in name and (account, region, name) in snap_groups
        ]
        ctx = _Context(account, region, queue, now_s, settings, sources)
        series = _series(snap, part, settings, now_s)
        findings += _arrivals(ctx, series)
        findings += _growth(ctx, series)
        findings += _expiry(ctx, series, snap, source_snaps)
    findings.sort(
        key=lambda f: (f.account, f.region, f.resource, f.kind, f.start, f.detected_at or f.start)
    )
    return findings
