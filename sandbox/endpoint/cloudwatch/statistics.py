"""CloudWatch statistics: parsing their names and computing them per period, vectorised.

Names follow AWS's "CloudWatch statistics definitions":
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html

- ``SampleCount``, ``Sum``, ``Average``, ``Minimum``, ``Maximum`` — from the statistic sets;
- ``pNN`` / ``pNN.NN`` — percentile, nearest-rank over the raw samples: the smallest value whose
  cumulative weight is at least p/100 of the total (numpy's ``method="inverted_cdf"``);
- ``tmNN`` / ``TM(a%:b%)`` / ``TM(a:b)`` and ``IQM`` — trimmed mean (``tm90`` = ``TM(:90%)``,
  ``IQM`` = ``TM(25%:75%)``); ``tcNN``/``TC(..)`` trimmed count; ``tsNN``/``TS(..)`` trimmed sum;
  ``wmNN``/``WM(..)`` winsorized mean; ``PR(a:b)`` percentile rank (% of samples in ``(a, b]``).

Bounds in percent trim by *rank* (the lowest a% and the samples above b% of the weight are left
out, a sample straddling a boundary counts with the part of its weight inside); bounds without
``%`` trim by *value*: ``a < value <= b``.

Extended statistics need raw samples. A period containing a datapoint whose samples CloudWatch
never saw (a statistic set with Minimum != Maximum) has no value for them, as in AWS.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sandbox.endpoint.cloudwatch.metric_store import SeriesData


class Kind(StrEnum):
    SAMPLE_COUNT = "SampleCount"
    SUM = "Sum"
    AVERAGE = "Average"
    MINIMUM = "Minimum"
    MAXIMUM = "Maximum"
    PERCENTILE = "p"
    TRIMMED_MEAN = "TM"
    TRIMMED_COUNT = "TC"
    TRIMMED_SUM = "TS"
    WINSORIZED_MEAN = "WM"
    PERCENTILE_RANK = "PR"


BASIC_KINDS = frozenset({Kind.SAMPLE_COUNT, Kind.SUM, Kind.AVERAGE, Kind.MINIMUM, Kind.MAXIMUM})
STANDARD_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


@dataclass(frozen=True, slots=True)
class Statistic:
    """A parsed statistic. ``lo``/``hi`` are percents when ``percent`` else values."""

    name: str
    kind: Kind
    lo: float | None = None
    hi: float | None = None
    percent: bool = True

    @property
    def needs_raw(self) -> bool:
        return self.kind not in BASIC_KINDS


_NUM = r"\d+(?:\.\d{1,2})?"
_SHORT = re.compile(rf"^(p|tm|tc|ts|wm)({_NUM})$")
_LONG = re.compile(r"^(TM|TC|TS|WM|PR)\(([^:()]*):([^:()]*)\)$")
_BOUND = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")
_SHORT_KIND = {
    "p": Kind.PERCENTILE,
    "tm": Kind.TRIMMED_MEAN,
    "tc": Kind.TRIMMED_COUNT,
    "ts": Kind.TRIMMED_SUM,
    "wm": Kind.WINSORIZED_MEAN,
}


def parse_statistic(text: str) -> Statistic | None:
    """The :class:`Statistic` named ``text``, or None when CloudWatch would not accept it."""
    if text in STANDARD_STATISTICS:
        return Statistic(text, Kind(text))
    if text == "IQM":
        return Statistic(text, Kind.TRIMMED_MEAN, 25.0, 75.0)
    m = _SHORT.match(text)
    if m:
        value = float(m.group(2))
        if not 0.0 <= value <= 100.0:
            return None
        kind = _SHORT_KIND[m.group(1)]
        if kind is Kind.PERCENTILE:
            return Statistic(text, kind, None, value)
        return Statistic(text, kind, 0.0, value)
    m = _LONG.match(text)
    if not m:
        return None
    kind = Kind(m.group(1))
    bounds: list[tuple[float | None, bool | None]] = []
    for raw in (m.group(2), m.group(3)):
        if not raw.strip():
            bounds.append((None, None))
            continue
        b = _BOUND.match(raw)
        if not b:
            return None
        bounds.append((float(b.group(1)), b.group(2) == "%"))
    (lo, lo_pct), (hi, hi_pct) = bounds
    if lo is None and hi is None:
        return None
    if lo_pct is not None and hi_pct is not None and lo_pct != hi_pct:
        return None  # AWS: both bounds in percent, or both values
    percent = bool(lo_pct if lo_pct is not None else hi_pct)
    if kind is Kind.PERCENTILE_RANK and percent:
        return None  # PR takes values, never percents
    if percent:
        lo = 0.0 if lo is None else lo
        hi = 100.0 if hi is None else hi
        if not 0.0 <= lo <= hi <= 100.0:
            return None
    elif lo is not None and hi is not None and lo > hi:
        return None
    return Statistic(text, kind, lo, hi, percent)


# ---------------------------------------------------------------------------- segment math


def _cumulative(weights: np.ndarray) -> tuple[np.ndarray, bool]:
    """Exclusive-inclusive prefix sums (length m + 1) of ``weights``; int64 when all integral."""
    if weights.size and weights.strides == (0,):  # the store's zero-memory "all ones" (or c)
        w = float(weights[0])
        if w == math.floor(w):
            return np.arange(weights.size + 1, dtype=np.int64) * int(w), True
        return np.arange(weights.size + 1, dtype=np.float64) * w, False
    integral = bool(np.all(weights == np.floor(weights))) and (
        weights.size == 0 or float(weights.sum()) < 2.0**52
    )
    cw = np.zeros(weights.size + 1, dtype=np.int64 if integral else np.float64)
    np.cumsum(weights.astype(cw.dtype) if integral else weights, out=cw[1:])
    return cw, integral


def segment_percentile(
    values: np.ndarray, weights: np.ndarray, offsets: np.ndarray, percent: float
) -> np.ndarray:
    """Nearest-rank percentile of each CSR segment (values ascending within a segment).

    The smallest value whose cumulative weight reaches ``percent``/100 of the segment's total
    weight (``p0`` is the minimum). Exact for integral weights; NaN for empty segments.
    """
    nseg = offsets.size - 1
    if values.size == nseg and offsets[-1] == nseg and (np.diff(offsets) == 1).all():
        return np.array(values, dtype=np.float64)  # one sample per segment: it is every rank
    out = np.full(nseg, np.nan)
    if nseg == 0 or values.size == 0:
        return out
    length = int(offsets[1] - offsets[0])
    if (
        weights.strides == (0,)  # equal weights (the store's implicit ones) ...
        and length > 0
        and values.size == length * nseg
        and (np.diff(offsets) == length).all()  # ... and L samples per segment: a matrix
    ):
        rank = max((round(percent * 100) * length + 9999) // 10000, 1)
        return np.array(values.reshape(nseg, length)[:, rank - 1])
    cw, integral = _cumulative(weights)
    starts, ends = offsets[:-1], offsets[1:]
    base = cw[starts]
    total = cw[ends] - base
    if integral:
        hundredths = round(percent * 100)  # statistics carry at most two decimals
        rank = (hundredths * total + 9999) // 10000
        target = base + np.maximum(rank, 1)
    else:
        target = base + percent / 100.0 * total
        target = target - 1e-9 * np.maximum(total, 1.0)
    idx = np.searchsorted(cw[1:], target, side="left")
    nonempty = ends > starts
    idx = np.clip(idx, starts, np.maximum(ends - 1, starts))
    out[nonempty] = values[idx[nonempty]]
    return out


def segment_statistic(
    stat: Statistic, values: np.ndarray, weights: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """An extended statistic of each CSR segment (values ascending within each segment)."""
    if stat.kind is Kind.PERCENTILE:
        assert stat.hi is not None
        return segment_percentile(values, weights, offsets, stat.hi)
    nseg = offsets.size - 1
    lens = np.diff(offsets)
    seg = np.repeat(np.arange(nseg), lens)
    total = np.bincount(seg, weights=weights, minlength=nseg)
    empty = total <= 0
    out: np.ndarray
    lo_v: np.ndarray | float
    hi_v: np.ndarray | float
    with np.errstate(invalid="ignore", divide="ignore"):
        if stat.kind is Kind.PERCENTILE_RANK:
            lo = -math.inf if stat.lo is None else stat.lo
            hi = math.inf if stat.hi is None else stat.hi
            inside = (values > lo) & (values <= hi)
            out = 100.0 * np.bincount(seg, weights=weights * inside, minlength=nseg) / total
        elif stat.kind is Kind.WINSORIZED_MEAN:
            if stat.percent:
                lo_p = 0.0 if stat.lo is None else stat.lo
                hi_p = 100.0 if stat.hi is None else stat.hi
                lo_v = segment_percentile(values, weights, offsets, lo_p)[seg]
                hi_v = segment_percentile(values, weights, offsets, hi_p)[seg]
            else:
                lo_v = -math.inf if stat.lo is None else stat.lo
                hi_v = math.inf if stat.hi is None else stat.hi
            clipped = np.clip(values, lo_v, hi_v)
            out = np.bincount(seg, weights=weights * clipped, minlength=nseg) / total
        else:
            kept = _trimmed_weights(stat, values, weights, offsets, seg, total)
            kept_w = np.bincount(seg, weights=kept, minlength=nseg)
            if stat.kind is Kind.TRIMMED_COUNT:
                out = kept_w
            else:
                kept_sum = np.bincount(seg, weights=kept * values, minlength=nseg)
                out = kept_sum if stat.kind is Kind.TRIMMED_SUM else kept_sum / kept_w
    out = np.asarray(out, dtype=np.float64)
    out[empty] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def _trimmed_weights(
    stat: Statistic,
    values: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    seg: np.ndarray,
    total: np.ndarray,
) -> np.ndarray:
    """The weight of each sample that survives the trim."""
    if not stat.percent:
        lo = -math.inf if stat.lo is None else stat.lo
        hi = math.inf if stat.hi is None else stat.hi
        return weights * ((values > lo) & (values <= hi))
    cw = np.concatenate(([0.0], np.cumsum(weights)))
    base = cw[offsets[:-1]][seg]
    before = cw[:-1] - base  # cumulative weight below each sample, within its segment
    after = cw[1:] - base
    lo_r = ((0.0 if stat.lo is None else stat.lo) / 100.0 * total)[seg]
    hi_r = ((100.0 if stat.hi is None else stat.hi) / 100.0 * total)[seg]
    kept: np.ndarray = np.clip(np.minimum(after, hi_r) - np.maximum(before, lo_r), 0.0, None)
    return kept


# ---------------------------------------------------------------------------- per period


def _per_datapoint(data: SeriesData, stat: Statistic) -> np.ndarray:
    """``stat`` of every datapoint of ``data`` on its own (NaN where unavailable); cached."""
    key = ("dp", stat.name)
    cached: np.ndarray | None = data.cache.get(key)
    if cached is not None:
        return cached
    head, start = None, 0
    if data.inherited is not None:  # an appended-to snapshot: reuse the earlier datapoints'
        parent_cache, parent_n = data.inherited
        head = parent_cache.get(key)
        if head is not None:
            start = parent_n
    off = data.raw_offsets[start:]
    tail = segment_statistic(
        stat, data.raw_values[off[0] : off[-1]], data.raw_weights[off[0] : off[-1]], off - off[0]
    )
    tail[~data.raw_complete[start:]] = np.nan
    cached = tail if head is None else np.concatenate((head, tail))
    cached.flags.writeable = False
    data.cache[key] = cached
    return cached


def aggregate(
    data: SeriesData, start: int, end: int, period: int, stats: Sequence[Statistic]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Compute ``stats`` per period over datapoints with ``start <= timestamp < end``.

    Periods start at ``start + k * period`` (epoch seconds, UTC). Returns the start of every
    period that has datapoints (int64, ascending) and, per statistic, a float64 array aligned
    with it where NaN means "no value" (an extended statistic without raw samples). Returned
    arrays may be read-only views of the store: copy before modifying.
    """
    i0, i1 = data.window(start, end)
    if i0 >= i1:
        return np.zeros(0, np.int64), [np.zeros(0) for _ in stats]
    ts = data.timestamps[i0:i1]
    if period <= data.min_step:
        # at most one datapoint per period (e.g. 1-minute data at Period=60): slice, don't reduce
        sums, counts = data.sums[i0:i1], data.counts[i0:i1]
        mins, maxs = data.mins[i0:i1], data.maxs[i0:i1]
        out = [
            _per_datapoint(data, s)[i0:i1]
            if s.needs_raw
            else _basic(s.kind, sums, counts, mins, maxs)
            for s in stats
        ]
        if start % period == 0 and data.alignment % period == 0:
            return ts, out  # every timestamp already starts its own period
        return start + (ts - start) // period * period, out

    bucket = (ts - start) // period

    first = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    sums = np.add.reduceat(data.sums[i0:i1], first)
    counts = np.add.reduceat(data.counts[i0:i1], first)
    mins = np.minimum.reduceat(data.mins[i0:i1], first)
    maxs = np.maximum.reduceat(data.maxs[i0:i1], first)
    out = []
    raw: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    for s in stats:
        if not s.needs_raw:
            out.append(_basic(s.kind, sums, counts, mins, maxs))
            continue
        if raw is None:
            raw = _bucket_raw(data, i0, i1, first)
        values, weights, offsets, complete = raw
        res = segment_statistic(s, values, weights, offsets)
        res[~complete] = np.nan
        out.append(res)
    return start + bucket[first] * period, out


def _basic(
    kind: Kind, sums: np.ndarray, counts: np.ndarray, mins: np.ndarray, maxs: np.ndarray
) -> np.ndarray:
    if kind is Kind.SUM:
        return sums
    if kind is Kind.SAMPLE_COUNT:
        return counts
    if kind is Kind.MINIMUM:
        return mins
    if kind is Kind.MAXIMUM:
        return maxs
    average: np.ndarray = sums / counts
    return average


def _bucket_raw(
    data: SeriesData, i0: int, i1: int, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw samples of datapoints ``[i0, i1)`` regrouped per period, ascending within each."""
    off = data.raw_offsets
    e0, e1 = int(off[i0]), int(off[i1])
    values = data.raw_values[e0:e1]
    weights = data.raw_weights[e0:e1]
    bounds = np.concatenate((off[i0 + first], [e1])) - e0
    seg = np.repeat(np.arange(first.size), np.diff(bounds))
    order = np.lexsort((values, seg))
    complete = np.logical_and.reduceat(data.raw_complete[i0:i1], first)
    return values[order], weights[order], bounds, complete
