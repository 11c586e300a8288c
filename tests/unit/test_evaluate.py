"""alerts.evaluate end to end on small generated corpora; alerts.synthetic; alerts.baselines.

The corpus comes from :mod:`alerts.synthetic` (one short file per kind) so the whole module runs
in seconds; bad inputs use tiny handwritten corpora and assert the one-line message names the
file or label key.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from alerts import anomaly, baselines, evaluate, nab, synthetic
from alerts.evaluate import ExitStatus, evaluate_corpus, main

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"^nab_standard=-?\d+\.\d\d nab_low_fp=-?\d+\.\d\d nab_low_fn=-?\d+\.\d\d f1=\d\.\d{3}$"
)
SMALL = {"seed": 3, "files_per_kind": 1, "lengths": (1200, 2000)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> synthetic.SyntheticCorpus:
    return synthetic.write_corpus(tmp_path_factory.mktemp("corpus"), **SMALL)


def _run(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# --- the command -----------------------------------------------------------------------------


def test_reports_per_file_overall_and_a_machine_readable_last_line(
    corpus: synthetic.SyntheticCorpus,
) -> None:
    code, out, err = _run(corpus.data_dir, corpus.labels_path)
    assert code == ExitStatus.OK, err
    lines = out.rstrip("\n").splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    for s in corpus.series:
        assert any(line.startswith(s.path) for line in lines), s.path
    for profile in nab.PROFILES:
        assert any(line.strip().startswith(profile) for line in lines), profile
    assert any("precision" in line and "recall" in line and "F1" in line for line in lines)
    assert err == ""


def test_runs_as_a_module(corpus: synthetic.SyntheticCorpus) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alerts.evaluate", str(corpus.data_dir), str(corpus.labels_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert SUMMARY.match(done.stdout.rstrip("\n").splitlines()[-1])


def test_scores_out_writes_each_series_back_at_its_relative_path(
    corpus: synthetic.SyntheticCorpus, tmp_path: Path
) -> None:
    out_dir = tmp_path / "scores"
    code, _, err = _run(corpus.data_dir, corpus.labels_path, "--scores-out", out_dir)
    assert code == ExitStatus.OK, err
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.csv"))
    assert written == sorted(s.path for s in corpus.series)
    for s in corpus.series:
        source = pd.read_csv(corpus.data_dir / s.path, dtype=str)
        scored = pd.read_csv(out_dir / s.path, dtype={"timestamp": str, "value": str})
        assert list(scored.columns) == ["timestamp", "value", "anomaly_score"]
        pd.testing.assert_frame_equal(scored[["timestamp", "value"]], source)
        assert scored["anomaly_score"].between(0, 1).all()


def test_baselines_are_scored_side_by_side(corpus: synthetic.SyntheticCorpus) -> None:
    _, plain, _ = _run(corpus.data_dir, corpus.labels_path)
    code, out, err = _run(corpus.data_dir, corpus.labels_path, "--baselines")
    assert code == ExitStatus.OK, err
    lines = out.rstrip("\n").splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("detectors side by side"))) :]
    names = [line.split()[0] for line in table[2:5]]
    assert names == ["stormwatch", "mean±3σ", "median/MAD"]
    # The last line stays the product detector's, identical to a run without baselines.
    assert lines[-1] == plain.rstrip("\n").splitlines()[-1]


def _oracle(corpus: synthetic.SyntheticCorpus, *, perfect: bool) -> Callable[..., pd.DataFrame]:
    """A detector that knows the labels: fires on each window's first row (or never)."""
    by_file = {
        (s.frame["timestamp"].iloc[0], len(s.frame)): {lo for lo, _ in s.windows}
        for s in corpus.series
    }
    assert len(by_file) == len(corpus.series)

    def detect(timestamps: pd.DatetimeIndex, values: np.ndarray) -> pd.DataFrame:
        starts = by_file[(timestamps[0], len(timestamps))]
        hit = np.asarray(timestamps.isin(list(starts))) if perfect else np.zeros(len(values), bool)
        return pd.DataFrame({"score": hit.astype(float)})

    return detect


def test_perfect_and_null_detectors_score_100_and_0(corpus: synthetic.SyntheticCorpus) -> None:
    result = evaluate_corpus(
        corpus.data_dir,
        corpus.labels_path,
        {"perfect": _oracle(corpus, perfect=True), "null": _oracle(corpus, perfect=False)},
        threshold=0.5,
    )
    perfect, null = result.detectors["perfect"], result.detectors["null"]
    windows = sum(len(s.windows) for s in corpus.series)
    assert perfect.total == nab.WindowCounts(windows, windows, 0)
    for name in nab.PROFILES:
        assert perfect.optimal[name].score == pytest.approx(100.0)
        assert perfect.at_threshold[name].score == pytest.approx(100.0)
        assert null.optimal[name].score == pytest.approx(0.0)
    assert (
        result.summary_line() == "nab_standard=100.00 nab_low_fp=100.00 nab_low_fn=100.00 f1=1.000"
    )


def test_a_csv_missing_from_the_labels_is_scored_with_a_warning(tmp_path: Path) -> None:
    data = _tiny_corpus(
        tmp_path, labels={"a.csv": [["2024-01-01 01:00:00", "2024-01-01 01:09:00"]]}
    )
    _write_csv(data / "extra" / "b.csv")
    code, out, err = _run(data, tmp_path / "labels.json")
    assert code == ExitStatus.OK, err
    assert "warning: extra/b.csv: not in the labels; scored with no anomaly windows" in err
    assert any(line.startswith("extra/b.csv") for line in out.splitlines())


def test_accepts_iso_times_in_data_and_labels(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write_csv(data / "a.csv", fmt="%Y-%m-%dT%H:%M:%SZ")
    labels = {"a.csv": [["2024-01-01T01:00:00Z", "2024-01-01T02:09:00+01:00"]]}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    result = evaluate_corpus(data, tmp_path / "labels.json")
    # 01:00..01:09 UTC are rows 60..69 of a 1-minute series starting at midnight.
    assert result.series[0].windows.tolist() == [[60, 69]]


# --- bad input: exit 2, one line naming the file or key ------------------------------------


def _write_csv(path: Path, rows: int = 200, fmt: str = "%Y-%m-%d %H:%M:%S") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    times = pd.date_range("2024-01-01", periods=rows, freq="min")
    values = np.sin(np.arange(rows) / 10) * 10 + 50
    pd.DataFrame({"timestamp": times.strftime(fmt), "value": values}).to_csv(path, index=False)


def _tiny_corpus(tmp_path: Path, labels: object) -> Path:
    data = tmp_path / "data"
    _write_csv(data / "a.csv")
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    return data


GOOD_WINDOW = [["2024-01-01 01:00:00.000000", "2024-01-01 01:09:00.000000"]]

BAD_LABELS = [
    pytest.param(
        {"a.csv": GOOD_WINDOW, "sub/missing.csv": GOOD_WINDOW},
        "key 'sub/missing.csv' names no CSV file under",
        id="labelled file missing",
    ),
    pytest.param(
        {"a.csv": [["2024-01-01 02:00:00", "2024-01-01 01:00:00"]]},
        "key 'a.csv': window 0: end 2024-01-01 01:00:00 is before start 2024-01-01 02:00:00",
        id="end before start",
    ),
    pytest.param(
        {"a.csv": [["yesterday-ish", "2024-01-01 01:00:00"]]},
        "key 'a.csv': window 0: cannot parse",
        id="unparsable window time",
    ),
    pytest.param({"a.csv": [["2024-01-01 01:00:00"]]}, "window 0 must be [start, end]", id="pair"),
    pytest.param(
        {
            "a.csv": [
                ["2024-01-01 01:00", "2024-01-01 01:30"],
                ["2024-01-01 01:20", "2024-01-01 02:00"],
            ]
        },
        "key 'a.csv': windows",
        id="overlapping windows",
    ),
    pytest.param(["a.csv"], "expected an object mapping file paths", id="not an object"),
]


@pytest.mark.parametrize(("labels", "message"), BAD_LABELS)
def test_bad_labels_exit_2_naming_the_key(tmp_path: Path, labels: object, message: str) -> None:
    data = _tiny_corpus(tmp_path, labels)
    code, out, err = _run(data, tmp_path / "labels.json")
    assert code == ExitStatus.USAGE
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("evaluate: labels ")
    assert message in err, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("time,v\n2024-01-01 00:00:00,1\n", "missing timestamp,value", id="columns"),
        pytest.param(
            "timestamp,value\n2024-01-01 00:00:00,1\n2024-13-45 00:00:00,2\n",
            "line 3: cannot parse timestamp '2024-13-45 00:00:00'",
            id="bad time",
        ),
        pytest.param(
            "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,abc\n",
            "line 3: value 'abc' is not a finite number",
            id="bad value",
        ),
        pytest.param(
            "timestamp,value\n2024-01-01 00:01:00,1\n2024-01-01 00:00:00,2\n",
            "line 3: timestamps go backwards",
            id="unsorted",
        ),
        pytest.param("timestamp,value\n", "no rows", id="empty"),
    ],
)
def test_bad_csv_exits_2_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    data = _tiny_corpus(tmp_path, labels={"a.csv": GOOD_WINDOW})
    (data / "sub").mkdir()
    (data / "sub" / "broken.csv").write_text(content)
    code, _, err = _run(data, tmp_path / "labels.json")
    assert code == ExitStatus.USAGE
    assert err.startswith("evaluate: sub/broken.csv: ") and err.count("\n") == 1, err
    assert message in err, err


def test_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    data = _tiny_corpus(tmp_path, labels={})
    code, _, err = _run(tmp_path / "nowhere", tmp_path / "labels.json")
    assert (code, err.strip()) == (2, f"evaluate: corpus {tmp_path / 'nowhere'}: not a folder")
    code, _, err = _run(data, tmp_path / "absent.json")
    assert (code, err.strip()) == (2, f"evaluate: labels {tmp_path / 'absent.json'}: no such file")
    (tmp_path / "labels.json").write_text("{not json")
    code, _, err = _run(data, tmp_path / "labels.json")
    assert code == 2 and "not readable JSON" in err
    code, _, err = _run(data)
    assert code == 2 and "LABELS_JSON" in err


def test_a_detector_returning_the_wrong_shape_is_an_error_not_a_score(tmp_path: Path) -> None:
    data = _tiny_corpus(tmp_path, labels={"a.csv": GOOD_WINDOW})
    with pytest.raises(evaluate.StormwatchError, match=r"detector broken on a\.csv"):
        evaluate_corpus(
            data, tmp_path / "labels.json", {"broken": lambda t, v: pd.DataFrame({"x": [1]})}
        )


# --- the synthetic corpus ------------------------------------------------------------------


def test_synthetic_corpus_is_deterministic(tmp_path: Path) -> None:
    a = synthetic.write_corpus(tmp_path / "a", seed=5, files_per_kind=1, lengths=(500, 600))
    b = synthetic.write_corpus(tmp_path / "b", seed=5, files_per_kind=1, lengths=(500, 600))
    c = synthetic.write_corpus(tmp_path / "c", seed=6, files_per_kind=1, lengths=(500, 600))
    for s in a.series:
        same = (a.data_dir / s.path).read_bytes() == (b.data_dir / s.path).read_bytes()
        assert same, s.path
    assert a.labels_path.read_text() == b.labels_path.read_text()
    assert a.labels_path.read_text() != c.labels_path.read_text()


def test_synthetic_corpus_has_the_nab_layout_and_sane_windows(
    corpus: synthetic.SyntheticCorpus,
) -> None:
    labels = json.loads(corpus.labels_path.read_text())
    files = sorted(
        p.relative_to(corpus.data_dir).as_posix() for p in corpus.data_dir.rglob("*.csv")
    )
    assert sorted(labels) == files == sorted(f"{k}/{k}_0.csv" for k in synthetic.KINDS)
    for s in corpus.series:
        times = pd.DatetimeIndex(s.frame["timestamp"]).as_unit("ns")
        n = len(times)
        assert 0.85 * 1200 <= n <= 2000  # gaps drop up to 6 runs of n/50 rows
        assert set(np.diff(times.asi8) // 10**9) >= {s.period_s} and s.period_s in (60, 300)
        rows = nab.window_rows(times, [tuple(map(pd.Timestamp, w)) for w in s.windows])
        assert 1 <= len(rows) <= 3
        assert (rows[:, 0] >= nab.probation_length(n)).all()  # after NAB's probation
        assert (rows[1:, 0] > rows[:-1, 1]).all()  # disjoint
        for (first, last), injected in zip(rows, s.anomalies, strict=True):
            onset = times.get_loc(injected.onset)
            assert first < onset < last  # centred: opens before the onset
            assert abs((last - first + 1) - 0.1 * n / len(rows)) <= 0.1 * n / len(rows) * 0.5 + 2
        # NAB label format, written with microseconds.
        assert all(
            re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", t)
            for w in labels[s.path]
            for t in w
        )


def test_synthetic_kinds_have_their_traits() -> None:
    series = {s.path.split("/")[0]: s for s in synthetic.generate_corpus(seed=11, files_per_kind=1)}
    counts = series["sparse_counts"].frame["value"]
    assert (counts == counts.round()).all() and (counts == 0).mean() > 0.6
    gapped = pd.DatetimeIndex(series["trend_gaps"].frame["timestamp"]).as_unit("ns")
    assert (np.diff(gapped.asi8) > series["trend_gaps"].period_s * 10**9).any()
    latency = series["latency"].frame["value"]
    assert (latency > 0).all() and latency.mean() > latency.median()  # right-skewed
    assert {a.kind for a in series["level_shift"].anomalies} <= {"shift-up", "shift-down"}
    cpu = series["autocorrelated"].frame["value"].to_numpy()
    assert cpu.min() >= 0 and cpu.max() <= 100 and np.allclose(cpu, np.round(cpu, 1))
    assert np.corrcoef(cpu[1:], cpu[:-1])[0, 1] > 0.5  # each point leans on the last
    requests = series["request_counts"].frame["value"]
    assert (requests == requests.round()).all() and requests.median() >= 3
    assert {a.kind for a in series["request_counts"].anomalies} <= {"outage", "surge"}
    jobs = series["periodic_jobs"]
    values, times = jobs.frame["value"].to_numpy(), jobs.frame["timestamp"]
    high = values > np.median(values) + 0.5 * (values.max() - np.median(values))
    for a in jobs.anomalies:  # a runaway job is high off schedule; leave it out
        high &= ~(
            (times >= a.onset) & (times < a.onset + pd.Timedelta(a.rows * jobs.period_s, "s"))
        )
    seconds = pd.DatetimeIndex(times).as_unit("s").asi8
    assert high.sum() > 10 and (seconds[high] % 900 < 300).all()  # jobs run on a schedule
    assert all(a.kind == "runaway-job" and a.rows >= 10 for a in jobs.anomalies)
    assert all(a.kind == "leak" and a.rows >= 60 for a in series["ramp"].anomalies)
    assert all(0.85 * 2000 <= len(s.frame) <= 10000 for s in series.values())


def test_synthetic_command_writes_a_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert synthetic.main([str(tmp_path), "--seed", "2", "--files-per-kind", "1"]) == 0
    kinds = len(synthetic.KINDS)
    assert f"{kinds} files" in capsys.readouterr().out
    assert (tmp_path / "labels" / "combined_windows.json").is_file()
    assert len(list((tmp_path / "data").rglob("*.csv"))) == kinds


# --- baselines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detector", [baselines.rolling_mean_std, baselines.rolling_median_mad], ids=["mean", "median"]
)
def test_baselines_are_online_and_shaped_like_score_series(
    detector: Callable[..., pd.DataFrame],
) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(100, 5, 500)
    times = pd.date_range("2024-01-01", periods=500, freq="min", tz="UTC")
    frame = detector(times, values, edge=0.9)
    assert list(frame.columns) == ["expected", "lower", "upper", "score"]
    assert len(frame) == 500 and frame["score"].between(0, 1).all()
    assert (frame["score"].iloc[:10] == 0).all()  # no band before min_periods
    # Online: changing the future leaves the past untouched.
    changed = values.copy()
    changed[300:] += 1000
    again = detector(times, changed, edge=0.9)
    pd.testing.assert_frame_equal(frame.iloc[:300], again.iloc[:300])
    assert again["score"].iloc[300] > 0.99  # ~200σ: z / (z + 1/3)
    # At the edge (the product threshold by default) a point fires exactly when it leaves the
    # ±3σ band.
    for edge in (0.6, 0.9):
        scored = detector(times, values, edge=edge)
        outside = (values < scored["lower"]) | (values > scored["upper"])
        fired = scored["score"] >= edge
        assert (fired == outside).iloc[10:].all()
        assert outside.iloc[10:].any()
    # By default the edge is the product's alert threshold.
    pd.testing.assert_frame_equal(
        detector(times, values), detector(times, values, edge=anomaly.DEFAULT_THRESHOLD)
    )
