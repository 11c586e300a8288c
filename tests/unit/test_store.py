"""The store on a local folder: validation, idempotent and atomic writes, pushed-down reads.

Every test works in its own temporary folder. ``metrics_frame`` builds a block of minutes for a
few series; the crash tests stop a write after each of its I/O steps in turn.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from collectors.errors import StoreError
from collectors.schema import METRICS, TABLES
from collectors.store import MANIFEST, Store

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "store.md"
SERIES = [
    ("AWS/Lambda", "Errors", "FunctionName=checkout", "lambda:checkout"),
    ("AWS/Lambda", "Throttles", "FunctionName=checkout", "lambda:checkout"),
    ("AWS/Lambda", "Errors", "FunctionName=payments", "lambda:payments"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName=orders-dlq", "sqs:orders-dlq"),
]


def metrics_frame(
    start: str, minutes: int, *, value: float = 0.0, series: list[tuple[str, ...]] = SERIES
) -> pd.DataFrame:
    """``minutes`` one-minute Sums from ``start`` for each series; value = minute + ``value``."""
    first = pd.Timestamp(start)
    rows = [
        {
            "account": "111122223333",
            "region": "eu-west-1",
            "namespace": namespace,
            "metric": metric,
            "dimensions": dimensions,
            "stat": "Sum",
            "period_s": 60,
            "ts": first + pd.Timedelta(minutes=m),
            "resource": resource,
            "value": float(m) + value,
        }
        for namespace, metric, dimensions, resource in series
        for m in range(minutes)
    ]
    frame = pd.DataFrame(rows, columns=METRICS.columns)
    frame["period_s"] = frame["period_s"].astype("int32")
    return frame


def canonical(frame: pd.DataFrame, key: tuple[str, ...] = METRICS.key) -> pd.DataFrame:
    return frame.sort_values(list(key)).reset_index(drop=True)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (the lock file aside) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "_lock"
    }


def manifest_files(root: Path, table: str = "metrics") -> set[str]:
    document = json.loads((root / table / MANIFEST).read_text())
    return {f["path"] for f in document["files"]}


def parquet_on_disk(root: Path, table: str = "metrics") -> set[str]:
    """What a glob reader (DuckDB's ``**/*.parquet``) would find."""
    return {p.relative_to(root / table).as_posix() for p in (root / table).rglob("*.parquet")}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return (tmp_path / "store").resolve()


@pytest.fixture
def store(root: Path) -> Store:
    return Store(root)


# -- writing and reading back ----------------------------------------------------------------------
def test_round_trip_keeps_values_and_types(store: Store) -> None:
    frame = metrics_frame("2024-05-01T23:58:00Z", 4)
    result = store.write("metrics", frame)
    assert result.rows_written == 16
    assert result.rows_replaced == 0
    assert len(result.files) == 2  # the four minutes straddle midnight: two partitions
    back = store.read("metrics")
    assert list(back.columns) == METRICS.columns
    assert str(back["ts"].dtype) == "datetime64[ms, UTC]"
    expected = frame.astype({"period_s": "Int32"})
    expected["ts"] = expected["ts"].astype("datetime64[ms, UTC]")
    pd.testing.assert_frame_equal(canonical(back), canonical(expected), check_dtype=False)
    assert back.dtypes.to_dict() == store.read("metrics", end="2000-01-01T00:00Z").dtypes.to_dict()


def test_layout_is_hive_partitioned_by_utc_date(store: Store, root: Path) -> None:
    # 01:30 in UTC+02:00 is 23:30 UTC the day before: the partition follows UTC.
    frame = metrics_frame("2024-05-02T01:30:00+02:00", 1)
    store.write("metrics", frame)
    assert parquet_on_disk(root) == manifest_files(root)
    assert {p.split("/")[0] for p in parquet_on_disk(root)} == {"date=2024-05-01"}
    back = store.read("metrics")
    assert (back["ts"] == pd.Timestamp("2024-05-01T23:30:00Z")).all()
    assert [p.date for p in store.partitions("metrics")] == [date(2024, 5, 1)]
    assert store.tables() == ["metrics"]


def test_timezones_convert_to_utc_and_sub_millisecond_digits_are_dropped(store: Store) -> None:
    frame = metrics_frame("2024-05-01T10:00:00Z", 1, series=SERIES[:1])
    frame["ts"] = pd.Series(
        [pd.Timestamp("2024-05-01T12:00:00.123456789+02:00")], dtype="datetime64[ns, Europe/Paris]"
    )
    store.write("metrics", frame)
    assert store.read("metrics")["ts"].iloc[0] == pd.Timestamp("2024-05-01T10:00:00.123Z")


def test_arrow_tables_and_nullable_and_list_columns_round_trip(store: Store) -> None:
    queues = TABLES["queues"]
    rows = [
        {
            "account": "111122223333",
            "region": "eu-west-1",
            "queue": name,
            "observed_at": datetime(2024, 5, 1, 12, tzinfo=UTC),
            "arn": f"arn:aws:sqs:eu-west-1:111122223333:{name}",
            "is_dlq": is_dlq,
            "sources": sources,
            "dlq": None,
            "max_receive_count": None,
            "visible": visible,
            "in_flight": 0,
            "delayed": None,
            "oldest_age_s": None,
            "retention_s": 1_209_600,
            "visibility_timeout_s": 30,
        }
        for name, is_dlq, sources, visible in [
            ("orders-dlq", True, ["orders", "refunds"], 7),
            ("orders", False, None, None),
        ]
    ]
    store.write("queues", pa.Table.from_pylist(rows, schema=queues.schema))
    back = store.read("queues").sort_values("queue").reset_index(drop=True)
    assert back["sources"].tolist() == [None, ["orders", "refunds"]]
    assert back["visible"].dtype == "Int64"
    assert back["visible"].isna().tolist() == [True, False]
    assert back["is_dlq"].tolist() == [False, True]


# -- validation ------------------------------------------------------------------------------------
def _drop(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: f.drop(columns=[column])


def _set(column: str, values: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = values(frame) if callable(values) else values
        return frame

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(_drop("value"), "missing `value`", id="missing-column"),
        pytest.param(_set("extra", 1), "unexpected `extra`", id="unexpected-column"),
        pytest.param(_set("value", "high"), "column `value`: expected double", id="text-in-float"),
        pytest.param(_set("period_s", "60"), "column `period_s`: expected int32", id="text-in-int"),
        pytest.param(
            _set("period_s", 1.5), "column `period_s`: double values do not fit", id="frac"
        ),
        pytest.param(
            _set("period_s", 2**40), "column `period_s`: int64 values do not fit", id="big"
        ),
        pytest.param(_set("account", 42), "column `account`: expected string", id="int-in-text"),
        pytest.param(
            _set("ts", lambda f: f["ts"].dt.tz_localize(None)),
            "column `ts`: timestamps are naive",
            id="naive-timestamps",
        ),
        pytest.param(
            _set("ts", "2024-05-01T00:00:00Z"), "column `ts`: expected timestamp", id="text-time"
        ),
        pytest.param(_set("metric", None), "key column `metric` has 4 null values", id="null-key"),
    ],
)
def test_a_frame_that_does_not_match_the_schema_is_refused_naming_table_and_column(
    store: Store, root: Path, change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    frame = change(metrics_frame("2024-05-01T00:00:00Z", 1))
    with pytest.raises(StoreError, match=re.escape(message)) as caught:
        store.write("metrics", frame)
    assert str(caught.value).startswith("table metrics:")
    assert not root.exists() or not parquet_on_disk(root)


def test_unknown_table_and_columns_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown table 'metric'; the tables are metrics, "):
        store.write("metric", metrics_frame("2024-05-01T00:00:00Z", 1))
    with pytest.raises(StoreError, match="unknown columns valu"):
        store.read("metrics", columns=["valu"])
    with pytest.raises(StoreError, match="unknown columns nope"):
        store.read("metrics", filters={"nope": 1})
    with pytest.raises(StoreError, match="filter on `period_s`: 'x' is not a int32"):
        store.read("metrics", filters={"period_s": "x"})
    with pytest.raises(StoreError, match="start: '2024-05-01' is naive"):
        store.read("metrics", start="2024-05-01")
    with pytest.raises(StoreError, match="expected a local folder or s3://bucket/prefix"):
        Store("gs://bucket/prefix")


def test_an_unwritable_location_is_a_store_error_naming_the_table(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"table metrics: writing to .*a-file/store failed"):
        Store(blocker / "store").write("metrics", metrics_frame("2024-05-01T00:00:00Z", 1))


def test_an_empty_frame_writes_nothing(store: Store, root: Path) -> None:
    result = store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 0))
    assert (result.rows_written, result.files) == (0, ())
    assert not root.exists()


# -- idempotency and replacement -------------------------------------------------------------------
def test_writing_the_same_rows_twice_leaves_the_store_identical(store: Store, root: Path) -> None:
    frame = metrics_frame("2024-05-01T23:00:00Z", 120)
    store.write("metrics", frame)
    before = snapshot(root)
    again = store.write("metrics", frame.sample(frac=1, random_state=3))  # any row order
    assert again.files == ()
    assert again.rows_replaced == again.rows_written == len(frame)
    assert snapshot(root) == before
    assert len(store.read("metrics")) == len(frame)


def test_a_revised_value_replaces_the_stored_one(store: Store, root: Path) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:50:00Z", 20))
    # CloudWatch revises the last minutes: re-read the overlap with new values, plus new minutes.
    revised = metrics_frame("2024-05-02T00:05:00Z", 10, value=1000.0)
    result = store.write("metrics", revised)
    assert result.rows_replaced == 5 * len(SERIES)
    back = store.read("metrics")
    assert len(back) == 25 * len(SERIES)
    assert not back.duplicated(list(METRICS.key)).any()
    late = back[back["ts"] >= pd.Timestamp("2024-05-02T00:05:00Z")]
    assert (late["value"] >= 1000).all()
    early = back[back["ts"] < pd.Timestamp("2024-05-02T00:05:00Z")]
    assert (early["value"] < 1000).all()
    assert parquet_on_disk(root) == manifest_files(root)  # the superseded file is gone


def test_duplicate_keys_within_one_frame_keep_the_last(store: Store) -> None:
    frame = metrics_frame("2024-05-01T00:00:00Z", 1, series=SERIES[:1])
    later = frame.assign(value=99.0)
    result = store.write("metrics", pd.concat([frame, later]))
    assert result.rows_written == 1
    assert store.read("metrics")["value"].tolist() == [99.0]


def test_a_key_whose_time_moved_to_another_day_is_not_duplicated(store: Store) -> None:
    incidents = TABLES["incidents"]

    def incident(start: str, summary: str) -> pa.Table:
        row = {
            "id": "inc-1",
            "kind": "retry-storm",
            "account": "111122223333",
            "resource": "lambda:checkout",
            "downstream": "dynamodb:orders",
            "start": pd.Timestamp(start).to_pydatetime(),
            "end": None,
            "severity": "high",
            "summary": summary,
            "evidence": "{}",
        }
        return pa.Table.from_pylist([row], schema=incidents.schema)

    store.write("incidents", incident("2024-05-02T00:10:00Z", "first guess"))
    store.write("incidents", incident("2024-05-01T23:55:00Z", "refined start"))
    back = store.read("incidents")
    assert back["summary"].tolist() == ["refined start"]
    assert [p.date for p in store.partitions("incidents")] == [date(2024, 5, 1)]


def incident_rows(ids: list[str], start: str) -> pa.Table:
    rows = [
        {
            "id": i,
            "kind": "dlq",
            "account": "111122223333",
            "resource": "sqs:orders-dlq",
            "downstream": None,
            "start": pd.Timestamp(start).to_pydatetime(),
            "end": None,
            "severity": "low",
            "summary": i,
            "evidence": "{}",
        }
        for i in ids
    ]
    return pa.Table.from_pylist(rows, schema=TABLES["incidents"].schema)


def test_keys_outside_the_time_are_looked_up_only_where_they_could_be(
    store: Store, root: Path
) -> None:
    store.write("incidents", incident_rows(["inc-2024-05-01-a", "inc-2024-05-01-b"], "2024-05-01"))
    store.write("incidents", incident_rows(["inc-2024-05-02-a"], "2024-05-02T00:00Z"))
    (other_day,) = (root / "incidents").glob("date=2024-05-01/*.parquet")
    other_day.write_bytes(b"damaged")
    # The ids' range excludes the damaged file's, so this write never opens it.
    result = store.write("incidents", incident_rows(["inc-2024-05-02-b"], "2024-05-02T01:00Z"))
    assert result.problems == ()
    # An id in its range must be looked for there: the damage shows.
    result = store.write("incidents", incident_rows(["inc-2024-05-01-ab"], "2024-05-02T02:00Z"))
    assert [p.path for p in result.problems] == [other_day.as_posix()]


def test_readers_during_writes_see_whole_writes_only(store: Store) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:00:00Z", 120))
    done = threading.Event()
    seen: list[tuple[int, bool, int]] = []

    def read() -> None:
        while not done.is_set():
            frame = store.read("metrics")
            revisions = frame["value"] // 1000
            seen.append((len(frame), bool(revisions.nunique() == 1), len(store.last_read_problems)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for revision in range(1, 16):  # each write revises every row, across both partitions
            store.write(
                "metrics", metrics_frame("2024-05-01T23:00:00Z", 120, value=revision * 1000)
            )
    finally:
        done.set()
        reader.join()
    assert seen
    assert all(rows == 120 * len(SERIES) for rows, _, _ in seen)
    assert all(whole for _, whole, _ in seen)  # never one partition revised and not the other
    assert all(problems == 0 for _, _, problems in seen)


def test_large_partitions_are_split_by_time_and_only_the_touched_file_is_rewritten(
    root: Path,
) -> None:
    store = Store(root, max_file_rows=100)
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 100))  # 400 rows
    files = manifest_files(root)
    assert len(files) == 4
    store.write("metrics", metrics_frame("2024-05-01T01:35:00Z", 10, value=0.5))
    after = manifest_files(root)
    assert len(files & after) == 3  # the three older files are untouched
    back = store.read("metrics")
    assert len(back) == 105 * len(SERIES)
    assert not back.duplicated(list(METRICS.key)).any()
    document = json.loads((root / "metrics" / MANIFEST).read_text())
    assert max(f["rows"] for f in document["files"]) <= 100


def test_appends_grow_the_newest_file_instead_of_adding_small_ones(
    store: Store, root: Path
) -> None:
    for hour in range(5):
        store.write("metrics", metrics_frame(f"2024-05-01T{hour:02d}:00:00Z", 60))
    assert len(manifest_files(root)) == 1
    assert store.partitions("metrics")[0].rows == 300 * len(SERIES)


# -- reading ---------------------------------------------------------------------------------------
def test_ranges_are_half_open_and_utc(store: Store) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:50:00Z", 20))
    window = store.read(
        "metrics",
        start=datetime(2024, 5, 1, 23, 55, tzinfo=UTC),
        end=pd.Timestamp("2024-05-02T02:05:00+02:00"),  # 00:05 UTC
    )
    assert window["ts"].min() == pd.Timestamp("2024-05-01T23:55:00Z")
    assert window["ts"].max() == pd.Timestamp("2024-05-02T00:04:00Z")
    assert len(window) == 10 * len(SERIES)
    assert len(store.read("metrics", start=date(2024, 5, 2))) == 10 * len(SERIES)


@pytest.mark.parametrize(
    ("filters", "rows"),
    [
        pytest.param({"resource": "lambda:checkout"}, 2, id="value"),
        pytest.param({"resource": ["lambda:payments", "sqs:orders-dlq"]}, 2, id="list"),
        pytest.param({"resource": "lambda:checkout", "metric": "Errors"}, 1, id="two-columns"),
        pytest.param({"period_s": 60}, 4, id="integer"),
        pytest.param({"ts": "2024-05-01T00:01:00Z"}, 4, id="timestamp"),
        pytest.param({"resource": []}, 0, id="empty-list"),
        pytest.param({"resource": None}, 0, id="null"),
    ],
)
def test_filters_select_rows(store: Store, filters: dict[str, Any], rows: int) -> None:
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 2))
    found = store.read("metrics", filters=filters, end="2024-05-01T00:02:00Z")
    per_minute = 2 if "ts" not in filters else 1
    assert len(found) == rows * per_minute


def test_columns_are_projected(store: Store) -> None:
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 2))
    found = store.read("metrics", columns=["ts", "value"], filters={"metric": "Throttles"})
    assert list(found.columns) == ["ts", "value"]
    assert len(found) == 2


def test_categorical_columns_hold_the_same_values(store: Store) -> None:
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 3))
    plain = store.read("metrics").sort_values(["resource", "metric", "ts"], ignore_index=True)
    coded = store.read("metrics", categorical=["resource", "metric"]).sort_values(
        ["resource", "metric", "ts"], ignore_index=True
    )
    assert isinstance(coded["resource"].dtype, pd.CategoricalDtype)
    assert isinstance(coded["metric"].dtype, pd.CategoricalDtype)
    assert coded["resource"].astype(str).tolist() == plain["resource"].astype(str).tolist()
    pd.testing.assert_series_equal(coded["value"], plain["value"])
    # Empty reads and projections without the column still work.
    assert store.read("metrics", start="2030-01-01T00:00Z", categorical=["resource"]).empty
    assert list(store.read("metrics", columns=["ts"], categorical=["resource"]).columns) == ["ts"]


def test_categorical_reads_across_files_with_different_values_and_filters(store: Store) -> None:
    """Each Parquet file has its own dictionary; the frame's categories are their union, and
    filters on a dictionary-read column still select rows."""
    one = [("AWS/Lambda", "Errors", "FunctionName=a", "lambda:a")]
    two = [("AWS/Lambda", "Errors", "FunctionName=b", "lambda:b")]
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 2, series=one))
    store.write("metrics", metrics_frame("2024-05-02T00:00:00Z", 2, series=two))
    both = store.read("metrics", categorical=["resource", "dimensions"])
    assert set(both["resource"].cat.categories) == {"lambda:a", "lambda:b"}
    assert sorted(both["resource"].astype(str)) == ["lambda:a"] * 2 + ["lambda:b"] * 2
    only_b = store.read("metrics", categorical=["resource"], filters={"resource": "lambda:b"})
    assert only_b["resource"].astype(str).tolist() == ["lambda:b", "lambda:b"]
    assert only_b["value"].tolist() == [0.0, 1.0]


def test_categorical_refuses_a_non_string_column(store: Store) -> None:
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 1))
    with pytest.raises(ValueError, match="column value is not a string column"):
        store.read("metrics", categorical=["value"])


def test_empty_reads_have_the_declared_columns_and_dtypes(store: Store) -> None:
    nothing = store.read("breakers")
    assert list(nothing.columns) == TABLES["breakers"].columns
    assert str(nothing["observed_at"].dtype) == "datetime64[ms, UTC]"
    assert str(nothing["failure_count"].dtype) == "Int64"
    store.write("metrics", metrics_frame("2024-05-01T00:00:00Z", 2))
    full = store.read("metrics")
    empty = store.read("metrics", start="2030-01-01T00:00Z")
    assert empty.empty
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    assert list(store.read("metrics", columns=["value"], filters={"resource": "x"})) == ["value"]


def test_latest_gives_the_last_row_of_each_group(store: Store) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:00:00Z", 90))
    last = store.latest("metrics", by=["resource", "metric"], columns=["value"])
    assert list(last.columns) == ["resource", "metric", "ts", "value"]
    assert len(last) == len(SERIES)
    assert (last["ts"] == pd.Timestamp("2024-05-02T00:29:00Z")).all()
    assert (last["value"] == 89.0).all()
    bounded = store.latest("metrics", by=["resource"], end="2024-05-01T23:30:00Z")
    assert (bounded["ts"] == pd.Timestamp("2024-05-01T23:29:00Z")).all()
    assert store.latest("breakers", by=["breaker"]).empty
    assert store.time_range("metrics") == (
        pd.Timestamp("2024-05-01T23:00:00Z"),
        pd.Timestamp("2024-05-02T00:29:00Z"),
    )


# -- damage ----------------------------------------------------------------------------------------
def _file_of(root: Path, day: str) -> Path:
    (path,) = (root / "metrics").glob(f"date={day}/*.parquet")
    return path


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"garbage" * 100, id="garbage"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_a_corrupt_file_is_reported_with_its_path_and_skipped(
    store: Store, root: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[bytes], bytes]
) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:58:00Z", 4))
    bad = _file_of(root, "2024-05-01")
    bad.write_bytes(damage(bad.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="collectors.store"):
        back = store.read("metrics")
    assert len(back) == 2 * len(SERIES)  # the other day is all there
    assert (back["ts"] >= pd.Timestamp("2024-05-02T00:00:00Z")).all()
    (problem,) = store.last_read_problems
    assert problem.path == bad.as_posix()
    assert str(bad) in caplog.text


def test_pruned_partitions_are_never_opened(store: Store, root: Path) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:58:00Z", 4))
    _file_of(root, "2024-05-01").write_bytes(b"not parquet")
    back = store.read("metrics", start="2024-05-02T00:00Z")
    assert len(back) == 2 * len(SERIES)
    assert store.last_read_problems == []  # the damaged file was not even opened


def test_a_missing_file_is_reported_too(store: Store, root: Path) -> None:
    store.write("metrics", metrics_frame("2024-05-01T23:58:00Z", 4))
    missing = _file_of(root, "2024-05-02")
    missing.unlink()
    assert len(store.read("metrics")) == 2 * len(SERIES)
    assert [p.path for p in store.last_read_problems] == [missing.as_posix()]


def test_writes_go_on_beside_a_corrupt_file_and_repair_quarantines_it(
    store: Store, root: Path
) -> None:
    store.write("metrics", metrics_frame("2024-05-01T10:00:00Z", 10))
    bad = _file_of(root, "2024-05-01")
    bad.write_bytes(b"garbage")
    result = store.write("metrics", metrics_frame("2024-05-01T10:05:00Z", 10, value=0.5))
    assert [p.path for p in result.problems] == [bad.as_posix()]
    assert len(store.read("metrics")) == 10 * len(SERIES)
    assert len(store.last_read_problems) == 1
    problems = store.repair("metrics")
    assert [p.path for p in problems] == [bad.as_posix()]
    assert not bad.exists()
    assert (root / "_quarantine" / "metrics" / bad.relative_to(root / "metrics")).exists()
    assert len(store.read("metrics")) == 10 * len(SERIES)
    assert store.last_read_problems == []


def test_a_table_without_its_manifest_is_reported_not_guessed(store: Store, root: Path) -> None:
    store.write("metrics", metrics_frame("2024-05-01T10:00:00Z", 10))
    (root / "metrics" / MANIFEST).unlink()
    assert store.read("metrics").empty
    (problem,) = store.last_read_problems
    assert "rebuild_manifest('metrics')" in problem.error
    with pytest.raises(StoreError, match=r"holds 1 Parquet files but no _manifest\.json"):
        store.write("metrics", metrics_frame("2024-05-01T11:00:00Z", 1))
    assert store.rebuild_manifest("metrics") == []
    assert len(store.read("metrics")) == 10 * len(SERIES)


def test_a_damaged_manifest_is_reported(store: Store, root: Path) -> None:
    store.write("metrics", metrics_frame("2024-05-01T10:00:00Z", 10))
    (root / "metrics" / MANIFEST).write_text("{not json")
    assert store.read("metrics").empty
    assert "is unreadable" in store.last_read_problems[0].error
    with pytest.raises(StoreError, match="is unreadable"):
        store.write("metrics", metrics_frame("2024-05-01T11:00:00Z", 1))


# -- atomicity -------------------------------------------------------------------------------------
class Crash(BaseException):
    """Stands for the process dying: nothing in the store catches it."""


def crash_after(monkeypatch: pytest.MonkeyPatch, store: Store, steps: int) -> list[str]:
    """Let ``store`` take ``steps`` I/O steps (file writes, manifest publishes, deletes)."""
    taken: list[str] = []
    for name in ("_put_parquet", "_put_bytes", "_delete"):
        original = getattr(store, name)

        def step(*args: Any, _original: Any = original, _name: str = name) -> Any:
            if len(taken) >= steps:
                raise Crash(_name)
            taken.append(_name)
            return _original(*args)

        monkeypatch.setattr(store, name, step)
    return taken


def test_a_write_stopped_after_any_step_is_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = metrics_frame("2024-05-01T23:50:00Z", 20)
    batch = metrics_frame("2024-05-01T23:55:00Z", 20, value=1000.0)  # revises and extends
    before = canonical(_apply(Store(tmp_path / "reference"), base))
    after = canonical(_apply(Store(tmp_path / "reference"), batch))
    counting = Store(tmp_path / "count")
    counting.write("metrics", base)
    steps = crash_after(monkeypatch, counting, 10**6)
    counting.write("metrics", batch)
    total = len(steps)
    assert total >= 5  # two data files, the manifest, two deletions
    outcomes = []
    for k in range(total):
        root = tmp_path / f"crash-{k}"
        _apply(Store(root), base)
        crashing = Store(root)
        crash_after(monkeypatch, crashing, k)
        with pytest.raises(Crash):
            crashing.write("metrics", batch)
        reader = Store(root)
        seen = canonical(reader.read("metrics"))
        assert reader.last_read_problems == []
        if seen.equals(before):
            outcomes.append("before")
        else:
            pd.testing.assert_frame_equal(seen, after)
            outcomes.append("after")
        # The next write (the re-run of the cycle) completes it and sweeps what the crash left.
        Store(root).write("metrics", batch)
        assert canonical(Store(root).read("metrics")).equals(after)
        assert parquet_on_disk(root) == manifest_files(root)
        assert not [p for p in (root / "metrics").rglob(".*") if p.is_file()]
    assert "before" in outcomes
    assert "after" in outcomes


def _apply(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    store.write("metrics", frame)
    return store.read("metrics")


def test_vacuum_deletes_files_no_manifest_lists(store: Store, root: Path) -> None:
    store.write("metrics", metrics_frame("2024-05-01T10:00:00Z", 10))
    stray = root / "metrics" / "date=2024-05-01" / "part-99999999-leftover.parquet"
    stray.write_bytes(b"half a file")
    partial = root / "metrics" / "date=2024-05-03" / ".part-x.parquet.tmp"
    partial.parent.mkdir()
    partial.write_bytes(b"half")
    assert len(store.read("metrics")) == 10 * len(SERIES)  # readers never see either
    deleted = store.vacuum()
    assert sorted(deleted) == sorted([stray.as_posix(), partial.as_posix()])
    assert not partial.parent.exists()
    assert store.vacuum() == []


def test_concurrent_writers_in_one_process_are_serialised(store: Store) -> None:
    frames = [metrics_frame(f"2024-05-01T{h:02d}:00:00Z", 60, value=h) for h in range(6)]
    threads = [threading.Thread(target=store.write, args=("metrics", f)) for f in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    back = store.read("metrics")
    assert len(back) == 6 * 60 * len(SERIES)
    assert not back.duplicated(list(METRICS.key)).any()


def test_the_docs_list_every_table_with_its_key_and_time_column() -> None:
    text = DOCS.read_text()
    for table in TABLES.values():
        row = f"| `{table.name}` | {', '.join(table.key)} | `{table.time_column}` |"
        assert row in text, f"docs/store.md's table of tables is out of date for {table.name}"


# -- DuckDB reads the same files -------------------------------------------------------------------
def _doc_queries() -> list[str]:
    text = DOCS.read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


def test_the_duckdb_queries_in_the_docs_read_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb = pytest.importorskip("duckdb")
    monkeypatch.chdir(tmp_path)  # the docs use the relative path store/
    store = Store("store")
    store.write("metrics", metrics_frame("2024-05-01T23:00:00Z", 120))
    store.write("metrics", metrics_frame("2024-05-02T00:30:00Z", 10, value=1000.0))
    expected = (
        store.read(
            "metrics",
            start="2024-05-02T00:00Z",
            end="2024-05-03T00:00Z",
            filters={"metric": "Errors"},
        )
        .groupby("resource")["value"]
        .agg(["count", "max"])
    )
    queries = _doc_queries()
    assert len(queries) == 2, "docs/store.md shows a glob query and a manifest query"
    for query in queries:
        connection = duckdb.connect()
        *setup, select = [s for s in query.split(";") if s.strip()]
        for statement in setup:
            connection.execute(statement)
        rows = connection.execute(select).fetchall()
        assert [(r[0], r[2], r[3]) for r in rows] == [
            (resource, int(stats["count"]), stats["max"]) for resource, stats in expected.iterrows()
        ]
        assert all(r[1] == date(2024, 5, 2) for r in rows)


def test_glob_readers_see_exactly_the_committed_files_between_writes(
    store: Store, root: Path
) -> None:
    start = datetime(2024, 5, 1, 22, tzinfo=UTC)
    for step in range(6):
        moment = start + timedelta(minutes=30 * step)
        store.write("metrics", metrics_frame(moment.isoformat(), 45, value=step))
        assert parquet_on_disk(root) == manifest_files(root)
    assert not [p for p in (root / "metrics").rglob(".*") if p.is_file()]  # no temporaries
    assert np.isclose(store.read("metrics")["value"].max(), 44 + 5)
