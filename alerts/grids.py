"""Store rows onto regular UTC grids: the shared plumbing of the rule detectors.

Two kinds of grid are used. The metric rules (:mod:`alerts.retry_storms`, :mod:`alerts.errors`)
turn the ``metrics`` table into one ``(series, period)`` array per metric name on a
:class:`Grid` of whole periods before ``now`` (:class:`MetricStore` selects rows,
:func:`matrices` places them; :func:`resource_matrices` does both for a namespace's
one-dimension series). The state rules (:mod:`alerts.circuits`, :mod:`alerts.dlqs`) keep times
as epoch seconds (:func:`epoch_seconds`, :func:`timestamp`) on grids of their own, built with
:func:`period_span`, :func:`expand_spans` and :func:`first_per_period`.

Every function here is pure and deterministic; none reads the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from alerts.findings import utc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from alerts.spans import Run

EPOCH = pd.Timestamp(0, tz="UTC")
METRIC_COLUMNS = ("account", "region", "namespace", "metric", "dimensions", "stat", "ts", "value")
_KEPT = ("account", "region", "metric", "dimensions", "ts", "value")  # what rules read
RESOURCE_KEYS = ("account", "region", "resource")


# -- times ---------------------------------------------------------------------------------------


def epoch_ms(values: pd.Series) -> np.ndarray:
    """Epoch milliseconds (int64) of a column of timestamps."""
    return np.asarray(pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ms").asi8)


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Epoch seconds (float, NaN for missing) of a column of timestamps."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.float64)
    stamps = pd.to_datetime(values, utc=True)
    delta = (stamps - EPOCH) / pd.Timedelta(seconds=1)
    return np.asarray(delta.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def seconds_of(stamp: Any) -> float:
    """Epoch seconds of one timestamp (naive ones are taken as UTC)."""
    return float((utc(stamp) - EPOCH) / pd.Timedelta(seconds=1))


def timestamp(seconds: float) -> pd.Timestamp:
    """The UTC timestamp of epoch ``seconds``, to the millisecond."""
    return pd.Timestamp(round(seconds * 1000), unit="ms", tz="UTC")


# -- the metric grid -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """Periods ``[start_ms + i * period_ms, ...)``, ``i < n``: complete periods before ``now``."""

    start_ms: int
    period_s: int
    n: int

    @property
    def period_ms(self) -> int:
        return self.period_s * 1000

    def at(self, index: int) -> pd.Timestamp:
        """The start of period ``index`` (``index == n`` is the end of the grid)."""
        return pd.Timestamp(self.start_ms + index * self.period_ms, unit="ms", tz="UTC")

    def times(self, run: Run) -> tuple[pd.Timestamp, pd.Timestamp | None, pd.Timestamp]:
        """``start``, ``end`` (None while ongoing) and ``detected_at`` of a run on this grid."""
        start = self.at(run.first)
        end = None if run.ongoing else self.at(run.last + 1)
        return start, end, self.at(run.detected + 1)


def grid_for(ms: np.ndarray, now: pd.Timestamp, period_s: int) -> Grid | None:
    """The grid from the period holding the earliest datapoint (``ms``, epoch milliseconds) to
    the last period ended by ``now``; None when there is no datapoint or no complete period."""
    if len(ms) == 0:
        return None
    period_ms = period_s * 1000
    end = int(utc(now).value // 1_000_000) // period_ms  # Timestamp.value is in nanoseconds
    first = int(np.min(ms)) // period_ms
    n = int(end - first)
    return Grid(first * period_ms, period_s, n) if n > 0 else None


# -- dimensions ----------------------------------------------------------------------------------


def parse_dimensions(text: object) -> dict[str, str]:
    """``"A=1,B=2"`` → ``{"A": "1", "B": "2"}`` (the store's canonical spelling); anything but a
    string (None, NaN) has no dimensions."""
    out: dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if sep:
            out[name.strip()] = value.strip()
    return out


def per_value(column: pd.Series, func: Callable[[Any], Any], dtype: Any = object) -> np.ndarray:
    """``func`` of each row's value, computed once per distinct value."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    mapped = np.array([func(u) for u in uniques], dtype=dtype)
    return mapped[codes] if len(mapped) else np.array([], dtype=dtype)


def dimension_values(column: pd.Series, name: str) -> pd.Series:
    """The value of dimension ``name`` in each dimensions text (None when absent)."""
    lookup = {u: parse_dimensions(u).get(name) for u in pd.unique(column)}
    return column.map(lookup)


def only_dimension(rows: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Rows whose series has exactly one dimension, ``dimension`` (not per-alias, per-version)."""
    prefix = f"{dimension}="
    keep = per_value(
        rows["dimensions"], lambda d: str(d).startswith(prefix) and "," not in str(d), bool
    )
    return rows[keep]


def resource_column(rows: pd.DataFrame, prefix: str, dimension: str) -> np.ndarray:
    """The store's ``resource`` spelling (``<prefix>:<value>``; a Step Functions ARN gives its
    name), derived from the dimension where a row lacks it."""

    def derive(dims: Any) -> str:
        value = parse_dimensions(str(dims)).get(dimension, "")
        if dimension == "StateMachineArn":
            value = value.rsplit(":", 1)[-1]
        return f"{prefix}:{value}"

    derived = per_value(rows["dimensions"], derive)
    if "resource" not in rows.columns:
        return derived
    given = per_value(rows["resource"], lambda r: r if isinstance(r, str) and r else "")
    return np.where(given != "", given, derived)


# -- metric rows → matrices ----------------------------------------------------------------------


def has_columns(frame: pd.DataFrame | None, columns: Iterable[str]) -> bool:
    """``frame`` has rows and every one of ``columns``."""
    return frame is not None and not frame.empty and all(c in frame.columns for c in columns)


class MetricStore:
    """A ``metrics`` frame with its namespace, metric and statistic columns factorized once,
    so each selection is an integer comparison rather than a string scan of every row."""

    def __init__(self, metrics: pd.DataFrame | None) -> None:
        usable = has_columns(metrics, METRIC_COLUMNS)
        self.frame = metrics if usable and metrics is not None else pd.DataFrame()
        self._codes: dict[str, np.ndarray] = {}
        self._lookup: dict[str, dict[Any, int]] = {}
        if not usable:
            return
        for column in ("namespace", "metric", "stat"):
            codes, uniques = pd.factorize(self.frame[column])
            self._codes[column] = codes
            self._lookup[column] = {value: i for i, value in enumerate(uniques)}
        self._period = (
            self.frame["period_s"].to_numpy() if "period_s" in self.frame.columns else None
        )

    def select(
        self, namespace: str, names: tuple[str, ...], stat: str, period_s: int
    ) -> pd.DataFrame:
        """Rows of metrics ``names`` in ``namespace`` with ``stat`` at ``period_s`` (every
        period when the frame has no ``period_s`` column)."""
        if self.frame.empty:
            return pd.DataFrame(columns=[*METRIC_COLUMNS, "period_s", "resource"])
        ns = self._lookup["namespace"].get(namespace, -2)
        st = self._lookup["stat"].get(stat, -2)
        wanted = [self._lookup["metric"][n] for n in names if n in self._lookup["metric"]]
        mask = (self._codes["namespace"] == ns) & (self._codes["stat"] == st)
        mask &= np.isin(self._codes["metric"], wanted)
        if self._period is not None:
            mask &= self._period == period_s
        columns = [c for c in (*_KEPT, "resource") if c in self.frame.columns]
        return self.frame[columns].iloc[np.flatnonzero(mask)]


def _factorized_keys(rows: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's series number and the series' key values, sorted by ``keys``."""
    combined = np.zeros(len(rows), dtype=np.int64)
    uniques = []
    for key in keys:
        codes, values = pd.factorize(rows[key], sort=True, use_na_sentinel=False)
        uniques.append(np.asarray(values, dtype=object))
        combined = combined * max(len(values), 1) + codes
    found, inverse = np.unique(combined, return_inverse=True)
    columns: dict[str, np.ndarray] = {}
    rest = found
    for key, values in reversed(list(zip(keys, uniques, strict=True))):
        size = max(len(values), 1)
        columns[key] = values[rest % size]
        rest = rest // size
    return inverse.reshape(-1), pd.DataFrame({key: columns[key] for key in keys})


def matrices(
    rows: pd.DataFrame,
    keys: list[str],
    names: tuple[str, ...],
    grid: Grid,
    *,
    time: str = "ts",
    by: str = "metric",
    value: str = "value",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Long rows → one ``(series, period)`` array per name in ``names`` (values summed per
    cell, missing cells 0), over the union of the series' ``keys``, sorted by ``keys``.

    The same as :func:`alerts.spans.grid` with ``fill=0`` for every name at once, by integer
    indexing instead of a pivot (a week of minutes for a thousand resources in seconds)."""
    ms = epoch_ms(rows[time])
    index = (ms - grid.start_ms) // grid.period_ms
    inside = (index >= 0) & (index < grid.n)
    rows, index = rows[inside], index[inside]
    if rows.empty:
        return pd.DataFrame(columns=keys), {name: np.zeros((0, grid.n)) for name in names}
    codes, key_frame = _factorized_keys(rows, keys)
    k = len(key_frame)
    values = pd.to_numeric(rows[value], errors="coerce").to_numpy(dtype=np.float64, na_value=0.0)
    values = np.nan_to_num(values, nan=0.0)
    label_codes, labels = pd.factorize(rows[by])
    positions = {label: i for i, label in enumerate(labels)}
    out: dict[str, np.ndarray] = {}
    for name in names:
        pick = label_codes == positions.get(name, -2)
        flat = codes[pick] * grid.n + index[pick]
        out[name] = np.bincount(flat, weights=values[pick], minlength=k * grid.n).reshape(k, grid.n)
    return key_frame, out


class OnGrid(NamedTuple):
    """Series on a grid: their keys (one row per series) and one array per metric name."""

    grid: Grid
    keys: pd.DataFrame
    values: dict[str, np.ndarray]


def on_grid(
    rows: pd.DataFrame,
    names: tuple[str, ...],
    *,
    now: pd.Timestamp,
    period_s: int,
    keys: Iterable[str] = RESOURCE_KEYS,
) -> OnGrid | None:
    """``rows`` on the grid from their earliest period to the last one ended by ``now``, one
    series per distinct ``keys``; None when nothing lands on a complete period."""
    if rows.empty:
        return None
    grid = grid_for(epoch_ms(rows["ts"]), now, period_s)
    if grid is None:
        return None
    found, values = matrices(rows, list(keys), names, grid)
    return None if found.empty else OnGrid(grid, found, values)


def resource_rows(
    store: MetricStore,
    namespace: str,
    names: tuple[str, ...],
    dimension: str,
    prefix: str,
    *,
    stat: str = "Sum",
    period_s: int = 60,
) -> pd.DataFrame:
    """Rows of ``names`` in ``namespace`` whose series has exactly the one ``dimension``, with a
    ``resource`` column (``<prefix>:<dimension value>`` where the row has none)."""
    rows = only_dimension(store.select(namespace, names, stat, period_s), dimension)
    if rows.empty:
        return rows
    return rows.assign(resource=resource_column(rows, prefix, dimension))


def resource_matrices(
    store: MetricStore,
    namespace: str,
    names: tuple[str, ...],
    dimension: str,
    prefix: str,
    *,
    now: pd.Timestamp,
    stat: str = "Sum",
    period_s: int = 60,
) -> OnGrid | None:
    """One ``(resource, period)`` array per metric of ``names`` for a namespace's one-dimension
    series (e.g. ``AWS/Lambda`` by ``FunctionName``, resource ``lambda:<function>``), keyed by
    account, region and resource; None when there is nothing to judge."""
    rows = resource_rows(store, namespace, names, dimension, prefix, stat=stat, period_s=period_s)
    return on_grid(rows, names, now=now, period_s=period_s)


# -- grids in epoch seconds (state rules) --------------------------------------------------------


def period_span(first_s: float, last_s: float, now_s: float, period: float) -> tuple[float, int]:
    """``(t0, n)``: the grid of ``period`` seconds from the period holding ``first_s`` to the
    later of ``now_s`` and the period holding ``last_s`` (at least one period)."""
    t0 = math.floor(first_s / period) * period
    n = max(math.ceil((now_s - t0) / period), int((last_s - t0) // period) + 1, 1)
    return t0, n


def run_end(run: Run, t0: float, period: float) -> pd.Timestamp | None:
    """The end of ``run`` on a grid of ``period`` seconds from epoch second ``t0``: None while it
    reaches the last period, else the end of its last period."""
    return None if run.ongoing else timestamp(t0 + (run.last + 1) * period)


def expand_spans(first: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans of ``counts`` consecutive periods from ``first``, as ``(span number, period)``
    pairs: ``first=[2, 7], counts=[2, 1]`` → ``([0, 0, 1], [2, 3, 7])``."""
    span = np.repeat(np.arange(len(first)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return span, np.repeat(first, counts) + offset


def first_per_period(k: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Min of ``values`` per period index ``k`` over ``n`` periods (inf where none)."""
    out = np.full(n, math.inf)
    if len(k):
        np.minimum.at(out, k, values)
    return out
