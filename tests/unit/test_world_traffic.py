"""Entry traffic: a diurnal and weekly shape with slow, deterministic noise."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from sandbox.world.randomness import MinuteStreams, minute_rng
from sandbox.world.traffic import expected_orders, shape

pytestmark = pytest.mark.unit

MONDAY = int(datetime(2024, 6, 3, tzinfo=UTC).timestamp())
WEEK = np.arange(MONDAY, MONDAY + 7 * 86_400, 60)


def test_the_shape_averages_one_over_a_week():
    assert shape(WEEK).mean() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("hour", "low", "high"),
    [
        pytest.param(4, 0.3, 0.6, id="night-trough"),
        pytest.param(15, 1.4, 1.9, id="afternoon-peak"),
    ],
)
def test_diurnal_peak_and_trough(hour, low, high):
    tuesday = MONDAY + 86_400 + hour * 3600
    assert low < shape(np.asarray([tuesday]))[0] < high


def test_weekends_are_quieter():
    per_day = shape(WEEK).reshape(7, -1).mean(axis=1)
    assert per_day[5:].max() < 0.85 * per_day[:5].min()


def test_noise_is_deterministic_and_slow():
    key = 42
    whole = expected_orders(WEEK, 1.2, key)
    part = expected_orders(WEEK[5000:5100], 1.2, key)
    assert np.array_equal(whole[5000:5100], part)  # any slice on its own gives the same numbers
    assert not np.array_equal(whole, expected_orders(WEEK, 1.2, key + 1))
    wobble = whole / (1.2 * 60 * shape(WEEK))
    assert wobble.min() > 0.75
    assert wobble.max() < 1.3
    assert np.abs(np.diff(wobble)).max() < 0.01  # interpolated hour to hour
    assert whole.mean() == pytest.approx(72, rel=0.05)


def test_minute_streams_are_addressed_by_minute():
    streams = MinuteStreams(7)
    first = streams.at(100).random(3)
    streams.at(101).random(5)
    assert np.array_equal(streams.at(100).random(3), first)
    assert np.array_equal(minute_rng(7, 100).random(3), first)
    assert not np.array_equal(minute_rng(8, 100).random(3), first)
