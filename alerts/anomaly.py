"""Metric anomalies: an expected band per series and an anomaly score in [0, 1] per point.

(First cut: a rolling median/MAD band. Replaced by the seasonal robust detector.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 0.9  # the product's alert threshold on the anomaly score


def score_series(timestamps: object, values: np.ndarray) -> pd.DataFrame:
    """Score one series online. Returns columns expected, lower, upper, score (one row per point)."""
    x = pd.Series(np.asarray(values, dtype=np.float64))
    past = x.shift(1)
    med = past.rolling(60, min_periods=10).median()
    mad = (past - med).abs().rolling(60, min_periods=10).median() * 1.4826 + 1e-9
    z = (x - med).abs() / mad
    score = (1 - np.exp(-np.maximum(z - 3, 0) / 3)).fillna(0.0)
    return pd.DataFrame(
        {"expected": med, "lower": med - 3 * mad, "upper": med + 3 * mad, "score": score}
    )
