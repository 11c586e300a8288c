"""Sustained runs of a condition, and what rules report about a run.

Rules evaluate a boolean condition per period; a finding is a run of at least ``min_periods``
consecutive true periods (gaps of up to ``max_gap`` false periods bridged). A run is *known* at
the end of its ``min_periods``-th period (``detected_at``), which is all the data it used, so
rules stay online even though the finding's ``start`` is the run's first period.

Also here: severity and evidence helpers over a run (:func:`peak_ratio`, :func:`level`,
:func:`number`, :func:`duration`), the findings' common order (:func:`finding_order`), and
:func:`grid` (long rows to a wide pandas frame). Placing store rows on a grid is
:mod:`alerts.grids`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from alerts.findings import Finding


@dataclass(frozen=True, slots=True)
class Run:
    """Periods ``[first, last]`` (indices into the grid) where the condition held."""

    first: int
    last: int
    detected: int  # index of the period whose end confirmed the run
    ongoing: bool  # the run reaches the last period of the grid


def runs(mask: np.ndarray, *, min_periods: int = 1, max_gap: int = 0) -> list[Run]:
    """Runs of True in ``mask`` lasting at least ``min_periods`` true periods.

    Two runs separated by at most ``max_gap`` false periods are one run (the gap counts toward
    neither). ``detected`` is the index at which the ``min_periods``-th true period was seen.
    """
    if min_periods < 1:
        raise ValueError("min_periods must be at least 1")
    mask = np.asarray(mask, dtype=bool)
    n = len(mask)
    if n == 0 or not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2] - 1  # inclusive
    # Bridge short gaps.
    groups: list[list[int]] = [[int(starts[0]), int(ends[0])]]
    for s, e in zip(starts[1:], ends[1:], strict=True):
        if s - groups[-1][1] - 1 <= max_gap:
            groups[-1][1] = int(e)
        else:
            groups.append([int(s), int(e)])
    out: list[Run] = []
    csum = np.cumsum(mask)
    for first, last in groups:
        before = csum[first - 1] if first > 0 else 0
        reached = np.flatnonzero(csum[first : last + 1] - before >= min_periods)
        if len(reached) == 0:
            continue
        out.append(Run(first, last, first + int(reached[0]), last == n - 1))
    return out


def merge_gap_periods(gap_s: float, period_s: float) -> int:
    """The ``max_gap`` (in periods) that makes runs less than ``gap_s`` seconds apart one run."""
    return max(math.ceil(gap_s / period_s) - 1, 0)


def latest_known(run: Run, mask: np.ndarray, known: np.ndarray) -> float:
    """When the data of every true period of ``run`` up to its ``detected`` period was known:
    the latest ``known`` time (epoch seconds) among them (-inf when none)."""
    seg = slice(run.first, run.detected + 1)
    return float(np.max(np.where(mask[seg], known[seg], -math.inf)))


# -- what a rule reports about a run -------------------------------------------------------------


def peak_ratio(numerator: np.ndarray, denominator: np.ndarray, window: int) -> float:
    """The largest ratio of sums over ``window`` consecutive periods (the whole span if shorter);
    a zero denominator counts as 1 (work is never less than one unit when attempts were made)."""
    window = max(1, min(window, len(numerator)))
    num = np.concatenate(([0.0], np.cumsum(numerator)))
    den = np.concatenate(([0.0], np.cumsum(denominator)))
    sums_num = num[window:] - num[:-window]
    sums_den = np.maximum(den[window:] - den[:-window], 1.0)
    return float(np.max(sums_num / sums_den)) if len(sums_num) else 0.0


def level(value: float, thresholds: tuple[float, float, float]) -> int:
    """0..3: how many of the ascending ``thresholds`` ``value`` reaches."""
    return int(sum(value >= t for t in thresholds))


def number(value: float) -> float | int:
    """JSON-friendly: an int when whole, else rounded to 3 decimals (0 when not finite)."""
    if not math.isfinite(value):
        return 0
    return int(value) if float(value).is_integer() else round(float(value), 3)


def duration(seconds: float) -> str:
    """``"5 min"`` below two hours, else ``"2.5 h"``."""
    minutes = seconds / 60
    return f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def finding_order(finding: Finding) -> tuple[Any, ...]:
    """Findings' deterministic order: start, account, region, resource, downstream, signal."""
    return (
        finding.start,
        finding.account,
        finding.region,
        finding.resource,
        finding.downstream or "",
        str(finding.evidence.get("signal", "")),
        finding.kind,
        finding.detected_at,
    )


def grid(
    frame: pd.DataFrame,
    *,
    columns: str | list[str],
    period_s: int = 60,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    fill: float | None = 0.0,
    time: str = "ts",
    value: str = "value",
) -> pd.DataFrame:
    """Long rows → a wide frame on a regular UTC grid: index the period starts, one column per
    distinct value of ``columns``. Missing periods get ``fill`` (0 for AWS count metrics, which
    publish nothing in idle minutes; None keeps NaN). ``end`` is exclusive."""
    if frame.empty and (start is None or end is None):
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name=time))
    freq = pd.Timedelta(seconds=period_s)
    ts = pd.to_datetime(frame[time], utc=True) if not frame.empty else pd.Series([], dtype=object)
    lo = start if start is not None else ts.min()
    hi = end if end is not None else ts.max() + freq
    lo = pd.Timestamp(lo).floor(freq)
    index = pd.date_range(lo, pd.Timestamp(hi) - pd.Timedelta(milliseconds=1), freq=freq, name=time)
    if frame.empty:
        return pd.DataFrame(index=index)
    wide = frame.assign(**{time: ts.dt.floor(freq)}).pivot_table(
        index=time, columns=columns, values=value, aggfunc="sum", dropna=False
    )
    wide = wide.reindex(index)
    return wide if fill is None else wide.fillna(fill)
