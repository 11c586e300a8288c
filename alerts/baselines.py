"""Simple anomaly baselines, scored beside the product's detector by ``alerts.evaluate``.

A detector is only worth its complexity if it beats what anyone would write first, so two
textbook bands are scored in the same run on the same corpus:

- :func:`rolling_mean_std`: the mean of the last ``window`` points ± 3 standard deviations;
- :func:`rolling_median_mad`: the median of the last ``window`` points ± 3 scaled median
  absolute deviations (MAD × 1.4826, the robust σ), i.e. a robust z-score. Where more than half
  the window is one value (a sparse count series is mostly zeros) the MAD is 0, so σ falls back
  to 1.2533 × the mean absolute deviation from the median, as the "modified z-score" does.

Both are online (the band at ``t`` uses points strictly before ``t``), and return the frame
:func:`alerts.anomaly.score_series` returns: ``expected, lower, upper, score``, one row per
point. The distance ``z`` (in σ) maps to a score in ``[0, 1)`` by ``z / (z + c)`` with
``c = 3 (1 - edge) / edge`` and ``edge`` the product's alert threshold, so at that threshold a
baseline fires exactly when a point leaves its ±3σ band; the score keeps rising with ``z``
(``1 - score = c / (z + c)`` never rounds to 0 in practice), so NAB's threshold sweep can still
rank a 50σ point below a 5000σ one.
Points before ``min_periods`` of history have no band and score 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    import numpy.typing as npt

BAND_SIGMAS = 3.0
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × 1.4826 = σ
MEAN_AD_TO_SIGMA = 1.2533  # mean absolute deviation of a normal distribution × 1.2533 = σ
_EPS = 1e-9  # a flat history (σ = 0) makes any change infinitely unusual, not a division error


def _edge() -> float:
    from alerts.anomaly import DEFAULT_THRESHOLD

    return DEFAULT_THRESHOLD


def _frame(
    values: np.ndarray, expected: np.ndarray, sigma: np.ndarray, edge: float | None
) -> pd.DataFrame:
    edge = _edge() if edge is None else edge
    if not 0.0 < edge < 1.0:
        raise ValueError(f"edge must be in (0, 1), got {edge}")
    z = np.abs(values - expected) / np.maximum(sigma, _EPS)
    c = BAND_SIGMAS * (1.0 - edge) / edge
    with np.errstate(invalid="ignore"):
        score = np.where(np.isinf(z), 1.0, z / (z + c))
    score = np.where(np.isfinite(expected) & np.isfinite(values), score, 0.0)
    return pd.DataFrame(
        {
            "expected": expected,
            "lower": expected - BAND_SIGMAS * sigma,
            "upper": expected + BAND_SIGMAS * sigma,
            "score": np.clip(score, 0.0, 1.0),
        }
    )


def rolling_mean_std(
    timestamps: object,
    values: npt.ArrayLike,
    *,
    window: int = 60,
    min_periods: int = 10,
    edge: float | None = None,
) -> pd.DataFrame:
    """Mean ± 3σ of the previous ``window`` points. ``timestamps`` is accepted and unused."""
    x = np.asarray(values, dtype=np.float64)
    past = pd.Series(x).shift(1).rolling(window, min_periods=min_periods)
    mean = past.mean().to_numpy()
    std = past.std(ddof=1).to_numpy()
    return _frame(x, mean, std, edge)


def rolling_median_mad(
    timestamps: object,
    values: npt.ArrayLike,
    *,
    window: int = 60,
    min_periods: int = 10,
    edge: float | None = None,
) -> pd.DataFrame:
    """Median ± 3σ of the previous ``window`` points, σ = 1.4826 × MAD (a rolling robust z-score).

    The MAD is the exact one of each window (median of the deviations from *that window's*
    median), computed over a strided view: O(n × window) work, no Python loop. Where it is 0,
    σ = 1.2533 × the mean absolute deviation from the median instead.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    median = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    if n > 1:
        # Row j of the view holds x[j - window + 1 .. j]; padded with NaN for the warm-up.
        history = np.concatenate((np.full(window - 1, np.nan), x[:-1]))
        view = sliding_window_view(history, window)
        enough = np.sum(~np.isnan(view), axis=1) >= min_periods
        # Full windows without NaN take the fast np.median; the warm-up (and any NaN) nanmedian.
        clean = enough & ~np.isnan(view).any(axis=1)
        ragged = enough & ~clean
        for rows, median_of, mean_of in (
            (clean, np.median, np.mean),
            (ragged, np.nanmedian, np.nanmean),
        ):
            if rows.any():
                ready = view[rows]
                with np.errstate(all="ignore"):
                    med = median_of(ready, axis=1)
                    deviation = np.abs(ready - med[:, None])
                    mad = median_of(deviation, axis=1)
                    robust = np.where(
                        mad > 0, MAD_TO_SIGMA * mad, MEAN_AD_TO_SIGMA * mean_of(deviation, axis=1)
                    )
                median[1:][rows] = med
                sigma[1:][rows] = robust
    return _frame(x, median, sigma, edge)
