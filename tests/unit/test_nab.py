"""alerts.nab: NAB scores computed by hand on tiny corpora, and a line-by-line port of NAB's
``Sweeper`` (numenta/NAB ``nab/sweeper.py``) as the oracle for the vectorised sweep.

The hand-computed cases share one layout unless they say otherwise: a file of 100 rows, so the
probationary period is ``min(floor(0.15 * 100), 750) = 15`` rows (rows 0..14 ignored), and one
window on rows 40..49 (width ``w = 10``). Constants used below:

    S(x)   = 2 / (1 + e^(5x)) - 1                        (scaled sigmoid)
    maxTP  = S(-1) = 2 / (1 + e^-5) - 1 = 0.9866142982
    in-window value of row i  = tp * S(-(49 - i + 1) / 10) / maxTP
    after-window value of row i = fp * S((i - 49) / (10 - 1))
    before any window         = -fp
    normalised = 100 * (raw - null) / (perfect - null), null = -fn * windows, perfect = tp * windows
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import nab
from alerts.nab import REWARD_LOW_FN, REWARD_LOW_FP, STANDARD, Corpus, prepare_file

pytestmark = pytest.mark.unit

N = 100
WINDOW = [(40, 49)]
MAX_TP = 2 / (1 + math.exp(-5)) - 1


def _scores(n: int = N, **detections: float) -> np.ndarray:
    """Scores of 0 everywhere but ``r<row>=score`` entries."""
    out = np.zeros(n)
    for key, value in detections.items():
        out[int(key.removeprefix("r"))] = value
    return out


def _corpus(*files: tuple[np.ndarray, list[tuple[int, int]]]) -> Corpus:
    return Corpus([prepare_file(f"f{k}.csv", s, w) for k, (s, w) in enumerate(files)])


def _raw(scores: np.ndarray, windows: list[tuple[int, int]], profile: nab.Profile) -> float:
    """Raw score with detections = rows scoring >= 1 (every test marks detections with 1)."""
    return float(_corpus((scores, windows)).file_raw(profile, 1.0)[0])


# --- the building blocks -------------------------------------------------------------------


def test_scaled_sigmoid_matches_nab_docstring_values() -> None:
    # NAB: S(-1) = 0.98661, S(-0.5) = 0.84828, S(0) = 0, S(1) = -0.98661; -1 from 3 on.
    got = nab.scaled_sigmoid([-1.0, -0.5, 0.0, 1.0, 2.999, 3.0, 7.0])
    assert got[:4] == pytest.approx([0.98661, 0.84828, 0.0, -0.98661], abs=1e-5)
    assert got[4] == pytest.approx(-1.0, abs=1e-6) and got[4] > -1.0
    assert list(got[5:]) == [-1.0, -1.0]
    assert pytest.approx(MAX_TP) == nab.MAX_TP


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(100, 15, id="15% of 100"),
        pytest.param(7, 1, id="floor(1.05)"),
        pytest.param(5000, 750, id="15% of 5000"),
        pytest.param(20000, 750, id="capped at 0.15 * 5000"),
        pytest.param(0, 0, id="empty"),
    ],
)
def test_probation_length_is_nabs(rows: int, expected: int) -> None:
    assert nab.probation_length(rows) == expected


def test_window_rows_maps_inclusive_times_to_rows() -> None:
    times = np.array([0, 10, 20, 30, 40, 50])
    rows = nab.window_rows(times, [(5, 30), (40, 40), (41, 49)])
    # (5, 30) → rows 1..3; (40, 40) → row 4; (41, 49) holds no row: last < first.
    assert rows.tolist() == [[1, 3], [4, 4], [5, 4]]


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        pytest.param([(50, 40)], "window 0 holds no rows", id="empty"),
        pytest.param([(90, 100)], "outside 0..99", id="past the end"),
        pytest.param([(40, 49), (45, 60)], "window 1 overlaps", id="overlap"),
    ],
)
def test_prepare_file_refuses_bad_windows(windows: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_file("bad.csv", np.zeros(N), windows)


# --- hand-computed single-file scores (standard profile unless named) ----------------------


@pytest.mark.parametrize(
    ("detections", "raw"),
    [
        # Row 40, the window's first row: position -(49-40+1)/10 = -1 → S(-1)/maxTP = 1 → tp.
        pytest.param({"r40": 1}, 1.0, id="at window start"),
        # Row 44: position -0.6; S(-0.6) = 2/(1+e^-3) - 1 = 0.9051483; / maxTP = 0.9174287.
        pytest.param({"r44": 1}, 0.9174287, id="mid window"),
        # Row 49, the last row: position -0.1; S(-0.1) = 2/(1+e^-0.5) - 1 = 0.2449187;
        # / maxTP = 0.2482415. A late detection still beats a miss (-1).
        pytest.param({"r49": 1}, 0.2482416, id="at window end"),
        # Rows 42 and 47: only the earliest counts. Position -0.8: S(-0.8) = 2/(1+e^-4) - 1
        # = 0.9640276; / maxTP = 0.9771068.
        pytest.param({"r42": 1, "r47": 1}, 0.9771068, id="first detection only"),
        # No detection: the window is missed, -fn = -1.
        pytest.param({}, -1.0, id="null"),
        # Row 55 after the window, nothing in it: -1 (miss) + 0.11 * S(6/9);
        # S(0.6667) = 2/(1+e^3.3333) - 1 = -0.9311097 → -1 - 0.1024221 = -1.1024221.
        pytest.param({"r55": 1}, -1.1024221, id="FP after window"),
        # Row 50, right after the window: position 1/9: S(0.1111) = 2/(1+e^0.5556) - 1
        # = -0.2708471 → 0.11 * that = -0.0297932. Row 40 detected too: 1 - 0.0297932.
        pytest.param({"r40": 1, "r50": 1}, 0.9702068, id="FP just after a detected window"),
        # Row 76: position 27/9 = 3 → S = -1 (NAB: -1 from 3 on); row 99 likewise: 2 × -0.11.
        pytest.param({"r40": 1, "r76": 1, "r99": 1}, 1.0 - 0.22, id="FPs far after window"),
        # Row 20, before any window: -fp = -0.11. Row 10 is in probation: ignored.
        pytest.param({"r20": 1, "r40": 1}, 0.89, id="FP before any window"),
        pytest.param({"r10": 1, "r40": 1}, 1.0, id="probation ignored"),
        # Everything in probation, so the window is missed.
        pytest.param({"r0": 1, "r14": 1}, -1.0, id="only probation detections"),
    ],
)
def test_hand_computed_raw_scores(detections: dict[str, float], raw: float) -> None:
    assert _raw(_scores(**detections), WINDOW, STANDARD) == pytest.approx(raw, abs=1e-6)


def test_normalised_scores_of_hand_computed_cases() -> None:
    # Standard: null = -1, perfect = 1 → 100 * (raw + 1) / 2.
    assert nab.normalise(1.0, 1, STANDARD) == pytest.approx(100.0)
    assert nab.normalise(-1.0, 1, STANDARD) == pytest.approx(0.0)
    assert nab.normalise(0.2482416, 1, STANDARD) == pytest.approx(62.41208, abs=1e-4)
    assert nab.normalise(-1.1024221, 1, STANDARD) == pytest.approx(-5.121105, abs=1e-4)
    # reward_low_FN: null = -2, perfect = 1 → 100 * (0.2482416 + 2) / 3 = 74.94139.
    assert nab.normalise(0.2482416, 1, REWARD_LOW_FN) == pytest.approx(74.94139, abs=1e-4)
    # No window: undefined.
    assert nab.normalise(-0.5, 0, STANDARD) is None


@pytest.mark.parametrize(
    ("profile", "raw"),
    [
        # Detections on rows 20 (before any window) and 49 (window end).
        # standard: 0.2482416 - 0.11 = 0.1382416
        pytest.param(STANDARD, 0.1382416, id="standard"),
        # reward_low_FP_rate: fp = 0.22 → 0.2482416 - 0.22 = 0.0282416
        pytest.param(REWARD_LOW_FP, 0.0282416, id="low FP"),
        # reward_low_FN_rate: tp 1, fp 0.11 → same raw as standard; the miss would cost 2.
        pytest.param(REWARD_LOW_FN, 0.1382416, id="low FN"),
    ],
)
def test_profile_weights(profile: nab.Profile, raw: float) -> None:
    assert _raw(_scores(r20=1, r49=1), WINDOW, profile) == pytest.approx(raw, abs=1e-6)


def test_low_fn_profile_doubles_the_miss() -> None:
    # Nothing detected and one FP before the window: -2 - 0.11.
    assert _raw(_scores(r20=1), WINDOW, REWARD_LOW_FN) == pytest.approx(-2.11)


def test_fp_positions_use_the_preceding_window() -> None:
    # Two windows, 30..34 (w 5) and 60..79 (w 20). Row 36: 2/(5-1) = 0.5 past the first;
    # S(0.5) = 2/(1+e^2.5) - 1 = -0.8482836 → -0.0933112. Row 85: 6/19 past the second;
    # S(0.3158) = 2/(1+e^1.5789) - 1 = -0.6581108 → -0.0723922. Both windows missed: -2.
    raw = _raw(_scores(r36=1, r85=1), [(30, 34), (60, 79)], STANDARD)
    assert raw == pytest.approx(-2 - 0.0933112 - 0.0723922, abs=1e-6)


def test_window_in_probation_is_not_scored_but_positions_later_fps() -> None:
    # Window 5..9 lies in the probation (rows 0..14): not counted as a window at all.
    # Row 20 is 11/4 = 2.75 past it: S(2.75) = 2/(1+e^13.75) - 1 = -0.9999979 → -0.1099998.
    corpus = _corpus((_scores(r20=1), [(5, 9)]))
    assert corpus.n_windows == 0
    assert corpus.file_raw(STANDARD, 1.0)[0] == pytest.approx(-0.1099998, abs=1e-6)


def test_one_row_window_divides_by_one_not_zero() -> None:
    # Window 40..40 (w 1): a detection on row 40 is worth tp; row 42 is 2/max(0, 1) = 2 past
    # it: S(2) = 2/(1+e^10) - 1 = -0.9999092 → -0.1099900.
    raw = _raw(_scores(r40=1, r42=1), [(40, 40)], STANDARD)
    assert raw == pytest.approx(1 - 0.1099900, abs=1e-6)


def test_nan_scores_never_detect() -> None:
    scores = _scores(r40=1)
    scores[45] = np.nan
    corpus = _corpus((scores, WINDOW))
    assert corpus.file_raw(STANDARD, 0.5)[0] == pytest.approx(1.0)
    assert not np.isnan(corpus.sweep(STANDARD).totals).any()


# --- perfect and null detectors ------------------------------------------------------------


def _perfect(n: int, windows: list[tuple[int, int]]) -> np.ndarray:
    scores = np.zeros(n)
    for first, _ in windows:
        scores[first] = 1.0
    return scores


@pytest.mark.parametrize("profile", list(nab.PROFILES.values()), ids=list(nab.PROFILES))
def test_perfect_detector_scores_100_and_null_0(profile: nab.Profile) -> None:
    layouts = [(100, [(40, 49)]), (400, [(100, 119), (200, 260), (300, 301)]), (60, [])]
    perfect = _corpus(*((_perfect(n, w), w) for n, w in layouts))
    null = _corpus(*((np.zeros(n), w) for n, w in layouts))
    assert perfect.score(profile).score == pytest.approx(100.0)
    assert perfect.score(profile, 0.5).score == pytest.approx(100.0)
    assert null.score(profile).score == pytest.approx(0.0)
    # Constant scores: the sweep must prefer "never fire" to "always fire".
    constant = _corpus(*((np.full(n, 0.5), w) for n, w in layouts))
    best = constant.score(profile)
    assert best.score == pytest.approx(0.0) and best.threshold == nab.NO_DETECTION


def test_per_file_scores_are_normalised_by_their_own_windows() -> None:
    corpus = _corpus((_scores(r40=1), WINDOW), (_scores(r49=1), WINDOW), (_scores(r20=1), []))
    result = corpus.score(STANDARD, 1.0)
    assert result.file_score[0] == pytest.approx(100.0)
    assert result.file_score[1] == pytest.approx(62.41208, abs=1e-4)
    assert result.file_score[2] is None
    assert result.file_raw[2] == pytest.approx(-0.11)
    # Corpus: null -2, perfect 2, raw 1 + 0.2482416 - 0.11 → 100 * 3.1382416 / 4 = 78.45604.
    assert result.score == pytest.approx(78.45604, abs=1e-4)
    assert (result.null, result.perfect) == (-2.0, 2.0)


# --- the sweeper -----------------------------------------------------------------------------


def test_sweeper_lists_every_distinct_threshold_and_picks_the_best() -> None:
    # Window 40..49; row 20 scores 0.9 (FP before any window), row 30 0.8 (another), row 40 0.5.
    corpus = _corpus((_scores(r20=0.9, r30=0.8, r40=0.5), WINDOW))
    sweep = corpus.sweep(STANDARD)
    # inf: -1 (null). 0.9: -1 - 0.11 = -1.11. 0.8: -1.22. 0.5: 1 - 0.22 = 0.78.
    # 0.0: every scorable row fires: 1 - 0.11 * 25 (rows 15..39, before the window) + 0.11 *
    # sum of S((i-49)/9) for rows 50..99: far below.
    assert sweep.thresholds[:4].tolist() == [math.inf, 0.9, 0.8, 0.5]
    assert sweep.totals[:4] == pytest.approx([-1.0, -1.11, -1.22, 0.78])
    assert sweep.thresholds[4] == 0.0 and sweep.totals[4] < -3
    assert sweep.best() == (0.5, pytest.approx(0.78))
    result = corpus.score(STANDARD)
    assert result.threshold == 0.5
    assert result.score == pytest.approx(89.0)  # 100 * (0.78 + 1) / 2


def test_profiles_can_choose_different_thresholds() -> None:
    # Ten FPs before the window at 0.95, a late detection (row 49) at 0.5.
    scores = _scores(r49=0.5)
    scores[20:30] = 0.95
    corpus = _corpus((scores, WINDOW))
    # standard at 0.5: 0.2482416 - 10 * 0.11 = -0.8517584 > -1 → threshold 0.5,
    # 100 * (-0.8517584 + 1) / 2 = 7.41208.
    standard = corpus.score(STANDARD)
    assert standard.threshold == 0.5
    assert standard.score == pytest.approx(7.41208, abs=1e-4)
    # low FP at 0.5: 0.2482416 - 2.2 = -1.95 < -1 → firing never pays: threshold none, 0.
    low_fp = corpus.score(REWARD_LOW_FP)
    assert low_fp.threshold == nab.NO_DETECTION and low_fp.score == 0.0
    # low FN at 0.5: 0.2482416 - 1.1 = -0.8517584 vs null -2 → 100 * 1.1482416 / 3 = 38.27472.
    assert corpus.score(REWARD_LOW_FN).score == pytest.approx(38.27472, abs=1e-4)


def test_sweeper_breaks_ties_towards_the_highest_threshold() -> None:
    # Rows 40 (0.9) and 41 (0.7) in the window; nothing else: thresholds 0.9 and 0.7 both give
    # raw 1.0 (row 41 adds nothing once row 40 fired). NAB keeps the first maximum: 0.9.
    corpus = _corpus((_scores(r40=0.9, r41=0.7), WINDOW))
    assert corpus.sweep(STANDARD).best()[0] == 0.9


def test_sweep_over_a_corpus_equals_rescoring_at_its_best_threshold() -> None:
    rng = np.random.default_rng(7)
    files = []
    for k in range(5):
        n = int(rng.integers(200, 800))
        files.append((rng.random(n).round(2), [(n // 2, n // 2 + n // 10)] if k % 2 else []))
    corpus = _corpus(*files)
    for profile in nab.PROFILES.values():
        threshold, total = corpus.sweep(profile).best()
        assert corpus.file_raw(profile, threshold).sum() == pytest.approx(total)


# --- window-level precision / recall --------------------------------------------------------


def test_window_counts_group_consecutive_fps_into_events() -> None:
    scores = _scores(r44=1, r47=1, r20=1, r21=1, r22=1, r25=1, r60=1, r10=1)
    counts = _corpus((scores, [(40, 49), (70, 79)])).window_counts(1.0)[0]
    # Windows: 40..49 detected, 70..79 not. FP events: 20-22 (one), 25, 60; row 10 is in
    # probation. Precision 1 / (1 + 3) = 0.25, recall 1/2, F1 = 2 * 0.25 * 0.5 / 0.75 = 1/3.
    assert (counts.detected, counts.windows, counts.fp_events) == (1, 2, 3)
    assert counts.precision == pytest.approx(0.25)
    assert counts.recall == pytest.approx(0.5)
    assert counts.f1 == pytest.approx(1 / 3)


def test_fp_events_do_not_run_across_files_or_windows() -> None:
    a = _scores(r99=1)  # last row of file a
    b = _scores(r15=1)  # first scorable row of file b
    c = _scores(r39=1, r40=1, r50=1)  # before, in and after a window: two events
    counts = _corpus((a, []), (b, []), (c, WINDOW)).window_counts(1.0)
    assert [x.fp_events for x in counts] == [1, 1, 2]
    assert nab.WindowCounts(0, 0, 0).f1 == 0.0


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(20, 80),
    width=st.integers(2, 15),
    data=st.data(),
)
def test_earlier_detection_in_a_window_never_scores_less(
    first: int, width: int, data: st.DataObject
) -> None:
    last = first + width - 1
    i = data.draw(st.integers(first, last - 1))
    j = data.draw(st.integers(i + 1, last))
    window = [(first, last)]
    for profile in nab.PROFILES.values():
        early = _raw(_scores(**{f"r{i}": 1}), window, profile)
        late = _raw(_scores(**{f"r{j}": 1}), window, profile)
        assert early > late > -profile.fn


def _nab_reference(
    files: list[tuple[np.ndarray, list[tuple[int, int]]]], profile: nab.Profile
) -> list[tuple[float, float]]:
    """numenta/NAB ``Sweeper.calcSweepScore`` + ``calcScoreByThreshold``, line by line, with
    row indices for timestamps (and a width-1 window divided by 1, where NAB would crash)."""

    def scaled(x: float) -> float:
        return -1.0 if x >= 3.0 else 2 * (1 / (1 + math.exp(5 * x))) - 1.0

    rows = []
    for name, (scores, windows) in enumerate(files):
        limits = list(windows)
        max_tp = scaled(-1.0)
        probation = min(math.floor(0.15 * len(scores)), 0.15 * 5000)
        cur = cur_name = cur_width = cur_right = prev_width = prev_right = None
        for i, score in enumerate(scores):
            if limits and i == limits[0][0]:
                cur = limits.pop(0)
                cur_name = f"{name}|{cur[0]}"
                cur_right = cur[1]
                cur_width = float(cur[1] - cur[0] + 1)
            if cur is not None:
                value = scaled(-(cur_right - i + 1) / cur_width) * profile.tp / max_tp
            else:
                past = 3.0 if prev_right is None else abs(prev_right - i) / max(prev_width - 1, 1)
                value = scaled(past) * profile.fp
            rows.append((score, value, cur_name if i >= probation else "probationary"))
            if cur is not None and i == cur[1]:
                prev_right, prev_width = i, cur_width
                cur = cur_name = cur_width = cur_right = None

    scorable = sorted((r for r in rows if r[2] != "probationary"), key=lambda r: -r[0])
    parts: dict[str | None, float] = {None: 0.0}
    for _, _, window in scorable:
        if window is not None:
            parts[window] = -profile.fn
    out = []
    threshold = math.inf
    for score, value, window in scorable:
        if score != threshold:
            out.append((threshold, sum(parts.values())))
            threshold = score
        if window is None:
            parts[None] += value
        else:
            parts[window] = max(parts[window], value)
    out.append((threshold, sum(parts.values())))
    return out


@st.composite
def _files(draw: st.DrawFn) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(5, 120))
        levels = draw(
            st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=n, max_size=n)
        )
        cuts = sorted(draw(st.lists(st.integers(0, n - 1), max_size=6, unique=True)))
        windows = [(cuts[k], cuts[k + 1]) for k in range(0, len(cuts) - 1, 2)]
        out.append((np.array(levels), windows))
    return out


@settings(max_examples=150, deadline=None)
@given(files=_files(), profile=st.sampled_from(list(nab.PROFILES.values())))
def test_vectorised_sweep_equals_nabs_loop(
    files: list[tuple[np.ndarray, list[tuple[int, int]]]], profile: nab.Profile
) -> None:
    expected = _nab_reference(files, profile)
    sweep = _corpus(*files).sweep(profile)
    assert sweep.thresholds.tolist() == [t for t, _ in expected]
    assert sweep.totals == pytest.approx([s for _, s in expected], abs=1e-9)


def test_sweep_is_fast_on_a_large_corpus() -> None:
    # 100 files × 20k points: prepare + sweep for three profiles in a few seconds at most.
    import time

    rng = np.random.default_rng(1)
    started = time.perf_counter()
    files = [
        prepare_file(f"f{k}", rng.random(20_000), [(5_000, 5_999), (12_000, 12_999)])
        for k in range(100)
    ]
    corpus = Corpus(files)
    for profile in nab.PROFILES.values():
        corpus.score(profile)
    assert time.perf_counter() - started < 20
