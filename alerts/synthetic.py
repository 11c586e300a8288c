"""Labelled synthetic corpora in the NAB layout, shaped like the CloudWatch metrics we read.

No public anomaly corpus ships with stormwatch, and the sandbox world's series are few, so
:func:`write_corpus` makes one: seeded, deterministic, vectorised, with ground truth. Each file
is one series of 2k–10k points at a 1-minute or 5-minute period and carries the traits that make
real metrics hard:

- ``seasonal``: daily cycle and weekend dip, gaussian or heavy-tailed (Student t, 3 dof) noise;
  anomalies are spikes and dips of a few points;
- ``level_shift``: the same base; anomalies are sustained shifts up or down (the anomaly is the
  shift's start; the new level then holds);
- ``sparse_counts``: mostly zeros, Poisson with a low (daily-modulated) rate; anomalies are
  bursts of counts;
- ``latency``: log-normal (heavy right tail) around a daily cycle; anomalies are degradations
  (the log-median rises for a while);
- ``noise_burst``: seasonal base; anomalies are spells of much larger variance, same mean;
- ``trend_gaps``: a slow trend over the whole file (not an anomaly) and missing rows; anomalies
  are spikes and dips.
- ``autocorrelated``: utilisation-like AR(1) noise on a wandering level, within 0–100, rounded
  to 0.1; anomalies are spikes and plateaus;
- ``periodic_jobs``: a scheduled job spikes the metric every 15–60 minutes (normal); anomalies
  are a job that runs on;
- ``request_counts``: integer counts at a moderate rate; anomalies are outages and surges;
- ``ramp``: anomalies are leaks, a slow climb and a sudden return.

Any series may also lose rows (gaps); the rows around each anomaly's onset are always kept.
Labels follow NAB: one window per anomaly, of ``10% × rows ⁄ anomalies`` rows, centred on the
onset (so it opens half a window before it) and snapped to existing timestamps; anomalies sit
after NAB's 15% probationary period and windows never overlap.

    python -m alerts.synthetic OUT_DIR [--seed N] [--files-per-kind K]

writes ``OUT_DIR/data/<kind>/<kind>_<k>.csv`` (``timestamp,value``),
``OUT_DIR/labels/combined_windows.json`` and, for reference, the anomalies themselves in
``OUT_DIR/labels/anomalies.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

KINDS: tuple[str, ...] = (
    "seasonal",
    "level_shift",
    "sparse_counts",
    "latency",
    "noise_burst",
    "trend_gaps",
    "autocorrelated",
    "periodic_jobs",
    "request_counts",
    "ramp",
)
PERIODS_S: tuple[int, ...] = (60, 300)
LENGTHS: tuple[int, int] = (2000, 10000)
WINDOW_SHARE = 0.10  # NAB: windows cover 10% of a file, split between its anomalies
FIRST_ONSET = 0.20  # anomalies start after NAB's 15% probation, with room for the window
LAST_ONSET = 0.95
CSV_TIME = "%Y-%m-%d %H:%M:%S"  # NAB's data files
LABEL_TIME = "%Y-%m-%d %H:%M:%S.%f"  # NAB's label files


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One injected anomaly: what it is, its first row and time, and how many rows it lasts."""

    kind: str
    onset: pd.Timestamp
    rows: int


@dataclass(frozen=True, slots=True)
class Series:
    """One generated file: its path relative to ``data/``, its frame, anomalies and windows."""

    path: str
    frame: pd.DataFrame  # timestamp (UTC), value
    period_s: int
    anomalies: tuple[Anomaly, ...]
    windows: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]


@dataclass(frozen=True, slots=True)
class SyntheticCorpus:
    root: Path
    data_dir: Path
    labels_path: Path
    series: tuple[Series, ...]


@dataclass(slots=True)
class _Draft:
    """A series while it is being built: its clock, values and the anomalies injected so far."""

    rng: np.random.Generator
    seconds: np.ndarray  # epoch seconds per row
    values: np.ndarray
    onsets: np.ndarray  # row of each anomaly's onset
    kinds: list[str]
    durations: list[int]

    @property
    def n(self) -> int:
        return len(self.seconds)


def _daily(seconds: np.ndarray, phase: float) -> np.ndarray:
    return np.sin(2 * np.pi * (seconds % 86400) / 86400 + phase)


def _weekend(seconds: np.ndarray) -> np.ndarray:
    """1.0 on Saturdays and Sundays (UTC), else 0.0. 1970-01-01 was a Thursday."""
    weekday = (seconds // 86400 + 3) % 7  # 0 = Monday
    return (weekday >= 5).astype(np.float64)


def _seasonal_base(d: _Draft) -> tuple[np.ndarray, float]:
    """A daily cycle with a weekend dip, plus noise; returns the values and the noise σ."""
    rng = d.rng
    level = rng.uniform(50, 500)
    shape = (
        level
        * (1 + rng.uniform(0.1, 0.4) * _daily(d.seconds, rng.uniform(0, 2 * np.pi)))
        * (1 - rng.uniform(0.1, 0.3) * _weekend(d.seconds))
    )
    sigma = level * rng.uniform(0.02, 0.06)
    if rng.random() < 0.5:
        noise = rng.normal(0, sigma, d.n)
    else:  # heavy-tailed: Student t with 3 dof, scaled to the same σ
        noise = rng.standard_t(3, d.n) * sigma / np.sqrt(3.0)
    return shape + noise, sigma


def _spikes(d: _Draft, sigma: float) -> None:
    for k, onset in enumerate(d.onsets):
        rows = int(d.rng.integers(1, 4))
        sign = 1.0 if d.rng.random() < 0.6 else -1.0
        d.values[onset : onset + rows] += sign * d.rng.uniform(6, 12) * sigma
        d.kinds[k], d.durations[k] = ("spike" if sign > 0 else "dip"), rows


def _seasonal(d: _Draft) -> None:
    d.values, sigma = _seasonal_base(d)
    _spikes(d, sigma)


def _level_shift(d: _Draft) -> None:
    d.values, sigma = _seasonal_base(d)
    for k, onset in enumerate(d.onsets):
        sign = 1.0 if d.rng.random() < 0.5 else -1.0
        d.values[onset:] += sign * d.rng.uniform(5, 10) * sigma
        d.kinds[k] = "shift-up" if sign > 0 else "shift-down"
        d.durations[k] = d.n - int(onset)
    d.values = np.maximum(d.values, 0.0)


def _sparse_counts(d: _Draft) -> None:
    rng = d.rng
    rate = rng.uniform(0.02, 0.3) * (1 + 0.5 * _daily(d.seconds, rng.uniform(0, 2 * np.pi)))
    for k, onset in enumerate(d.onsets):
        rows = int(rng.integers(5, 31))
        rate[onset : onset + rows] = rng.uniform(3, 10)
        d.kinds[k], d.durations[k] = "burst", rows
    d.values = rng.poisson(rate).astype(np.float64)


def _latency(d: _Draft) -> None:
    rng = d.rng
    log_median = np.log(rng.uniform(50, 400)) + 0.2 * _daily(d.seconds, rng.uniform(0, 2 * np.pi))
    for k, onset in enumerate(d.onsets):
        rows = int(rng.integers(20, 121))
        log_median[onset : onset + rows] += rng.uniform(0.8, 1.5)
        d.kinds[k], d.durations[k] = "degradation", rows
    d.values = np.exp(log_median + rng.uniform(0.2, 0.5) * rng.normal(size=d.n))


def _noise_burst(d: _Draft) -> None:
    values, sigma = _seasonal_base(d)
    for k, onset in enumerate(d.onsets):
        rows = int(d.rng.integers(30, 201))
        stop = min(onset + rows, d.n)
        values[onset:stop] += d.rng.normal(0, d.rng.uniform(4, 8) * sigma, stop - onset)
        d.kinds[k], d.durations[k] = "variance", stop - int(onset)
    d.values = values


def _trend_gaps(d: _Draft) -> None:
    values, sigma = _seasonal_base(d)
    change = d.rng.uniform(-0.5, 1.0)
    values *= 1 + change * np.linspace(0.0, 1.0, d.n)  # slow drift: not an anomaly
    d.values = values
    _spikes(d, sigma)


def _autocorrelated(d: _Draft) -> None:
    """Utilisation-like: AR(1) noise (each point leans on the last) on a wandering level, kept
    within 0–100 and rounded to 0.1, as CPU percentages are."""
    rng = d.rng
    phi = rng.uniform(0.7, 0.95)
    sigma = rng.uniform(1.0, 4.0)  # stationary σ of the AR noise
    shocks = rng.normal(0, sigma * np.sqrt(1 - phi**2), d.n)
    # AR(1) as a linear filter, vectorised: x_t = sum_k phi^k e_(t-k), via a scaled cumsum in
    # chunks short enough that phi^-k stays finite.
    noise = np.empty(d.n)
    carry, chunk = 0.0, 200
    for a in range(0, d.n, chunk):
        e = shocks[a : a + chunk]
        k = np.arange(len(e))
        x = phi**k * (carry * phi + np.cumsum(e * phi ** (-k)))
        noise[a : a + len(e)] = x
        carry = x[-1]
    wander = np.cumsum(rng.normal(0, sigma * 0.02, d.n))  # a slow random walk, not an anomaly
    level = rng.uniform(15, 60) * (1 + 0.2 * _daily(d.seconds, rng.uniform(0, 2 * np.pi)))
    values = level + wander + noise
    for k, onset in enumerate(d.onsets):
        if rng.random() < 0.5:
            rows = int(rng.integers(1, 6))
            d.kinds[k] = "spike"
        else:
            rows = int(rng.integers(30, 200))
            d.kinds[k] = "plateau"
        values[onset : onset + rows] += rng.uniform(6, 10) * sigma
        d.durations[k] = min(rows, d.n - int(onset))
    d.values = np.round(np.clip(values, 0.0, 100.0), 1)


def _periodic_jobs(d: _Draft) -> None:
    """A quiet base with a scheduled job every 15, 30 or 60 minutes that spikes the metric for a
    period or two (normal); anomalies are a job that runs on for 10–60 periods."""
    rng = d.rng
    values, sigma = _seasonal_base(d)
    every = int(rng.choice([900, 1800, 3600]))
    runs = max(int(rng.integers(60, 181)) // int(d.seconds[1] - d.seconds[0]), 1)
    job_height = rng.uniform(8, 20) * sigma
    in_job = (d.seconds % every) < runs * (d.seconds[1] - d.seconds[0])
    values = values + job_height * in_job
    for k, onset in enumerate(d.onsets):
        rows = int(rng.integers(10, 61))
        values[onset : onset + rows] += job_height * (1 - in_job[onset : onset + rows])
        d.kinds[k], d.durations[k] = "runaway-job", min(rows, d.n - int(onset))
    d.values = values


def _request_counts(d: _Draft) -> None:
    """Integer counts at a moderate rate (5–200 per period) with a daily cycle; anomalies are an
    outage (counts fall to a tenth or nothing) or a surge (3–5×), for 5–40 periods."""
    rng = d.rng
    rate = rng.uniform(5, 200) * (1 + 0.5 * _daily(d.seconds, rng.uniform(0, 2 * np.pi)))
    rate *= 1 - rng.uniform(0.1, 0.4) * _weekend(d.seconds)
    for k, onset in enumerate(d.onsets):
        rows = int(rng.integers(5, 41))
        if rng.random() < 0.5:
            rate[onset : onset + rows] *= rng.choice([0.0, 0.1])
            d.kinds[k] = "outage"
        else:
            rate[onset : onset + rows] *= rng.uniform(3, 5)
            d.kinds[k] = "surge"
        d.durations[k] = min(rows, d.n - int(onset))
    d.values = rng.poisson(rate).astype(np.float64)


def _ramp(d: _Draft) -> None:
    """Seasonal base; anomalies are leaks: a steady climb of 8–15σ over 60–300 periods that
    drops back at once (a restart)."""
    values, sigma = _seasonal_base(d)
    for k, onset in enumerate(d.onsets):
        rows = min(int(d.rng.integers(60, 301)), d.n - int(onset))
        values[onset : onset + rows] += np.linspace(0, d.rng.uniform(8, 15) * sigma, rows)
        d.kinds[k], d.durations[k] = "leak", rows
    d.values = values


GENERATORS: dict[str, Callable[[_Draft], None]] = {
    "seasonal": _seasonal,
    "level_shift": _level_shift,
    "sparse_counts": _sparse_counts,
    "latency": _latency,
    "noise_burst": _noise_burst,
    "trend_gaps": _trend_gaps,
    "autocorrelated": _autocorrelated,
    "periodic_jobs": _periodic_jobs,
    "request_counts": _request_counts,
    "ramp": _ramp,
}


def _onsets(rng: np.random.Generator, n: int, count: int, window_rows: int) -> np.ndarray:
    """One onset per equal slice of [20%, 95%) of the file, far enough from the slice's edges
    that the centred windows stay apart."""
    lo, hi = int(FIRST_ONSET * n), int(LAST_ONSET * n)
    edges = np.linspace(lo, hi, count + 1)
    margin = window_rows // 2 + 2
    return np.array(
        [
            int(rng.integers(int(a) + margin, max(int(b) - margin, int(a) + margin + 1)))
            for a, b in itertools.pairwise(edges)
        ],
        dtype=np.int64,
    )


def _gaps(
    rng: np.random.Generator, n: int, protect: list[tuple[int, int]], count: int
) -> np.ndarray:
    """A keep-mask that drops ``count`` runs of 10 to ``n / 50`` rows (200 in a 10k file),
    never inside ``protect`` spans."""
    keep = np.ones(n, dtype=bool)
    starts = rng.integers(int(0.05 * n), n - 1, count)
    lengths = rng.integers(10, max(n // 50, 10) + 1, count)
    for start, length in zip(starts, lengths, strict=True):
        keep[start : start + length] = False
    for first, last in protect:
        keep[max(first, 0) : last + 1] = True
    return keep


def generate_series(
    kind: str,
    rng: np.random.Generator,
    *,
    name: str,
    lengths: tuple[int, int] = LENGTHS,
) -> Series:
    """One labelled series of ``kind`` (see :data:`KINDS`) drawn from ``rng``."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown series kind {kind!r}; expected one of {', '.join(KINDS)}")
    n = int(rng.integers(lengths[0], lengths[1] + 1))
    period = int(rng.choice(PERIODS_S))
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 60)))
    count = int(rng.integers(1, 4))
    window_rows = max(int(WINDOW_SHARE * n / count), 2)
    draft = _Draft(
        rng=rng,
        seconds=start.value // 10**9 + period * np.arange(n, dtype=np.int64),
        values=np.zeros(n),
        onsets=_onsets(rng, n, count, window_rows),
        kinds=[kind] * count,
        durations=[1] * count,
    )
    GENERATORS[kind](draft)

    gap_count = int(rng.integers(2, 7)) if kind == "trend_gaps" else int(rng.random() < 0.3)
    protect = [(int(o) - window_rows, int(o) + window_rows) for o in draft.onsets]
    keep = _gaps(rng, n, protect, gap_count) if gap_count else np.ones(n, dtype=bool)
    times = pd.to_datetime(draft.seconds[keep], unit="s", utc=True)
    frame = pd.DataFrame({"timestamp": times, "value": draft.values[keep]})

    # NAB centres each window on the anomaly and snaps it to rows present in the file.
    half = pd.Timedelta(seconds=period * window_rows / 2)
    index = pd.DatetimeIndex(times)
    anomalies, windows = [], []
    for onset, label, rows in zip(draft.onsets, draft.kinds, draft.durations, strict=True):
        at = pd.Timestamp(draft.seconds[onset], unit="s", tz="UTC")
        lo = index[index.searchsorted(at - half, side="left")]
        hi = index[index.searchsorted(at + half, side="right") - 1]
        anomalies.append(Anomaly(label, at, int(rows)))
        windows.append((lo, hi))
    return Series(name, frame, period, tuple(anomalies), tuple(windows))


def generate_corpus(
    *,
    seed: int = 0,
    files_per_kind: int = 3,
    kinds: Sequence[str] = KINDS,
    lengths: tuple[int, int] = LENGTHS,
) -> list[Series]:
    """``files_per_kind`` series of each kind; file ``k`` of a kind depends only on
    ``(seed, kind, k)``, so adding kinds or files never changes the others."""
    if files_per_kind < 1:
        raise ValueError(f"files_per_kind must be at least 1, got {files_per_kind}")
    if not 10 <= lengths[0] <= lengths[1]:
        raise ValueError(f"lengths must satisfy 10 <= min <= max, got {lengths}")
    corpus = []
    for kind in kinds:
        kind_key = KINDS.index(kind) if kind in KINDS else -1
        for k in range(files_per_kind):
            rng = np.random.default_rng([seed, kind_key + 1, k])
            corpus.append(
                generate_series(kind, rng, name=f"{kind}/{kind}_{k}.csv", lengths=lengths)
            )
    return corpus


def write_corpus(
    folder: str | Path,
    *,
    seed: int = 0,
    files_per_kind: int = 3,
    kinds: Sequence[str] = KINDS,
    lengths: tuple[int, int] = LENGTHS,
) -> SyntheticCorpus:
    """Write a corpus under ``folder`` in the NAB layout (see the module docstring)."""
    root = Path(folder)
    series = generate_corpus(seed=seed, files_per_kind=files_per_kind, kinds=kinds, lengths=lengths)
    data_dir, labels_dir = root / "data", root / "labels"
    labels: dict[str, list[list[str]]] = {}
    truth: dict[str, list[dict[str, object]]] = {}
    for s in series:
        path = data_dir / s.path
        path.parent.mkdir(parents=True, exist_ok=True)
        out = pd.DataFrame(
            {"timestamp": s.frame["timestamp"].dt.strftime(CSV_TIME), "value": s.frame["value"]}
        )
        out.to_csv(path, index=False, float_format="%.6g")
        labels[s.path] = [
            [lo.strftime(LABEL_TIME), hi.strftime(LABEL_TIME)] for lo, hi in s.windows
        ]
        truth[s.path] = [
            {"kind": a.kind, "onset": a.onset.strftime(CSV_TIME), "rows": a.rows}
            for a in s.anomalies
        ]
    labels_dir.mkdir(parents=True, exist_ok=True)
    labels_path = labels_dir / "combined_windows.json"
    labels_path.write_text(json.dumps(labels, indent=2, sort_keys=True) + "\n")
    (labels_dir / "anomalies.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return SyntheticCorpus(root, data_dir, labels_path, tuple(series))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alerts.synthetic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write data/ and labels/ in")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--files-per-kind", type=int, default=3, help="series per kind (default 3)")
    args = parser.parse_args(argv)
    if args.files_per_kind < 1:
        parser.error(f"--files-per-kind must be at least 1, got {args.files_per_kind}")
    corpus = write_corpus(args.out_dir, seed=args.seed, files_per_kind=args.files_per_kind)
    rows = sum(len(s.frame) for s in corpus.series)
    windows = sum(len(s.windows) for s in corpus.series)
    print(
        f"{len(corpus.series)} files, {rows:,} rows, {windows} windows → "
        f"{corpus.data_dir} (labels: {corpus.labels_path})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
