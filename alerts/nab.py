"""The Numenta Anomaly Benchmark (NAB) scoring method, reimplemented and vectorised.

NAB rewards a detector for flagging each labelled anomaly *window* early, penalises every
detection outside the windows, and normalises so the null detector (never fires) scores 0 and a
perfect one (fires at the first point of every window, nowhere else) scores 100. This module is
a faithful port of the published scorer (numenta/NAB ``nab/sweeper.py``, ``nab/scorer.py`` and
``nab/runner.py``'s normalisation), rewritten over numpy arrays so a corpus of hundreds of files
of tens of thousands of points is swept in one O(n log n) pass.

Per point ``i`` of a file (rows in time order, windows ``[l, r]`` as inclusive row indices):

- inside a window of width ``w = r - l + 1``: ``position = -(r - i + 1) / w`` (``-1`` at the
  window's first row, ``-1/w`` at its last) and the point is worth
  ``tp_weight * scaled_sigmoid(position) / scaled_sigmoid(-1)``, so a detection on the first row
  earns exactly ``tp_weight``;
- outside, after a window that ended on row ``r'`` with width ``w'``:
  ``position = (i - r') / (w' - 1)`` and the point is worth ``fp_weight * scaled_sigmoid(position)``
  (negative; near ``0`` just after the window, ``-fp_weight`` far from it);
- outside, before any window: ``-fp_weight``.

``scaled_sigmoid(x) = 2 / (1 + exp(5x)) - 1``, and ``-1`` for ``x >= 3``. The first
``min(floor(0.15 * rows), 0.15 * 5000)`` rows of each file are the probationary period: their
detections are ignored. At a threshold ``T`` a point is a detection when its anomaly score is
``>= T``. A file's raw score is the sum over its out-of-window detections, plus, for each
window, the value of its earliest detection (the largest in-window value) or ``-fn_weight`` when
nothing in it fired. NAB sweeps ``T`` over every distinct anomaly score of the corpus and keeps
the ``T`` with the highest total (on a tie, the highest ``T``, as NAB's ``max`` over a list in
descending threshold order does), then normalises::

    score = 100 * (raw - null) / (perfect - null),  null = -fn_weight * windows,
                                                    perfect = tp_weight * windows

As in NAB's sweeper, a window lying wholly inside the probationary period is not scored (it
can be neither detected nor missed), though it still positions the false positives after it.
Two departures, both only where NAB cannot run or cannot be matched: a window of one row makes
NAB divide by ``w' - 1 = 0``, so the divisor here is ``max(w' - 1, 1)``; and NAB's ``perfect``
counts every labelled window (``runner.normalize``), here only the scored ones, so a window
hidden by the probationary period does not cap the best reachable score below 100. On a corpus
whose windows all lie after the probationary period, as NAB's own do, both give NAB's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

PROBATION_PERCENT = 0.15  # NAB's probationPercent
PROBATION_CAP_ROWS = 5000  # NAB caps the probationary period at 15% of 5000 rows


@dataclass(frozen=True, slots=True)
class Profile:
    """An application profile: NAB's cost matrix (``tn`` is carried but, as in NAB, unused)."""

    name: str
    tp: float
    fp: float
    fn: float
    tn: float = 1.0


STANDARD = Profile("standard", tp=1.0, fp=0.11, fn=1.0)
REWARD_LOW_FP = Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0)
REWARD_LOW_FN = Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0)
PROFILES: Mapping[str, Profile] = {p.name: p for p in (STANDARD, REWARD_LOW_FP, REWARD_LOW_FN)}

NO_DETECTION = math.inf  # the threshold of the "nothing fires" end of the sweep (NAB's 1.1)


def scaled_sigmoid(position: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """NAB's ``scaledSigmoid``: ``2 / (1 + exp(5 x)) - 1``, and ``-1`` from ``x = 3`` on.

    ``-1`` (a window's left edge) → 0.98661, ``0`` (its right edge) → 0, ``1`` → -0.98661.
    """
    x = np.asarray(position, dtype=np.float64)
    # exp(5 * 3) is the largest value ever taken, so no overflow.
    value = 2.0 / (1.0 + np.exp(5.0 * np.minimum(x, 3.0))) - 1.0
    return np.where(x >= 3.0, -1.0, value)


MAX_TP = float(
    scaled_sigmoid(-1.0)
)  # NAB's maxTP: the value of a detection on a window's first row


def probation_length(rows: int, probation_percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of a file whose detections NAB ignores (``getProbationPeriod``)."""
    return math.ceil(
        min(math.floor(probation_percent * rows), probation_percent * PROBATION_CAP_ROWS)
    )


def window_rows(
    timestamps: pd.DatetimeIndex | npt.ArrayLike, windows: Sequence[tuple[object, object]]
) -> np.ndarray:
    """Label windows ``[(start, end), ...]`` (inclusive times) → ``(k, 2)`` inclusive row indices.

    ``timestamps`` must be sorted ascending (a ``DatetimeIndex`` or any comparable array); a
    window's rows are those with ``start <= t <= end``. A window holding no row comes back with
    ``last < first`` so the caller can say so.
    """
    if not len(windows):
        return np.empty((0, 2), dtype=np.int64)
    starts = [w[0] for w in windows]
    ends = [w[1] for w in windows]
    if isinstance(timestamps, pd.DatetimeIndex):  # pandas compares zones and units correctly
        first = timestamps.searchsorted(starts, side="left")
        last = timestamps.searchsorted(ends, side="right") - 1
    else:
        ts = np.asarray(timestamps)
        first = np.searchsorted(ts, np.asarray(starts, dtype=ts.dtype), side="left")
        last = np.searchsorted(ts, np.asarray(ends, dtype=ts.dtype), side="right") - 1
    return np.stack([first, last], axis=1).astype(np.int64)


@dataclass(frozen=True, slots=True)
class FilePoints:
    """One file's scorable points (probation removed) and their profile-free NAB values.

    ``rows`` are the original row indices; ``window`` is the file-local index (into the scored
    windows, ``0..n_windows-1``) of the window holding each point, ``-1`` outside;
    ``tp_value`` is ``scaled_sigmoid(position) / MAX_TP`` inside windows (multiply by the
    profile's tp weight) and ``fp_value`` the unweighted ``scaled_sigmoid`` outside (multiply by
    the fp weight); each is 0 where the other applies.
    """

    name: str
    n_rows: int
    probation: int
    scores: np.ndarray
    rows: np.ndarray
    window: np.ndarray
    tp_value: np.ndarray
    fp_value: np.ndarray
    n_windows: int


def prepare_file(
    name: str,
    scores: npt.ArrayLike,
    windows: npt.ArrayLike,
    *,
    probation_percent: float = PROBATION_PERCENT,
) -> FilePoints:
    """NAB's ``calcSweepScore`` for one file, without the profile weights.

    ``scores``: the detector's anomaly score per row, in time order (NaN never counts as a
    detection). ``windows``: ``(k, 2)`` inclusive row indices, sorted and disjoint (see
    :func:`window_rows`). Raises ``ValueError`` naming the file for windows out of range,
    empty, unsorted or overlapping.
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name}: scores must be one-dimensional")
    n = len(values)
    lims = np.asarray(windows, dtype=np.int64).reshape(-1, 2)
    _check_windows(name, lims, n)
    left, right = lims[:, 0], lims[:, 1]
    width = right - left + 1

    idx = np.arange(n, dtype=np.int64)
    # The window whose left edge is the last one at or before i, if i is inside it.
    holder = np.searchsorted(left, idx, side="right") - 1
    inside = holder >= 0
    inside[inside] = idx[inside] <= right[holder[inside]]
    tp_value = np.zeros(n)
    fp_value = np.zeros(n)
    if inside.any():
        h = holder[inside]
        position = -(right[h] - idx[inside] + 1) / width[h]
        tp_value[inside] = scaled_sigmoid(position) / MAX_TP
    outside = ~inside
    # The last window that ended before i (probationary windows included, as in NAB's loop).
    before = np.searchsorted(right, idx[outside], side="left") - 1
    fp_out = np.full(before.shape, -1.0)
    after = before >= 0
    if after.any():
        b = before[after]
        past = (idx[outside][after] - right[b]) / np.maximum(width[b] - 1, 1)
        fp_out[after] = scaled_sigmoid(past)
    fp_value[outside] = fp_out

    probation = probation_length(n, probation_percent)
    window = np.where(inside, holder, -1)
    keep = slice(probation, None)
    # Renumber the windows that keep at least one point; the others are not scored.
    scored = np.unique(window[keep][window[keep] >= 0])
    renumber = np.full(len(lims) + 1, -1, dtype=np.int64)
    renumber[scored] = np.arange(len(scored))
    return FilePoints(
        name=name,
        n_rows=n,
        probation=probation,
        scores=np.where(np.isnan(values[keep]), -np.inf, values[keep]),
        rows=idx[keep],
        window=renumber[window[keep]],
        tp_value=tp_value[keep],
        fp_value=fp_value[keep],
        n_windows=len(scored),
    )


def _check_windows(name: str, lims: np.ndarray, n: int) -> None:
    for k, (first, last) in enumerate(lims.tolist()):
        if last < first:
            raise ValueError(f"{name}: window {k} holds no rows (rows {first}..{last})")
        if first < 0 or last >= n:
            raise ValueError(f"{name}: window {k} (rows {first}..{last}) outside 0..{n - 1}")
        if k and first <= lims[k - 1, 1]:
            raise ValueError(f"{name}: window {k} overlaps or precedes window {k - 1}")


@dataclass(frozen=True, slots=True)
class Sweep:
    """Total raw score for each candidate threshold, highest threshold first.

    ``thresholds[0]`` is :data:`NO_DETECTION` (the null score); each next entry is a distinct
    anomaly score ``T`` with the total when every point scoring ``>= T`` is a detection.
    """

    thresholds: np.ndarray
    totals: np.ndarray

    def best(self) -> tuple[float, float]:
        """``(threshold, raw total)`` with the highest total; on a tie the highest threshold."""
        k = int(np.argmax(self.totals))
        return float(self.thresholds[k]), float(self.totals[k])


@dataclass(frozen=True, slots=True)
class NabScore:
    """One profile's result over a corpus at one threshold."""

    profile: Profile
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float  # normalised: null 0, perfect 100
    file_raw: tuple[float, ...]
    file_score: tuple[float | None, ...]  # per file normalised by its own windows; None if none


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Window-level outcome at one threshold: windows detected, windows, false-positive events.

    An FP event is a run of consecutive detections outside every window. Undefined ratios
    (nothing detected, no windows) are 0.
    """

    detected: int
    windows: int
    fp_events: int

    @property
    def precision(self) -> float:
        flagged = self.detected + self.fp_events
        return self.detected / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def normalise(raw: float, windows: int, profile: Profile) -> float | None:
    """``100 * (raw - null) / (perfect - null)``; None when there is no window to score."""
    null, perfect = -profile.fn * windows, profile.tp * windows
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


class Corpus:
    """Files prepared by :func:`prepare_file`, concatenated once for vectorised scoring."""

    def __init__(self, files: Sequence[FilePoints]) -> None:
        self.files = tuple(files)
        sizes = np.array([len(f.scores) for f in self.files], dtype=np.int64)
        self.file_windows = np.array([f.n_windows for f in self.files], dtype=np.int64)
        self.n_windows = int(self.file_windows.sum())

        def cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(arrays).astype(dtype) if arrays else np.empty(0, dtype=dtype)

        self.file_of = np.repeat(np.arange(len(self.files)), sizes)
        self.scores = cat([f.scores for f in self.files], np.float64)
        self.tp_value = cat([f.tp_value for f in self.files], np.float64)
        self.fp_value = cat([f.fp_value for f in self.files], np.float64)
        offsets = np.cumsum(self.file_windows) - self.file_windows  # first window id per file
        local = cat([f.window for f in self.files], np.int64)
        self.window = np.where(local >= 0, local + np.repeat(offsets, sizes), -1)
        self.window_file = np.repeat(np.arange(len(self.files)), self.file_windows)

    def values(self, profile: Profile) -> np.ndarray:
        """Each point's weighted NAB value were it a detection (``sweepScore`` in NAB)."""
        return profile.tp * self.tp_value + profile.fp * self.fp_value

    def sweep(self, profile: Profile) -> Sweep:
        """NAB's ``calcScoreByThreshold`` over the whole corpus, in one sort.

        Points are taken in descending score order; each changes the running total by its value
        if outside a window, and, if inside, by the change in its window's best (earliest)
        detection, plus ``fn`` the first time the window fires. Groupwise running minima of the
        row position give the earliest detection per window without a Python loop.
        """
        null = -profile.fn * self.n_windows
        finite = np.flatnonzero(np.isfinite(self.scores))
        order = finite[np.argsort(-self.scores[finite], kind="stable")]
        if not len(order):
            return Sweep(np.array([NO_DETECTION]), np.array([null]))
        values = self.values(profile)
        win = self.window[order]
        delta = np.where(win < 0, values[order], 0.0)
        in_window = np.flatnonzero(win >= 0)
        if len(in_window):
            group = np.argsort(win[in_window], kind="stable")  # by window, sweep order kept
            at = in_window[group]
            wid = win[at]
            pos = order[at]  # concatenated position: time order inside a window
            span = len(self.scores) + 1
            # key grows with the window id faster than -pos can shrink, so a running max of
            # the key is the running max of -pos (the earliest point) within each window.
            key = wid * span - pos
            earliest = wid * span - np.maximum.accumulate(key)
            best = values[earliest]
            first = np.concatenate(([True], wid[1:] != wid[:-1]))
            previous = np.concatenate(([0.0], best[:-1]))
            delta[at] = np.where(first, best + profile.fn, best - previous)
        running = np.cumsum(delta)
        ordered = self.scores[order]
        ends = np.flatnonzero(np.concatenate((ordered[1:] != ordered[:-1], [True])))
        return Sweep(
            thresholds=np.concatenate(([NO_DETECTION], ordered[ends])),
            totals=null + np.concatenate(([0.0], running[ends])),
        )

    def _best_in_windows(self, values: np.ndarray, threshold: float) -> np.ndarray:
        detected = self.scores >= threshold
        best = np.full(self.n_windows, -np.inf)
        hit = detected & (self.window >= 0)
        np.maximum.at(best, self.window[hit], values[hit])
        return best

    def file_raw(self, profile: Profile, threshold: float) -> np.ndarray:
        """Each file's raw NAB score when points scoring ``>= threshold`` are detections."""
        values = self.values(profile)
        detected = self.scores >= threshold
        out = detected & (self.window < 0)
        raw = np.bincount(self.file_of[out], weights=values[out], minlength=len(self.files)).astype(
            np.float64
        )  # bincount of nothing is int64 even with weights
        best = self._best_in_windows(values, threshold)
        per_window = np.where(np.isfinite(best), best, -profile.fn)
        raw += np.bincount(self.window_file, weights=per_window, minlength=len(self.files))
        return raw

    def score(self, profile: Profile, threshold: float | None = None) -> NabScore:
        """The profile's NAB score at ``threshold``, or at the corpus-optimal one when None."""
        if threshold is None:
            threshold, _ = self.sweep(profile).best()
        file_raw = self.file_raw(profile, threshold)
        raw = float(file_raw.sum())
        score = normalise(raw, self.n_windows, profile)
        return NabScore(
            profile=profile,
            threshold=threshold,
            raw=raw,
            null=-profile.fn * self.n_windows,
            perfect=profile.tp * self.n_windows,
            score=0.0 if score is None else score,
            file_raw=tuple(float(r) for r in file_raw),
            file_score=tuple(
                normalise(float(r), int(k), profile)
                for r, k in zip(file_raw, self.file_windows, strict=True)
            ),
        )

    def window_counts(self, threshold: float) -> list[WindowCounts]:
        """Per file: windows with a detection, windows, and runs of detections outside windows."""
        best = self._best_in_windows(self.tp_value, threshold)
        detected_windows = np.bincount(
            self.window_file, weights=np.isfinite(best), minlength=len(self.files)
        )
        out = (self.scores >= threshold) & (self.window < 0)
        # Points of one file are consecutive rows, so a run continues from the previous point
        # when that point is also an outside detection of the same file.
        continues = np.zeros_like(out)
        continues[1:] = out[:-1] & (self.file_of[1:] == self.file_of[:-1])
        starts = out & ~continues
        events = np.bincount(self.file_of[starts], minlength=len(self.files))
        return [
            WindowCounts(int(d), int(k), int(e))
            for d, k, e in zip(detected_windows, self.file_windows, events, strict=True)
        ]

    def total_window_counts(self, threshold: float) -> WindowCounts:
        counts = self.window_counts(threshold)
        return WindowCounts(
            detected=sum(c.detected for c in counts),
            windows=sum(c.windows for c in counts),
            fp_events=sum(c.fp_events for c in counts),
        )
