"""Score the anomaly detector on a corpus in the Numenta Anomaly Benchmark (NAB) layout.

    python -m alerts.evaluate CORPUS_DIR LABELS_JSON [--scores-out DIR] [--baselines]

``CORPUS_DIR`` holds CSV files (``timestamp,value``), in sub-folders or not; ``LABELS_JSON``
maps each file's path relative to ``CORPUS_DIR`` (forward slashes) to its anomaly windows
``[[start, end], ...]``: NAB's own ``data/`` and ``labels/combined_windows.json`` work as they
are, and so does a corpus from :mod:`alerts.synthetic`. Times are NAB's
(``2014-04-01 00:00:00``, windows ``2014-04-01 00:00:00.000000``) or ISO 8601; without a zone
they are UTC.

The detector (:func:`alerts.anomaly.score_series`, online) scores every series; the scores are
judged with NAB's method (:mod:`alerts.nab`) for the standard, reward-low-FP and reward-low-FN
profiles, at each profile's corpus-optimal threshold and at the product's own alert threshold
(:data:`alerts.anomaly.DEFAULT_THRESHOLD`), and by window-level precision, recall and F1 at the
alert threshold. ``--baselines`` adds a rolling mean ± 3σ band and a rolling median/MAD z-score
(:mod:`alerts.baselines`) in the same run. ``--scores-out DIR`` writes each series back to
``DIR/<its relative path>`` with a third column, ``anomaly_score``.

The last line printed is for machines::

    nab_standard=52.31 nab_low_fp=45.02 nab_low_fn=60.11 f1=0.558

Exit status: 0 scored; 2 bad usage or bad input (one line naming the file or label key); 1
anything else (``--traceback`` for details). A CSV the labels do not mention is scored with no
windows, with a warning; a label key naming no file is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import numpy as np
import pandas as pd

from alerts import nab
from collectors.errors import StormwatchError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    Detector = Callable[[pd.DatetimeIndex, np.ndarray], pd.DataFrame]

PRIMARY = "stormwatch"
PROFILE_KEYS: dict[str, str] = {  # profile → key in the machine-readable line
    nab.STANDARD.name: "nab_standard",
    nab.REWARD_LOW_FP.name: "nab_low_fp",
    nab.REWARD_LOW_FN.name: "nab_low_fn",
}


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2


class CorpusError(StormwatchError):
    """The corpus or its labels cannot be scored: names the file or label key and the fix."""


class UsageError(Exception):
    pass


def default_detectors(*, baselines: bool = False) -> dict[str, Detector]:
    """The product's detector first (it makes the summary line), then the baselines if asked."""
    from alerts import anomaly
    from alerts import baselines as base

    detectors: dict[str, Detector] = {PRIMARY: anomaly.score_series}
    if baselines:
        detectors["mean±3σ"] = base.rolling_mean_std
        detectors["median/MAD"] = base.rolling_median_mad
    return detectors


def default_threshold() -> float:
    from alerts.anomaly import DEFAULT_THRESHOLD

    return DEFAULT_THRESHOLD


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    """One corpus file: times (UTC), values, the raw CSV text of both, and its windows (rows)."""

    path: str  # relative to the corpus folder, forward slashes
    timestamps: pd.DatetimeIndex
    values: np.ndarray
    raw: pd.DataFrame  # the timestamp and value columns as written in the file
    windows: np.ndarray  # (k, 2) inclusive row indices


@dataclass(frozen=True, slots=True)
class LoadedCorpus:
    series: tuple[Series, ...]
    warnings: tuple[str, ...]


def _utc(text: str) -> pd.Timestamp:
    moment = pd.Timestamp(text)
    if pd.isna(moment):
        raise ValueError(text)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def load_labels(labels_path: str | Path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """The label file as ``{relative path: [(start, end), ...]}``, sorted, times in UTC.

    Raises :class:`CorpusError` naming the file, the key and the window for anything that is
    not a list of ``[start, end]`` time pairs with ``start <= end`` and no overlap.
    """
    path = Path(labels_path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(f"labels {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"labels {path}: not readable JSON ({exc})") from None
    if not isinstance(document, dict):
        raise CorpusError(
            f"labels {path}: expected an object mapping file paths to window lists, "
            f"got {type(document).__name__}"
        )
    labels: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for key, windows in document.items():
        where = f"labels {path}: key {key!r}"
        if not isinstance(windows, list):
            raise CorpusError(f"{where}: expected a list of [start, end] windows")
        parsed = []
        for k, window in enumerate(windows):
            if not (isinstance(window, list | tuple) and len(window) == 2):
                raise CorpusError(f"{where}: window {k} must be [start, end], got {window!r}")
            try:
                start, end = _utc(str(window[0])), _utc(str(window[1]))
            except (ValueError, TypeError):
                raise CorpusError(
                    f"{where}: window {k}: cannot parse {window!r} as times "
                    "(expected YYYY-MM-DD HH:MM:SS[.ffffff] or ISO 8601)"
                ) from None
            if end < start:
                raise CorpusError(
                    f"{where}: window {k}: end {window[1]} is before start {window[0]}"
                )
            parsed.append((start, end))
        parsed.sort()
        for k in range(1, len(parsed)):
            if parsed[k][0] <= parsed[k - 1][1]:
                raise CorpusError(
                    f"{where}: windows {parsed[k - 1][0]}..{parsed[k - 1][1]} and "
                    f"{parsed[k][0]}..{parsed[k][1]} overlap; merge them"
                )
        labels[key.removeprefix("./")] = parsed
    return labels


def read_series(path: Path, name: str) -> tuple[pd.DatetimeIndex, np.ndarray, pd.DataFrame]:
    """A NAB data file: ``timestamp,value`` columns, ascending times, numeric values."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CorpusError(f"{name}: cannot read CSV ({exc})") from None
    missing = [c for c in ("timestamp", "value") if c not in raw.columns]
    if missing:
        raise CorpusError(
            f"{name}: expected columns timestamp,value; missing {','.join(missing)} "
            f"(found {','.join(map(str, raw.columns)) or 'none'})"
        )
    if raw.empty:
        raise CorpusError(f"{name}: no rows")
    raw = raw[["timestamp", "value"]]
    times = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        line = int(bad[0]) + 2  # 1-based, after the header
        raise CorpusError(
            f"{name}: line {line}: cannot parse timestamp {raw['timestamp'].iloc[bad[0]]!r} "
            "(expected YYYY-MM-DD HH:MM:SS or ISO 8601)"
        )
    try:
        values = raw["value"].astype(np.float64).to_numpy()
    except ValueError:  # find the offending line below
        values = pd.to_numeric(raw["value"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        line = int(bad[0]) + 2
        raise CorpusError(
            f"{name}: line {line}: value {raw['value'].iloc[bad[0]]!r} is not a finite number"
        )
    index = pd.DatetimeIndex(times)
    if not index.is_monotonic_increasing:
        line = int(np.flatnonzero(np.diff(index.asi8) < 0)[0]) + 3
        raise CorpusError(f"{name}: line {line}: timestamps go backwards; sort the file by time")
    return index, values, raw


def load_corpus(corpus_dir: str | Path, labels_path: str | Path) -> LoadedCorpus:
    """Every ``*.csv`` under ``corpus_dir`` with its windows resolved to rows."""
    root = Path(corpus_dir)
    if not root.is_dir():
        raise CorpusError(f"corpus {root}: not a folder")
    labels = load_labels(labels_path)
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.csv")) if p.is_file()}
    absent = sorted(set(labels) - set(files))
    if absent:
        more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
        raise CorpusError(
            f"labels {labels_path}: key {absent[0]!r} names no CSV file under {root}{more}"
        )
    if not files:
        raise CorpusError(f"corpus {root}: no CSV files")
    warnings: list[str] = []
    series = []
    for name, path in files.items():
        timestamps, values, raw = read_series(path, name)
        if name not in labels:
            warnings.append(f"{name}: not in the labels; scored with no anomaly windows")
        rows = nab.window_rows(timestamps, labels.get(name, []))
        empty = rows[:, 1] < rows[:, 0]
        for k in np.flatnonzero(empty):
            lo, hi = labels[name][k]
            warnings.append(f"{name}: window {lo}..{hi} holds no rows; not scored")
        series.append(Series(name, timestamps, values, raw, rows[~empty]))
    return LoadedCorpus(tuple(series), tuple(warnings))


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """One detector over the corpus: NAB per profile (optimal and at the alert threshold) and
    window counts per file at the alert threshold."""

    name: str
    optimal: dict[str, nab.NabScore]
    at_threshold: dict[str, nab.NabScore]
    windows: tuple[nab.WindowCounts, ...]
    total: nab.WindowCounts
    scores: tuple[np.ndarray, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """The whole run: files, the alert threshold, each detector's result (primary first)."""

    files: tuple[str, ...]
    rows: tuple[int, ...]
    threshold: float
    detectors: dict[str, DetectorResult]
    warnings: tuple[str, ...]
    series: tuple[Series, ...] = field(repr=False)

    @property
    def primary(self) -> DetectorResult:
        return next(iter(self.detectors.values()))

    def summary_line(self) -> str:
        """``nab_standard=… nab_low_fp=… nab_low_fn=… f1=…`` for the primary detector."""
        p = self.primary
        parts = [f"{key}={p.optimal[name].score:.2f}" for name, key in PROFILE_KEYS.items()]
        return " ".join([*parts, f"f1={p.total.f1:.3f}"])


def score_detector(
    name: str,
    detector: Detector,
    series: Sequence[Series],
    *,
    threshold: float,
    profiles: Sequence[nab.Profile] = tuple(nab.PROFILES.values()),
) -> DetectorResult:
    """Run ``detector`` over every series (online, one call each) and score it with NAB."""
    scores = []
    files = []
    for s in series:
        frame = detector(s.timestamps, s.values)
        if "score" not in frame or len(frame) != len(s.values):
            raise StormwatchError(
                f"detector {name} on {s.path}: expected a 'score' column with {len(s.values)} "
                f"rows, got columns {list(frame.columns)} and {len(frame)} rows"
            )
        score = frame["score"].to_numpy(dtype=np.float64)
        scores.append(score)
        files.append(nab.prepare_file(s.path, score, s.windows))
    corpus = nab.Corpus(files)
    return DetectorResult(
        name=name,
        optimal={p.name: corpus.score(p) for p in profiles},
        at_threshold={p.name: corpus.score(p, threshold) for p in profiles},
        windows=tuple(corpus.window_counts(threshold)),
        total=corpus.total_window_counts(threshold),
        scores=tuple(scores),
    )


def evaluate_corpus(
    corpus_dir: str | Path,
    labels_path: str | Path,
    detectors: Mapping[str, Detector] | None = None,
    *,
    threshold: float | None = None,
) -> EvaluationResult:
    """Load the corpus and score each detector (the first is the primary one).

    ``detectors`` maps a display name to a function with :func:`alerts.anomaly.score_series`'s
    signature; by default the product's detector alone. ``threshold`` defaults to the product's
    alert threshold.
    """
    loaded = load_corpus(corpus_dir, labels_path)
    chosen = dict(detectors) if detectors is not None else default_detectors()
    if not chosen:
        raise ValueError("detectors must name at least one detector")
    limit = default_threshold() if threshold is None else threshold
    results = {
        name: score_detector(name, fn, loaded.series, threshold=limit)
        for name, fn in chosen.items()
    }
    return EvaluationResult(
        files=tuple(s.path for s in loaded.series),
        rows=tuple(len(s.values) for s in loaded.series),
        threshold=limit,
        detectors=results,
        warnings=loaded.warnings,
        series=loaded.series,
    )


def write_scores(result: EvaluationResult, out_dir: str | Path, detector: str | None = None) -> int:
    """Write each series and its ``anomaly_score`` to ``out_dir/<relative path>``; returns the
    number of files written."""
    chosen = result.detectors[detector] if detector else result.primary
    root = Path(out_dir)
    for s, score in zip(result.series, chosen.scores, strict=True):
        target = root / s.path
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = s.raw.assign(anomaly_score=np.round(score, 6))
        frame.to_csv(target, index=False)
    return len(result.series)


# --- report ----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _threshold(value: float) -> str:
    return "none" if not np.isfinite(value) else f"{value:.4f}"


def format_report(result: EvaluationResult) -> str:
    """The readable report: per file, overall, baselines, then the machine-readable line."""
    t = f"{result.threshold:g}"
    p = result.primary
    names = list(PROFILE_KEYS)
    width = max([len("file"), *(len(f) for f in result.files)])
    header = (
        f"{'file':<{width}}  {'rows':>7}  {'win':>3}  {'standard':>8}  {'low_FP':>7}  "
        f"{'low_FN':>7}  {'std@' + t:>8}  {'det':>5}  {'FP ev':>5}  {'F1':>5}"
    )
    lines = [f"NAB scores of {p.name} (per file at the corpus-optimal thresholds)", header]
    for i, name in enumerate(result.files):
        counts = p.windows[i]
        lines.append(
            f"{name:<{width}}  {result.rows[i]:>7,}  {counts.windows:>3}  "
            f"{_pct(p.optimal[names[0]].file_score[i]):>8}  "
            f"{_pct(p.optimal[names[1]].file_score[i]):>7}  "
            f"{_pct(p.optimal[names[2]].file_score[i]):>7}  "
            f"{_pct(p.at_threshold[names[0]].file_score[i]):>8}  "
            f"{f'{counts.detected}/{counts.windows}':>5}  {counts.fp_events:>5}  "
            f"{counts.f1:>5.3f}"
        )
    lines += ["", _overall(result, p)]
    if len(result.detectors) > 1:
        lines += ["", _comparison(result)]
    lines += ["", result.summary_line()]
    return "\n".join(lines)


def _overall(result: EvaluationResult, d: DetectorResult) -> str:
    t = f"{result.threshold:g}"
    lines = [
        f"overall {d.name}: {len(result.files)} files, {sum(result.rows):,} rows, "
        f"{d.total.windows} windows",
        f"  {'profile':<20}  {'threshold':>9}  {'NAB':>7}  {'NAB@' + t:>8}",
    ]
    for name in PROFILE_KEYS:
        best, fixed = d.optimal[name], d.at_threshold[name]
        lines.append(
            f"  {name:<20}  {_threshold(best.threshold):>9}  "
            f"{best.score:>7.2f}  {fixed.score:>8.2f}"
        )
    c = d.total
    lines.append(
        f"  windows at {t}: detected {c.detected}/{c.windows}, FP events {c.fp_events}, "
        f"precision {c.precision:.3f}, recall {c.recall:.3f}, F1 {c.f1:.3f}"
    )
    return "\n".join(lines)


def _comparison(result: EvaluationResult) -> str:
    t = f"{result.threshold:g}"
    width = max(len("detector"), *(len(n) for n in result.detectors))
    lines = [
        f"detectors side by side (NAB at optimal thresholds; windows at {t})",
        f"{'detector':<{width}}  {'standard':>8}  {'low_FP':>7}  {'low_FN':>7}  "
        f"{'std@' + t:>8}  {'precision':>9}  {'recall':>6}  {'F1':>5}",
    ]
    names = list(PROFILE_KEYS)
    for d in result.detectors.values():
        c = d.total
        lines.append(
            f"{d.name:<{width}}  {d.optimal[names[0]].score:>8.2f}  "
            f"{d.optimal[names[1]].score:>7.2f}  {d.optimal[names[2]].score:>7.2f}  "
            f"{d.at_threshold[names[0]].score:>8.2f}  {c.precision:>9.3f}  {c.recall:>6.3f}  "
            f"{c.f1:>5.3f}"
        )
    return "\n".join(lines)


# --- command line ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m alerts.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("corpus_dir", metavar="CORPUS_DIR", help="folder of timestamp,value CSVs")
    parser.add_argument(
        "labels", metavar="LABELS_JSON", help="relative path → [[start, end], ...] (NAB windows)"
    )
    parser.add_argument(
        "--scores-out", metavar="DIR", help="write each series with an anomaly_score column here"
    )
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="also score a rolling mean ± 3σ band and a rolling median/MAD z-score",
    )
    parser.add_argument("--traceback", action="store_true", help="show the full error on failure")
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(raw)
        result = evaluate_corpus(
            args.corpus_dir, args.labels, default_detectors(baselines=args.baselines)
        )
        for warning in result.warnings:
            print(f"warning: {warning}", file=err)
        if args.scores_out:
            written = write_scores(result, args.scores_out)
            print(f"scores: {written} files written under {args.scores_out}", file=err)
        print(format_report(result), file=out)
        return ExitStatus.OK
    except UsageError as exc:
        print(f"evaluate: {exc}", file=err)
        return ExitStatus.USAGE
    except Exception as exc:  # one place turns every failure into a one-line message
        if "--traceback" in raw:
            raise
        if isinstance(exc, CorpusError):
            print(f"evaluate: {exc}", file=err)
            return ExitStatus.USAGE
        if isinstance(exc, StormwatchError):
            print(f"evaluate: {exc}", file=err)
            return ExitStatus.ERROR
        print(f"evaluate: {type(exc).__name__}: {exc} (run with --traceback for details)", file=err)
        return ExitStatus.ERROR


if __name__ == "__main__":
    from alerts.allocator import tune_allocator

    tune_allocator()
    sys.exit(main())
