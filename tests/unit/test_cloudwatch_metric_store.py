"""The metric store (columns, consolidation, snapshots, threads) and its statistics."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sandbox.endpoint.cloudwatch.metric_store import (
    MetricStore,
    RawValues,
    SeriesKey,
    canonical_dimensions,
    consolidate,
)
from sandbox.endpoint.cloudwatch.statistics import (
    Kind,
    aggregate,
    parse_statistic,
    segment_percentile,
    segment_statistic,
)

pytestmark = pytest.mark.unit

T0 = 1_700_000_040  # a minute boundary (epoch seconds)
DIMS = {"FunctionName": "checkout"}


def store_with(values: list[float], timestamps: list[int], **kw: object) -> MetricStore:
    store = MetricStore()
    store.put_values("App", "Latency", DIMS, "Milliseconds", timestamps, values, **kw)  # type: ignore[arg-type]
    return store


def data_of(store: MetricStore, unit: str | None = None):
    series = store.get("App", "Latency", DIMS)
    assert series is not None
    return series.snapshot(unit)


def numpy_percentile(values: np.ndarray, weights: np.ndarray, p: float) -> float:
    """Independent reference: nearest rank over the samples expanded by weight."""
    expanded = np.repeat(values, weights.astype(np.int64))
    return float(np.percentile(expanded, p, method="inverted_cdf"))


# ---------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    "dims",
    [
        {"B": "2", "A": "1"},
        [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": "2"}],
        [{"Name": "B", "Value": "2"}, {"Name": "A", "Value": "1"}],
        [("B", "2"), ("A", "1")],
    ],
    ids=["dict", "list", "list-unsorted", "pairs"],
)
def test_canonical_dimensions(dims: object) -> None:
    assert canonical_dimensions(dims) == (("A", "1"), ("B", "2"))  # type: ignore[arg-type]


def test_same_metric_whatever_dimension_order() -> None:
    store = MetricStore()
    store.put_values("App", "M", {"B": "2", "A": "1"}, None, [T0], [1.0])
    store.put_values(
        "App",
        "M",
        [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": "2"}],
        None,
        [T0 + 60],
        [2.0],
    )
    assert len(store) == 1
    series = store.get("App", "M", {"A": "1", "B": "2"})
    assert series is not None
    assert series.key == SeriesKey("App", "M", (("A", "1"), ("B", "2")))
    assert series.snapshot().timestamps.tolist() == [T0, T0 + 60]
    assert series.units == ["None"]


# ---------------------------------------------------------------------------- consolidation


def test_out_of_order_writes_read_sorted() -> None:
    store = MetricStore()
    for t, v in [(T0 + 120, 3.0), (T0, 1.0), (T0 + 60, 2.0)]:
        store.put_values("App", "Latency", DIMS, "Milliseconds", [t], [v])
    data = data_of(store)
    assert data.timestamps.tolist() == [T0, T0 + 60, T0 + 120]
    assert data.sums.tolist() == [1.0, 2.0, 3.0]
    assert data.min_step == 60
    assert data.alignment % 60 == 0


def test_samples_in_one_minute_merge_into_one_datapoint() -> None:
    store = store_with([5.0, 1.0, 3.0], [T0 + 1, T0 + 59, T0 + 30])
    store.put_values("App", "Latency", DIMS, "Milliseconds", [T0 + 10], [2.0], counts=[2.0])
    data = data_of(store)
    assert data.timestamps.tolist() == [T0]  # standard resolution: the start of the minute
    assert data.sums.tolist() == [5 + 1 + 3 + 2 * 2]
    assert data.counts.tolist() == [5.0]
    assert (data.mins[0], data.maxs[0]) == (1.0, 5.0)
    assert data.raw_values.tolist() == [1.0, 2.0, 3.0, 5.0]  # ascending within the datapoint
    assert data.raw_weights.tolist() == [1.0, 2.0, 1.0, 1.0]
    assert data.raw_complete.tolist() == [True]


def test_high_resolution_keeps_seconds() -> None:
    store = store_with([1.0, 2.0], [T0 + 1, T0 + 2], storage_resolution=1)
    assert data_of(store).timestamps.tolist() == [T0 + 1, T0 + 2]


def test_list_and_csr_raw_values_are_equivalent() -> None:
    ts = np.array([T0, T0 + 60, T0 + 120])
    raw = [np.array([3.0, 1.0]), None, np.array([7.0])]
    sums, counts = np.array([4.0, 10.0, 7.0]), np.array([2.0, 4.0, 1.0])
    mins, maxs = np.array([1.0, 1.0, 7.0]), np.array([3.0, 4.0, 7.0])
    a, b = MetricStore(), MetricStore()
    a.put_aggregates("App", "Latency", DIMS, "Count", ts, sums, counts, mins, maxs, raw)
    csr = RawValues(np.array([0, 2, 2, 3]), np.array([3.0, 1.0, 7.0]))
    b.put_aggregates("App", "Latency", DIMS, "Count", ts, sums, counts, mins, maxs, csr)
    da, db = data_of(a, "Count"), data_of(b, "Count")
    for name in ("timestamps", "sums", "raw_offsets", "raw_values", "raw_weights", "raw_complete"):
        assert getattr(da, name).tolist() == getattr(db, name).tolist(), name
    assert da.raw_complete.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("count", "total", "lo", "hi", "percentiles"),
    [
        (1.0, 7.0, 7.0, 7.0, True),  # one sample: its value is known
        (4.0, 28.0, 7.0, 7.0, True),  # Minimum == Maximum and Sum == Min x SampleCount
        (4.0, 20.0, 2.0, 8.0, False),  # the samples are unknown
        (4.0, 30.0, 7.0, 7.0, False),  # inconsistent set: AWS's condition does not hold
    ],
    ids=["single-sample", "all-equal", "spread", "inconsistent"],
)
def test_statistic_sets_and_percentiles(
    count: float, total: float, lo: float, hi: float, percentiles: bool
) -> None:
    store = MetricStore()
    store.put_aggregates("App", "Latency", DIMS, None, [T0], [total], [count], [lo], [hi])
    data = data_of(store)
    p50 = parse_statistic("p50")
    assert p50 is not None
    _, (got,) = aggregate(data, T0, T0 + 60, 60, [p50])
    assert bool(data.raw_complete[0]) is percentiles
    assert (not np.isnan(got[0])) is percentiles
    if percentiles:
        assert got[0] == lo


def test_snapshots_are_immutable_and_stable() -> None:
    store = store_with([1.0], [T0])
    first = data_of(store)
    with pytest.raises(ValueError, match="read-only"):
        first.sums[0] = 99.0
    store.put_values("App", "Latency", DIMS, "Milliseconds", [T0 + 60], [2.0])
    second = data_of(store)
    assert first.timestamps.tolist() == [T0]  # an old snapshot never changes
    assert second.timestamps.tolist() == [T0, T0 + 60]
    assert data_of(store) is second  # no write, no new snapshot


def test_caller_arrays_are_copied_not_frozen() -> None:
    values = np.array([1.0, 2.0])
    ts = np.array([T0, T0 + 60])
    store = MetricStore()
    store.put_values("App", "Latency", DIMS, None, ts, values)
    data_of(store)
    values[0] = 50.0  # still writeable, and the store is unaffected
    assert data_of(store).sums.tolist() == [1.0, 2.0]


def test_units_are_kept_apart_and_merged_on_request() -> None:
    store = MetricStore()
    store.put_values("App", "Latency", DIMS, "Milliseconds", [T0], [1.0])
    store.put_values("App", "Latency", DIMS, "Seconds", [T0, T0 + 60], [2.0, 3.0])
    series = store.get("App", "Latency", DIMS)
    assert series is not None
    assert series.units == ["Milliseconds", "Seconds"]
    assert series.snapshot("Milliseconds").sums.tolist() == [1.0]
    assert series.snapshot("Count").timestamps.size == 0
    merged = series.snapshot()
    assert merged.sums.tolist() == [3.0, 3.0]
    assert series.snapshot() is merged  # cached while nothing changes
    assert list(series.unit_snapshots()) == ["Milliseconds", "Seconds"]


def test_window_is_half_open() -> None:
    data = data_of(store_with([1.0, 2.0, 3.0], [T0, T0 + 60, T0 + 120]))
    assert data.window(T0, T0 + 120) == (0, 2)
    assert data.window(T0 + 1, T0 + 121) == (1, 3)
    assert data.window(T0 + 500, T0 + 600) == (3, 3)


def test_last_timestamp_tracks_newest_datapoint() -> None:
    store = store_with([1.0, 2.0], [T0 + 600, T0])
    series = store.get("App", "Latency", DIMS)
    assert series is not None
    assert series.last_timestamp == T0 + 600


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sums": [1.0, 2.0]}, "same length"),
        ({"counts": [0.0]}, "counts must be finite and > 0"),
        ({"mins": [float("nan")]}, "must be finite"),
        ({"storage_resolution": 5}, "storage_resolution"),
        ({"values": [[1.0], [2.0]]}, "one entry per datapoint"),
        ({"values": RawValues(np.array([0, 5]), np.array([1.0]))}, "offsets"),
    ],
    ids=["lengths", "zero-count", "nan", "resolution", "values-length", "bad-csr"],
)
def test_put_aggregates_rejects_malformed_arrays(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "timestamps": [T0],
        "sums": [1.0],
        "counts": [1.0],
        "mins": [1.0],
        "maxs": [1.0],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        MetricStore().put_aggregates("App", "M", {}, None, **args)  # type: ignore[arg-type]


def test_concurrent_writers_and_readers() -> None:
    store = MetricStore()
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(200):
                store.put_values(
                    "App", "Hits", {"Shard": str(k % 4)}, "Count", [T0 + 60 * (i % 50)], [1.0]
                )
                if i % 20 == 0:
                    for series in store:
                        series.snapshot()
        except BaseException as e:  # pragma: no cover - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) == 4
    total = sum(float(s.snapshot().counts.sum()) for s in store)
    assert total == 8 * 200


def test_compact_consolidates_everything() -> None:
    store = store_with([1.0], [T0])
    store.compact()
    series = store.get("App", "Latency", DIMS)
    assert series is not None
    assert not series._units["Milliseconds"]._pending


def test_consolidate_of_nothing_is_empty() -> None:
    assert len(consolidate([])) == 0


def test_ragged_unsorted_raw_values_get_sorted() -> None:
    rng = np.random.default_rng(3)
    raw = [rng.normal(size=int(n)) for n in rng.integers(1, 9, size=40)]
    n = len(raw)
    store = MetricStore()
    store.put_aggregates(
        "App",
        "Latency",
        DIMS,
        None,
        T0 + 60 * np.arange(n),
        [r.sum() for r in raw],
        [r.size for r in raw],
        [r.min() for r in raw],
        [r.max() for r in raw],
        raw,
    )
    data = data_of(store)
    for i, r in enumerate(raw):
        got = data.raw_values[data.raw_offsets[i] : data.raw_offsets[i + 1]]
        assert got.tolist() == sorted(r.tolist())


# ---------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    ("text", "kind", "lo", "hi", "percent"),
    [
        ("Sum", Kind.SUM, None, None, True),
        ("SampleCount", Kind.SAMPLE_COUNT, None, None, True),
        ("p99", Kind.PERCENTILE, None, 99.0, True),
        ("p99.9", Kind.PERCENTILE, None, 99.9, True),
        ("p0", Kind.PERCENTILE, None, 0.0, True),
        ("p100", Kind.PERCENTILE, None, 100.0, True),
        ("tm90", Kind.TRIMMED_MEAN, 0.0, 90.0, True),
        ("TM(10%:90%)", Kind.TRIMMED_MEAN, 10.0, 90.0, True),
        ("TM(:95%)", Kind.TRIMMED_MEAN, 0.0, 95.0, True),
        ("TM(150:1000)", Kind.TRIMMED_MEAN, 150.0, 1000.0, False),
        ("IQM", Kind.TRIMMED_MEAN, 25.0, 75.0, True),
        ("wm98", Kind.WINSORIZED_MEAN, 0.0, 98.0, True),
        ("tc90", Kind.TRIMMED_COUNT, 0.0, 90.0, True),
        ("TS(5%:)", Kind.TRIMMED_SUM, 5.0, 100.0, True),
        ("PR(:300)", Kind.PERCENTILE_RANK, None, 300.0, False),
    ],
    ids=str,
)
def test_parse_statistic(
    text: str, kind: Kind, lo: float | None, hi: float | None, percent: bool
) -> None:
    stat = parse_statistic(text)
    assert stat is not None
    assert (stat.name, stat.kind, stat.lo, stat.hi, stat.percent) == (text, kind, lo, hi, percent)


@pytest.mark.parametrize(
    "text",
    [
        "sum",
        "Avg",
        "p101",
        "p99.999",
        "P99",
        "p",
        "pp9",
        "TM(90%:10%)",
        "TM(10%:900)",
        "PR(1%:2%)",
        "TM(:)",
        "tm",
        "",
        "Median",
    ],
)
def test_parse_statistic_rejects(text: str) -> None:
    assert parse_statistic(text) is None


@pytest.mark.parametrize("p", [0.0, 1.0, 10.0, 25.0, 50.0, 90.0, 95.5, 99.0, 99.9, 100.0])
def test_segment_percentile_matches_numpy_inverted_cdf(p: float) -> None:
    rng = np.random.default_rng(int(p * 10))
    lens = rng.integers(1, 40, size=25)
    offsets = np.concatenate(([0], np.cumsum(lens)))
    values = rng.gamma(2.0, 30.0, size=int(offsets[-1])).round(1)
    weights = rng.integers(1, 5, size=values.size).astype(float)
    for i in range(lens.size):  # ascending within each segment, as the store keeps them
        sl = slice(offsets[i], offsets[i + 1])
        order = np.argsort(values[sl])
        values[sl], weights[sl] = values[sl][order], weights[sl][order]
    got = segment_percentile(values, weights, offsets, p)
    for i in range(lens.size):
        sl = slice(offsets[i], offsets[i + 1])
        assert got[i] == numpy_percentile(values[sl], weights[sl], p), (i, p)


def test_percentile_nearest_rank_exact_boundaries() -> None:
    # 100 samples 1..100: p7 is the 7th value (a float 0.07 * 100 would say 7.000000000000001)
    values = np.arange(1.0, 101.0)
    offsets = np.array([0, 100])
    assert segment_percentile(values, np.ones(100), offsets, 7.0)[0] == 7.0
    assert segment_percentile(values, np.ones(100), offsets, 99.5)[0] == 100.0
    assert segment_percentile(values, np.ones(100), offsets, 0.0)[0] == 1.0
    # non-integral weights take the float path
    assert (
        segment_percentile(np.array([1.0, 2.0]), np.array([0.5, 0.5]), np.array([0, 2]), 50.0)[0]
        == 1.0
    )


def test_segment_percentile_empty_segments_are_nan() -> None:
    got = segment_percentile(np.array([4.0]), np.array([1.0]), np.array([0, 0, 1, 1]), 50.0)
    assert np.isnan(got[0]) and got[1] == 4.0 and np.isnan(got[2])


def _stat(text: str):
    stat = parse_statistic(text)
    assert stat is not None
    return stat


SAMPLES = np.arange(1.0, 11.0)  # 1..10, one segment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tm90", np.mean(SAMPLES[:9])),  # the highest 10% left out
        ("TM(10%:90%)", np.mean(SAMPLES[1:9])),
        ("IQM", np.mean(SAMPLES[2:8])),  # 25%..75% of 10 samples: 2.5 .. 7.5 by rank
        ("tc90", 9.0),
        ("ts90", float(SAMPLES[:9].sum())),
        ("TM(3:7)", np.mean([4.0, 5.0, 6.0, 7.0])),  # by value: 3 < v <= 7
        ("PR(:3)", 30.0),
        ("PR(2:5)", 30.0),
        ("WM(10%:90%)", np.mean(np.clip(SAMPLES, 1.0, 9.0))),
        ("wm80", np.mean(np.clip(SAMPLES, 1.0, 8.0))),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_trimmed_and_other_extended_statistics(text: str, expected: float) -> None:
    got = segment_statistic(_stat(text), SAMPLES, np.ones(10), np.array([0, 10]))
    if text == "IQM":
        # rank interval (2.5, 7.5]: half of 3, then 4..7, then half of 8
        expected = (0.5 * 3 + 4 + 5 + 6 + 7 + 0.5 * 8) / 5.0
    assert got[0] == pytest.approx(expected)


def test_trimmed_weights_straddle_a_boundary() -> None:
    # total weight 8; tm75 keeps ranks (0, 6]: 1 covers (0,1], 2 (1,2], 3 (2,4] and 5 (4,8],
    # so 5 keeps 2 of its 4 weight
    values, weights = np.array([1.0, 2.0, 3.0, 5.0]), np.array([1.0, 1.0, 2.0, 4.0])
    got = segment_statistic(_stat("tm75"), values, weights, np.array([0, 4]))
    assert got[0] == pytest.approx((1 + 2 + 3 * 2 + 5 * 2) / 6.0)


def test_aggregate_fast_and_general_paths_agree() -> None:
    rng = np.random.default_rng(7)
    n = 120
    raw = [rng.gamma(2.0, 10.0, size=5) for _ in range(n)]
    store = MetricStore()
    ts = T0 + 60 * np.arange(n)
    store.put_aggregates(
        "App",
        "Latency",
        DIMS,
        None,
        ts,
        [r.sum() for r in raw],
        [5.0] * n,
        [r.min() for r in raw],
        [r.max() for r in raw],
        raw,
    )
    data = data_of(store)
    stats = [_stat(s) for s in ("Sum", "SampleCount", "Average", "Minimum", "Maximum", "p90")]
    # Period 60: one datapoint per period (fast path)
    got_ts, cols = aggregate(data, T0, T0 + 60 * n, 60, stats)
    assert got_ts.tolist() == ts.tolist()
    for i in (0, 57, n - 1):
        r = np.sort(raw[i])
        assert cols[0][i] == pytest.approx(r.sum())
        assert cols[1][i] == 5.0
        assert cols[2][i] == pytest.approx(r.mean())
        assert (cols[3][i], cols[4][i]) == (r[0], r[-1])
        assert cols[5][i] == numpy_percentile(r, np.ones(5), 90.0)
    # Period 300: five datapoints per period (general path)
    got_ts, cols = aggregate(data, T0, T0 + 60 * n, 300, stats)
    assert got_ts.tolist() == (T0 + 300 * np.arange(n // 5)).tolist()
    for k in (0, 11, n // 5 - 1):
        r = np.sort(np.concatenate(raw[5 * k : 5 * k + 5]))
        assert cols[0][k] == pytest.approx(r.sum())
        assert cols[1][k] == 25.0
        assert cols[2][k] == pytest.approx(r.mean())
        assert (cols[3][k], cols[4][k]) == (r[0], r[-1])
        assert cols[5][k] == numpy_percentile(r, np.ones(r.size), 90.0)


def test_aggregate_periods_start_at_start() -> None:
    data = data_of(store_with([1.0, 2.0, 4.0], [T0, T0 + 60, T0 + 120]))
    got_ts, (sums,) = aggregate(data, T0 + 60, T0 + 600, 120, [_stat("Sum")])
    assert got_ts.tolist() == [T0 + 60]  # [T0+60, T0+180) holds both later points
    assert sums.tolist() == [6.0]
    got_ts, (sums,) = aggregate(data, T0 - 30, T0 + 600, 60, [_stat("Sum")])
    assert got_ts.tolist() == [T0 - 30, T0 + 30, T0 + 90]  # unaligned start: periods shift


def test_percentile_of_a_period_with_an_unknown_sample_set_is_missing() -> None:
    store = store_with([1.0, 2.0], [T0, T0 + 60])
    store.put_aggregates(
        "App", "Latency", DIMS, "Milliseconds", [T0 + 120], [10.0], [4.0], [1.0], [4.0]
    )
    data = data_of(store, "Milliseconds")
    _, (p50, total) = aggregate(data, T0, T0 + 180, 180, [_stat("p50"), _stat("Sum")])
    assert np.isnan(p50[0]) and total[0] == 13.0
    _, (p50,) = aggregate(data, T0, T0 + 180, 60, [_stat("p50")])
    assert p50.tolist()[:2] == [1.0, 2.0] and np.isnan(p50[2])


# ---------------------------------------------------------------------------- live appends


def _columns(data) -> dict[str, list]:
    names = (
        "timestamps",
        "sums",
        "counts",
        "mins",
        "maxs",
        "raw_offsets",
        "raw_values",
        "raw_weights",
        "raw_complete",
    )
    return {n: getattr(data, n).tolist() for n in names} | {
        "min_step": data.min_step,
        "alignment": data.alignment,
    }


def test_appending_minute_after_minute_equals_one_big_write() -> None:
    rng = np.random.default_rng(11)
    ticks = []
    for minute in range(300):
        kind = minute % 3  # raw samples, a statistic set without samples, a single value
        if kind == 0:
            ticks.append(("raw", rng.gamma(2.0, 10.0, size=int(rng.integers(1, 6)))))
        elif kind == 1:
            ticks.append(("set", None))
        else:
            ticks.append(("one", np.array([float(minute)])))
    live, batch = MetricStore(), MetricStore()
    p95 = parse_statistic("p95")
    assert p95 is not None
    seen = []
    for minute, (kind, raw) in enumerate(ticks):
        t = T0 + 60 * minute
        if kind == "set":
            args = ([t], [10.0], [4.0], [1.0], [4.0])
            live.put_aggregates("App", "Latency", DIMS, None, *args)
            batch.put_aggregates("App", "Latency", DIMS, None, *args)
        else:
            live.put_values("App", "Latency", DIMS, None, [t] * raw.size, raw)
            batch.put_values("App", "Latency", DIMS, None, [t] * raw.size, raw)
        if minute % 7 == 0:  # read now and then, so the live store publishes many snapshots
            data = data_of(live, "None")
            _, (got,) = aggregate(data, T0, t + 60, 60, [p95])
            seen.append(got.copy())
    live_data, batch_data = data_of(live, "None"), data_of(batch, "None")
    assert _columns(live_data) == _columns(batch_data)
    _, (live_p95,) = aggregate(live_data, T0, T0 + 60 * 300, 60, [p95])
    _, (batch_p95,) = aggregate(batch_data, T0, T0 + 60 * 300, 60, [p95])
    assert np.array_equal(live_p95, batch_p95, equal_nan=True)
    for earlier in seen:  # earlier answers are prefixes of the final one
        assert np.array_equal(earlier, live_p95[: earlier.size], equal_nan=True)


def test_old_snapshot_survives_appends_and_late_data() -> None:
    store = store_with([1.0, 2.0], [T0, T0 + 60])
    first = data_of(store)
    for i in range(2, 50):
        store.put_values("App", "Latency", DIMS, "Milliseconds", [T0 + 60 * i], [float(i + 1)])
        data_of(store)
    store.put_values("App", "Latency", DIMS, "Milliseconds", [T0 + 30], [100.0])  # a late sample
    last = data_of(store)
    assert first.sums.tolist() == [1.0, 2.0]
    assert last.sums.tolist() == [101.0, 2.0, *[float(i + 1) for i in range(2, 50)]]
    assert last.timestamps.tolist() == [T0 + 60 * i for i in range(50)]


def test_readers_never_see_a_torn_snapshot_while_minutes_are_appended() -> None:
    store = MetricStore()
    p50 = parse_statistic("p50")
    assert p50 is not None
    problems: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        for minute in range(600):
            store.put_values("App", "Latency", DIMS, None, [T0 + 60 * minute] * 2,
                             [float(minute), float(minute)])  # fmt: skip
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            series = store.get("App", "Latency", DIMS)
            if series is None:
                continue
            data = series.snapshot()
            n = len(data)
            ts, (sums, p50s) = aggregate(data, T0, T0 + 60 * 600, 60, [_stat("Sum"), p50])
            expected = np.arange(n, dtype=float)
            if ts.tolist() != (T0 + 60 * np.arange(n)).tolist():
                problems.append("timestamps")
            if not (np.array_equal(sums, 2 * expected) and np.array_equal(p50s, expected)):
                problems.append("values")

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems
    assert len(data_of(store, "None")) == 600


@pytest.mark.parametrize("p", [0.0, 7.0, 33.3, 50.0, 90.0, 99.0, 100.0])
def test_equal_length_segments_with_implicit_weights(p: float) -> None:
    rng = np.random.default_rng(5)
    rows = np.sort(rng.normal(size=(30, 12)), axis=1)
    offsets = np.arange(0, 361, 12)
    ones = np.broadcast_to(np.float64(1.0), (360,))  # the store's zero-memory weights
    got = segment_percentile(rows.reshape(-1), ones, offsets, p)
    assert got.tolist() == [numpy_percentile(r, np.ones(12), p) for r in rows]
