"""Entry traffic: the expected orders per minute, with a diurnal and weekly shape and slow noise.

All times are UTC. The shape is a US-daytime business: a peak around 15:00 UTC, a trough around
04:00 UTC (about 0.4 of the mean), weekdays a little above the mean and weekends about a quarter
below it; over a whole week the shape averages to 1, so ``orders_per_second`` is the weekly mean.
On top of the shape sits a slow multiplicative wobble (log-normal, sigma ``NOISE_SIGMA``, drawn
once per hour and interpolated linearly, so neighbouring minutes move together). The per-minute
count itself is drawn by the simulation (Poisson around this expectation).

Everything here is a pure function of the timestamps and the noise key, so any slice of time
can be computed on its own (the simulation's chunk invariance relies on it).
"""

from __future__ import annotations

import numpy as np

from sandbox.world.randomness import hashed_normal

NOISE_SIGMA = 0.07
# Monday .. Sunday, the factor at noon UTC; linear in between.
WEEKDAY_FACTORS = (1.02, 1.06, 1.05, 1.04, 1.0, 0.78, 0.72)
_DAY = 86_400
_HOUR = 3_600


def diurnal(timestamps: np.ndarray) -> np.ndarray:
    """Time-of-day factor for epoch seconds (UTC)."""
    hours = (np.asarray(timestamps, dtype=np.float64) % _DAY) / _HOUR
    return (
        1.0
        + 0.55 * np.cos(2 * np.pi * (hours - 15.0) / 24.0)
        + 0.12 * np.cos(4 * np.pi * (hours - 13.0) / 24.0)
    )


def weekly(timestamps: np.ndarray) -> np.ndarray:
    """Day-of-week factor for epoch seconds (UTC), interpolated between noons."""
    days = (np.asarray(timestamps, dtype=np.float64) - _DAY / 2) / _DAY  # days since a noon
    whole = np.floor(days)
    frac = days - whole
    factors = np.asarray(WEEKDAY_FACTORS)
    # 1970-01-01 was a Thursday (Monday = 0 -> Thursday = 3).
    today = factors[((whole.astype(np.int64) + 3) % 7)]
    tomorrow = factors[((whole.astype(np.int64) + 4) % 7)]
    factor: np.ndarray = today + (tomorrow - today) * frac
    return factor


def _normaliser() -> float:
    week = np.arange(0, 7 * _DAY, 60, dtype=np.float64)
    return float(np.mean(diurnal(week) * weekly(week)))


_NORMALISER = _normaliser()


def shape(timestamps: np.ndarray) -> np.ndarray:
    """Diurnal x weekly factor, averaging 1 over a week."""
    factor: np.ndarray = diurnal(timestamps) * weekly(timestamps) / _NORMALISER
    return factor


def noise(timestamps: np.ndarray, key: int) -> np.ndarray:
    """Slow multiplicative noise: one log-normal factor per hour, linear in between."""
    t = np.asarray(timestamps, dtype=np.float64) / _HOUR
    hour = np.floor(t).astype(np.int64)
    frac = t - hour
    z = (1 - frac) * hashed_normal(key, hour) + frac * hashed_normal(key, hour + 1)
    factor: np.ndarray = np.exp(NOISE_SIGMA * z - NOISE_SIGMA**2 / 2)
    return factor


def expected_orders(timestamps: np.ndarray, orders_per_second: float, key: int) -> np.ndarray:
    """Expected orders in each minute starting at ``timestamps`` (epoch seconds, UTC)."""
    orders: np.ndarray = orders_per_second * 60.0 * shape(timestamps) * noise(timestamps, key)
    return orders
