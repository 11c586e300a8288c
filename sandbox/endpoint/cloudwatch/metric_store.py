"""CloudWatch's datapoint store: per-series numpy arrays, appended in bulk, read by time range.

A *series* is one CloudWatch metric: (namespace, metric name, dimensions). Dimensions are kept
canonical (a tuple of ``(name, value)`` sorted by name), so ``{"B": "2", "A": "1"}`` and
``[{"Name": "A", ...}, {"Name": "B", ...}]`` name the same metric, as in CloudWatch.

Each series keeps one column set per *unit* (CloudWatch stores the unit with each datapoint and a
Get with ``Unit`` only sees datapoints stored with that unit; without ``Unit`` it sees them all):

- ``timestamps``: int64 epoch seconds (UTC), sorted, unique;
- ``sums``, ``counts``, ``mins``, ``maxs``: float64, one statistic set per timestamp;
- raw sample values in CSR layout, for percentiles: datapoint ``i`` owns
  ``raw_values[raw_offsets[i]:raw_offsets[i + 1]]`` (ascending) with the matching
  ``raw_weights`` (how many samples had that value), and ``raw_complete[i]`` says whether those
  raw values describe *every* sample of the datapoint (False for a StatisticValues set with
  Minimum != Maximum, whose individual samples CloudWatch never saw).

Two datapoints at the same timestamp are merged (sums and counts add, min/max combine, raw values
concatenate), because CloudWatch aggregates every sample published for the same time: publishing
twice never replaces a value. Standard-resolution datapoints (StorageResolution 60) are stored at
the start of their minute; high-resolution ones (StorageResolution 1) at their second.

Writes append a chunk to a pending list under the series' lock; the first read after a write
consolidates (one sort, one merge of duplicate timestamps) and publishes a new immutable
:class:`SeriesData`. When the new datapoints are all later than the stored ones (the live case:
minute after minute) they are written into spare capacity after the published ones, so a tick
costs time proportional to the new datapoints, not to the week already stored. Readers work on
a snapshot without holding any lock, so the threaded HTTP server never blocks a reader behind a
long query, and a snapshot never changes under a reader. Reads locate a time range with
``np.searchsorted``; nothing scans other series.

Memory: 49 bytes per datapoint plus 16 per raw value (8 for a bulk write's implicit weights of
1 until the series is next appended to), plus up to 25% spare capacity on appended series.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

Dimensions = tuple[tuple[str, str], ...]

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_B = np.zeros(0, dtype=bool)

DEFAULT_UNIT = "None"
_FAR = 1 << 62  # "no gap" / "no common divisor" for series of 0 or 1 datapoint


class SeriesKey(NamedTuple):
    """The identity of a CloudWatch metric; ``dimensions`` sorted by name."""

    namespace: str
    metric_name: str
    dimensions: Dimensions


def canonical_dimensions(dimensions: Mapping[str, str] | Sequence[Any] | None) -> Dimensions:
    """``{"Name": "Value"}`` or ``[{"Name": .., "Value": ..}]`` → ``(("Name", "Value"), ...)``."""
    if not dimensions:
        return ()
    if isinstance(dimensions, Mapping):
        pairs = [(str(k), str(v)) for k, v in dimensions.items()]
    else:
        pairs = [
            (str(d["Name"]), str(d["Value"])) if isinstance(d, Mapping) else (str(d[0]), str(d[1]))
            for d in dimensions
        ]
    return tuple(sorted(pairs))


@dataclass(frozen=True, slots=True)
class RawValues:
    """Raw sample values for N datapoints in CSR layout (see the module docstring).

    ``offsets`` has N + 1 entries; ``weights`` defaults to 1 per value; ``complete`` (default
    all True) marks datapoints whose raw values cover every one of their samples.
    """

    offsets: np.ndarray
    values: np.ndarray
    weights: np.ndarray | None = None
    complete: np.ndarray | None = None

    @classmethod
    def from_lists(
        cls,
        values: Sequence[np.ndarray | Sequence[float] | None],
        weights: Sequence[np.ndarray | Sequence[float] | None] | None = None,
    ) -> RawValues:
        """One array of raw values per datapoint (``None`` or empty: no raw values)."""
        lens = np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values))
        offsets = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        present = [v for v in values if v is not None and len(v)]
        flat = np.concatenate(present).astype(np.float64, copy=False) if present else _EMPTY_F
        flat_w = None
        if weights is not None:
            if len(weights) != len(values):
                raise ValueError("weights must have one entry per datapoint")
            w_arrays = [
                np.ones(n) if w is None else w
                for w, n in zip(weights, lens.tolist(), strict=True)
                if n
            ]
            flat_w = (
                np.concatenate(w_arrays).astype(np.float64, copy=False) if w_arrays else _EMPTY_F
            )
            if flat_w.size != flat.size:
                raise ValueError("each weights[i] must have the length of values[i]")
        return cls(offsets, flat.reshape(-1), flat_w, lens > 0)


class _Block:
    """Columns for some datapoints; not necessarily sorted (pending) unless consolidated."""

    __slots__ = (
        "counts",
        "maxs",
        "mins",
        "raw_complete",
        "raw_offsets",
        "raw_values",
        "raw_weights",
        "sums",
        "timestamps",
    )

    def __init__(
        self,
        timestamps: np.ndarray,
        sums: np.ndarray,
        counts: np.ndarray,
        mins: np.ndarray,
        maxs: np.ndarray,
        raw_offsets: np.ndarray,
        raw_values: np.ndarray,
        raw_weights: np.ndarray,
        raw_complete: np.ndarray,
    ) -> None:
        self.timestamps = timestamps
        self.sums = sums
        self.counts = counts
        self.mins = mins
        self.maxs = maxs
        self.raw_offsets = raw_offsets
        self.raw_values = raw_values
        self.raw_weights = raw_weights
        self.raw_complete = raw_complete

    def __len__(self) -> int:
        return int(self.timestamps.size)


class SeriesData(_Block):
    """A consolidated, immutable snapshot of one series (one unit, or all units merged).

    Invariants: ``timestamps`` sorted and unique; raw values ascending within each datapoint;
    arrays read-only. ``min_step`` is the smallest gap between two timestamps in seconds (a
    query whose period is at most ``min_step`` has at most one datapoint per period, which
    enables the fast paths in :mod:`.statistics`); ``alignment`` is the GCD of the timestamps.
    ``cache`` holds derived per-datapoint arrays (e.g. a percentile of every datapoint); it
    dies with the snapshot, so a write can never leave it stale. ``inherited`` is
    ``(cache, n)`` of the snapshot this one extends by appending after its ``n`` datapoints,
    so derived arrays are only computed for the new datapoints.
    """

    __slots__ = ("alignment", "cache", "inherited", "min_step")

    def __init__(
        self,
        *columns: np.ndarray,
        min_step: int | None = None,
        alignment: int | None = None,
        inherited: tuple[dict[Any, Any], int] | None = None,
    ) -> None:
        super().__init__(*columns)
        for name in _Block.__slots__:  # snapshots are shared by concurrent readers: freeze them
            getattr(self, name).flags.writeable = False
        ts = self.timestamps
        if min_step is None:
            min_step = int(np.min(np.diff(ts))) if ts.size > 1 else _FAR
        if alignment is None:
            alignment = int(np.gcd.reduce(ts)) if ts.size else _FAR
        self.min_step = min_step
        # every timestamp is a multiple of ``alignment`` seconds (60 for minute data)
        self.alignment = alignment
        self.cache: dict[Any, Any] = {}
        self.inherited = inherited

    def window(self, start: int, end: int) -> tuple[int, int]:
        """Index range ``[i0, i1)`` of the datapoints with ``start <= timestamp < end``."""
        i0, i1 = np.searchsorted(self.timestamps, (start, end), side="left")
        return int(i0), int(i1)

    @property
    def last_timestamp(self) -> int | None:
        return int(self.timestamps[-1]) if self.timestamps.size else None


EMPTY = SeriesData(
    _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F, _EMPTY_F, np.zeros(1, np.int64), _EMPTY_F, _EMPTY_F,
    _EMPTY_B,
)  # fmt: skip


def _ones(n: int) -> np.ndarray:
    """n weights of 1 that take no memory (a read-only, zero-stride view)."""
    return np.broadcast_to(np.float64(1.0), (n,))


def _as_f64(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).reshape(-1)


def _gather_segments(offsets: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder CSR segments: element index array and new offsets for segments in ``order``."""
    lens = np.diff(offsets)[order]
    new_off = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(lens, out=new_off[1:])
    total = int(new_off[-1])
    # element k of new segment s comes from offsets[order[s]] + (k - new_off[s])
    shift = np.repeat(offsets[:-1][order] - new_off[:-1], lens)
    return np.arange(total, dtype=np.int64) + shift, new_off


def _sort_within_segments(
    offsets: np.ndarray, values: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sort ``values`` ascending within each CSR segment (only segments that need it)."""
    if values.size < 2:
        return values, weights
    lens = np.diff(offsets)
    same_weight = bool((weights == weights[0]).all())  # e.g. all 1: sort the values alone
    length = int(lens[0])
    if length > 1 and offsets[-1] == length * lens.size and (lens == length).all():
        # every datapoint has L raw values (the usual backfill): an (N, L) matrix, row-sorted
        rows = values.reshape(lens.size, length)
        if not (rows[:, 1:] < rows[:, :-1]).any():
            return values, weights
        if same_weight:
            return np.sort(rows, axis=1).reshape(-1), weights
        order = np.argsort(rows, axis=1)
        return (
            np.take_along_axis(rows, order, axis=1).reshape(-1),
            np.take_along_axis(weights.reshape(rows.shape), order, axis=1).reshape(-1),
        )
    descending = values[1:] < values[:-1]
    starts = offsets[1:-1]
    descending[starts[(starts > 0) & (starts < values.size)] - 1] = False  # across segments: ok
    where = np.flatnonzero(descending)
    if where.size == 0:
        return values, weights
    unsorted = np.zeros(lens.size, dtype=bool)
    unsorted[np.searchsorted(offsets, where, side="right") - 1] = True
    todo_lens = lens[unsorted]
    distinct = np.unique(todo_lens)
    if distinct.size > 64:  # very ragged: one general sort
        seg = np.repeat(np.arange(lens.size), lens)
        order = np.lexsort((values, seg))
        return values[order], weights[order]
    # segments of equal length sort as the rows of a matrix: much faster than a lexsort
    values, weights = values.copy(), weights.copy()
    seg_starts = offsets[:-1][unsorted]
    for n in distinct:
        rows = seg_starts[todo_lens == n][:, None] + np.arange(n)
        block = values[rows]
        order = np.argsort(block, axis=1, kind="stable")
        values[rows] = np.take_along_axis(block, order, axis=1)
        if not same_weight:
            weights[rows] = np.take_along_axis(weights[rows], order, axis=1)
    return values, weights


def consolidate(blocks: Sequence[_Block]) -> SeriesData:
    """Merge blocks into one :class:`SeriesData`: sort by time, merge equal timestamps."""
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return EMPTY
    if len(blocks) == 1 and isinstance(blocks[0], SeriesData):
        return blocks[0]
    if len(blocks) == 1:  # a pending block owns its arrays (put_aggregates copied them)
        b = blocks[0]
        ts, sums, counts, mins, maxs = b.timestamps, b.sums, b.counts, b.mins, b.maxs
        complete, raw_v, raw_w, off = b.raw_complete, b.raw_values, b.raw_weights, b.raw_offsets
    else:
        ts = np.concatenate([b.timestamps for b in blocks])
        sums = np.concatenate([b.sums for b in blocks])
        counts = np.concatenate([b.counts for b in blocks])
        mins = np.concatenate([b.mins for b in blocks])
        maxs = np.concatenate([b.maxs for b in blocks])
        complete = np.concatenate([b.raw_complete for b in blocks])
        raw_v = np.concatenate([b.raw_values for b in blocks])
        raw_w = np.concatenate([b.raw_weights for b in blocks])
        lens = np.concatenate([np.diff(b.raw_offsets) for b in blocks])
        off = np.zeros(ts.size + 1, dtype=np.int64)
        np.cumsum(lens, out=off[1:])

    if ts.size > 1 and (np.diff(ts) < 0).any():
        order = np.argsort(ts, kind="stable")
        ts, sums, counts = ts[order], sums[order], counts[order]
        mins, maxs, complete = mins[order], maxs[order], complete[order]
        elem, off = _gather_segments(off, order)
        raw_v, raw_w = raw_v[elem], raw_w[elem]

    if ts.size > 1:
        dup = np.diff(ts) == 0
        if dup.any():
            starts = np.flatnonzero(np.concatenate(([True], ~dup)))
            ts = ts[starts]
            sums = np.add.reduceat(sums, starts)
            counts = np.add.reduceat(counts, starts)
            mins = np.minimum.reduceat(mins, starts)
            maxs = np.maximum.reduceat(maxs, starts)
            complete = np.logical_and.reduceat(complete, starts)
            # merged datapoints are adjacent, so their raw segments already are too
            off = np.concatenate((off[starts], off[-1:]))
    raw_v, raw_w = _sort_within_segments(off, raw_v, raw_w)
    return SeriesData(ts, sums, counts, mins, maxs, off, raw_v, raw_w, complete)


_COLUMNS = {
    "timestamps": np.int64,
    "sums": np.float64,
    "counts": np.float64,
    "mins": np.float64,
    "maxs": np.float64,
    "raw_complete": np.bool_,
}
_RAW_COLUMNS = {"raw_values": np.float64, "raw_weights": np.float64}
_ORDER = (  # _Block's positional arguments
    "timestamps", "sums", "counts", "mins", "maxs", "raw_offsets", "raw_values", "raw_weights",
    "raw_complete",
)  # fmt: skip


class _Growable:
    """Columns with spare capacity behind a snapshot: appending datapoints newer than the
    last one writes past the snapshot's end and publishes a longer view, in time proportional
    to the new datapoints (amortised), instead of copying the whole series. Earlier snapshots
    stay valid: nothing they can see is ever written again."""

    __slots__ = ("arrays", "m", "n", "published")

    def __init__(self, data: SeriesData) -> None:
        # adopt the snapshot's own (read-only) arrays; the first append grows into new ones
        self.arrays: dict[str, np.ndarray] = {
            name: getattr(data, name) for name in (*_COLUMNS, *_RAW_COLUMNS, "raw_offsets")
        }
        self.n, self.m = len(data), int(data.raw_values.size)
        self.published = data

    def _reserve(self, n: int, m: int) -> None:
        a = self.arrays
        if n > a["timestamps"].size or n + 1 > a["raw_offsets"].size:
            cap = max(n, self.n + self.n // 4 + 64)
            for name, dtype in (*_COLUMNS.items(), ("raw_offsets", np.int64)):
                size = cap + 1 if name == "raw_offsets" else cap
                used = self.n + 1 if name == "raw_offsets" else self.n
                grown: np.ndarray = np.empty(size, dtype=dtype)
                grown[:used] = a[name][:used]
                a[name] = grown
        if m > a["raw_values"].size:
            cap = max(m, self.m + self.m // 4 + 64)
            for name in _RAW_COLUMNS:
                grown = np.empty(cap, dtype=np.float64)
                grown[: self.m] = a[name][: self.m]
                a[name] = grown

    def append(self, new: SeriesData) -> SeriesData:
        """The published snapshot followed by ``new`` (all of whose timestamps are later)."""
        old, k, mk = self.published, len(new), int(new.raw_values.size)
        n, m = self.n + k, self.m + mk
        self._reserve(n, m)
        a = self.arrays
        for name in _COLUMNS:
            a[name][self.n : n] = getattr(new, name)
        a["raw_offsets"][self.n + 1 : n + 1] = new.raw_offsets[1:] + self.m
        if mk:
            for name in _RAW_COLUMNS:
                a[name][self.m : m] = getattr(new, name)
        gap = int(new.timestamps[0] - old.timestamps[-1])
        used = {"raw_offsets": n + 1, "raw_values": m, "raw_weights": m}
        data = SeriesData(
            *(a[name][: used.get(name, n)] for name in _ORDER),
            min_step=min(old.min_step, new.min_step, gap),
            alignment=math.gcd(old.alignment, new.alignment),
            inherited=(old.cache, self.n),
        )
        self.n, self.m, self.published = n, m, data
        return data


class _UnitColumns:
    """The mutable holder of one (series, unit): a published snapshot plus pending chunks."""

    __slots__ = ("_data", "_growable", "_lock", "_pending")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: SeriesData = EMPTY
        self._pending: list[_Block] = []
        self._growable: _Growable | None = None

    def append(self, block: _Block) -> None:
        with self._lock:
            self._pending.append(block)

    def snapshot(self) -> SeriesData:
        if not self._pending:  # the common read: no lock, no work
            return self._data
        with self._lock:
            if self._pending:
                self._data = self._merge(consolidate(self._pending))
                self._pending = []
            return self._data

    def _merge(self, new: SeriesData) -> SeriesData:
        old = self._data
        if not len(old):
            merged = new
        elif len(new) and new.timestamps[0] > old.timestamps[-1]:
            # the live case (minute after minute): append in place, no full copy
            if self._growable is None or self._growable.published is not old:
                self._growable = _Growable(old)
            return self._growable.append(new)
        else:  # late or revised datapoints: merge everything
            merged = consolidate([old, new])
        self._growable = None
        return merged


class Series:
    """One metric: its key, its columns per unit, and when it last had a datapoint."""

    __slots__ = ("_lock", "_merged", "_units", "key", "last_timestamp")

    def __init__(self, key: SeriesKey) -> None:
        self.key = key
        self._lock = threading.Lock()
        self._units: dict[str, _UnitColumns] = {}
        self._merged: tuple[list[SeriesData], SeriesData] | None = None
        # newest datapoint timestamp (epoch s); ListMetrics' two-week and PT3H filters use it
        self.last_timestamp: int | None = None

    def _append(self, unit: str, block: _Block) -> None:
        with self._lock:
            cols = self._units.get(unit)
            if cols is None:
                cols = self._units[unit] = _UnitColumns()
            newest = int(block.timestamps.max())
            if self.last_timestamp is None or newest > self.last_timestamp:
                self.last_timestamp = newest
        cols.append(block)

    @property
    def units(self) -> list[str]:
        return sorted(self._units)

    def unit_snapshots(self) -> dict[str, SeriesData]:
        """Consolidated data per unit (units without datapoints left out)."""
        out = {u: c.snapshot() for u, c in sorted(self._units.items())}
        return {u: d for u, d in out.items() if len(d)}

    def snapshot(self, unit: str | None = None) -> SeriesData:
        """Consolidated data for ``unit``, or for every unit merged when ``unit`` is None."""
        if unit is not None:
            cols = self._units.get(unit)
            return cols.snapshot() if cols is not None else EMPTY
        parts = [c.snapshot() for _, c in sorted(self._units.items())]
        if len(parts) == 1:
            return parts[0]
        merged = self._merged  # valid while every unit's snapshot is the same object
        if (
            merged is not None
            and len(merged[0]) == len(parts)
            and all(a is b for a, b in zip(merged[0], parts, strict=True))
        ):
            return merged[1]
        data = consolidate(parts)
        self._merged = (parts, data)
        return data


class MetricStore:
    """All datapoints of one account and region, indexed by :class:`SeriesKey`.

    Thread-safe: one lock guards the index (series creation), one lock per series guards its
    writes; reads take immutable snapshots (see the module docstring).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, Series] = {}

    # ------------------------------------------------------------------ index

    def __len__(self) -> int:
        return len(self._series)

    def get(
        self,
        namespace: str,
        metric_name: str,
        dimensions: Mapping[str, str] | Sequence[Any] | None = None,
    ) -> Series | None:
        return self._series.get(SeriesKey(namespace, metric_name, canonical_dimensions(dimensions)))

    def get_key(self, key: SeriesKey) -> Series | None:
        return self._series.get(key)

    def __iter__(self) -> Iterator[Series]:
        with self._lock:
            return iter(list(self._series.values()))

    def _series_for(self, key: SeriesKey) -> Series:
        series = self._series.get(key)
        if series is None:
            with self._lock:
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = Series(key)
        return series

    def compact(self) -> None:
        """Consolidate every series now (e.g. right after a backfill), so the first query
        does not pay for sorting the new datapoints."""
        for series in self:
            series.unit_snapshots()

    # ------------------------------------------------------------------ bulk writes

    def put_aggregates(
        self,
        namespace: str,
        metric_name: str,
        dimensions: Mapping[str, str] | Sequence[Any] | None,
        unit: str | None,
        timestamps: np.ndarray | Sequence[int],
        sums: np.ndarray | Sequence[float],
        counts: np.ndarray | Sequence[float],
        mins: np.ndarray | Sequence[float],
        maxs: np.ndarray | Sequence[float],
        values: Sequence[np.ndarray | Sequence[float] | None] | RawValues | None = None,
        *,
        storage_resolution: int = 60,
    ) -> None:
        """Store N datapoints of one series, each a statistic set, in one vectorised append.

        ``timestamps`` are int epoch seconds (UTC), in any order. ``sums``/``counts``/``mins``/
        ``maxs`` are what PutMetricData's StatisticValues carry (Sum, SampleCount, Minimum,
        Maximum) per datapoint. ``values`` optionally gives the raw samples of each datapoint,
        so percentiles and trimmed means work: a list with one array (or None) per datapoint,
        or a :class:`RawValues` in CSR form (the fast way for large backfills). Without raw
        values a datapoint still yields percentiles when CloudWatch could (``count == 1``, or
        ``min == max``: every sample had that value), as AWS documents for statistic sets.
        Raw values must agree with the statistic set (caller's responsibility: not checked).

        ``storage_resolution`` 60 stores each datapoint at the start of its minute, 1 at its
        second. This is the simulated world's back door: no AWS-side validation (timestamp age,
        namespace) happens here; malformed arrays raise ``ValueError``.
        """
        # private copies: the store freezes and keeps what it is given
        ts = np.array(timestamps, dtype=np.int64).reshape(-1)
        n = ts.size
        cols = [np.array(a, dtype=np.float64).reshape(-1) for a in (sums, counts, mins, maxs)]
        if any(c.size != n for c in cols):
            raise ValueError("timestamps, sums, counts, mins and maxs must have the same length")
        if n == 0:
            return
        s, c, lo, hi = cols
        if not (np.isfinite(s).all() and np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("sums, mins and maxs must be finite")
        if not (np.isfinite(c).all() and (c > 0).all()):
            raise ValueError("counts must be finite and > 0")
        if storage_resolution not in (1, 60):
            raise ValueError("storage_resolution must be 1 or 60")
        if storage_resolution == 60:
            ts -= ts % 60

        if values is None:
            raw = None
        elif isinstance(values, RawValues):
            raw = values
        else:
            if len(values) != n:
                raise ValueError("values must have one entry per datapoint")
            raw = RawValues.from_lists(values)

        if raw is None:
            off = np.zeros(n + 1, dtype=np.int64)
            raw_v, raw_w = np.zeros(0), np.zeros(0)
            complete = np.zeros(n, dtype=bool)
        else:
            off = np.array(raw.offsets, dtype=np.int64).reshape(-1)
            raw_v = np.array(raw.values, dtype=np.float64).reshape(-1)
            raw_w = (
                _ones(raw_v.size)
                if raw.weights is None
                else np.array(raw.weights, dtype=np.float64).reshape(-1)
            )
            if (
                off.size != n + 1
                or off[0] != 0
                or off[-1] != raw_v.size
                or raw_w.size != raw_v.size
            ):
                raise ValueError("raw values: offsets must have N+1 entries spanning values")
            if not np.isfinite(raw_v).all() or not (raw_w > 0).all():
                raise ValueError("raw values must be finite, with weights > 0")
            complete = np.diff(off) > 0
            if raw.complete is not None:
                complete &= np.asarray(raw.complete, dtype=bool)

        # a statistic set whose samples all had one value is as good as raw values (AWS: "the
        # Min and Max are equal, and Sum is equal to Min multiplied by SampleCount"; that holds
        # whenever SampleCount is 1 too); give those datapoints that raw value
        implied = ~complete & (lo == hi)
        if implied.any():
            implied[implied] = np.isclose(s[implied], (lo * c)[implied], rtol=1e-9, atol=0.0)
        if implied.any():
            off, raw_v, raw_w = _add_single_values(off, raw_v, raw_w, implied, lo, c)
            complete = complete | implied

        block = _Block(ts, s, c, lo, hi, off, raw_v, raw_w, complete)
        key = SeriesKey(namespace, metric_name, canonical_dimensions(dimensions))
        self._series_for(key)._append(unit or DEFAULT_UNIT, block)

    def put_values(
        self,
        namespace: str,
        metric_name: str,
        dimensions: Mapping[str, str] | Sequence[Any] | None,
        unit: str | None,
        timestamps: np.ndarray | Sequence[int],
        values: np.ndarray | Sequence[float],
        *,
        counts: np.ndarray | Sequence[float] | None = None,
        storage_resolution: int = 60,
    ) -> None:
        """Store single samples: ``values[i]`` observed ``counts[i]`` times (default 1) at
        ``timestamps[i]`` (int epoch seconds, UTC). Samples in the same minute (or second, for
        ``storage_resolution=1``) merge into one datapoint, as PutMetricData's would.
        """
        v = _as_f64(values)
        w = np.ones(v.size) if counts is None else _as_f64(counts)
        if w.size != v.size:
            raise ValueError("counts must have the length of values")
        if not np.isfinite(v).all():
            raise ValueError("values must be finite")
        off = np.arange(v.size + 1, dtype=np.int64)
        self.put_aggregates(
            namespace,
            metric_name,
            dimensions,
            unit,
            timestamps,
            v * w,
            w,
            v,
            v,
            RawValues(off, v, None if counts is None else w),
            storage_resolution=storage_resolution,
        )


def _add_single_values(
    off: np.ndarray,
    raw_v: np.ndarray,
    raw_w: np.ndarray,
    mask: np.ndarray,
    value: np.ndarray,
    weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give every datapoint in ``mask`` (which has no raw values yet) one raw value."""
    lens = np.diff(off)
    if raw_v.size == 0:
        new_lens = mask.astype(np.int64)
        new_off = np.zeros(off.size, dtype=np.int64)
        np.cumsum(new_lens, out=new_off[1:])
        return new_off, value[mask].copy(), weight[mask].copy()
    # keep existing raw values of unmasked datapoints, drop any of masked (incomplete) ones
    keep = ~mask
    elem_keep = np.repeat(keep, lens)
    new_lens = np.where(mask, 1, lens)
    new_off = np.zeros(off.size, dtype=np.int64)
    np.cumsum(new_lens, out=new_off[1:])
    out_v = np.empty(int(new_off[-1]))
    out_w = np.empty(int(new_off[-1]))
    elem_pos = np.flatnonzero(np.repeat(keep, new_lens))
    out_v[elem_pos] = raw_v[elem_keep]
    out_w[elem_pos] = raw_w[elem_keep]
    out_v[new_off[:-1][mask]] = value[mask]
    out_w[new_off[:-1][mask]] = weight[mask]
    return new_off, out_v, out_w
