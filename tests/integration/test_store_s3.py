"""The store on S3: the sandbox's S3 over HTTP, configured from the environment as on AWS."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from collectors.errors import StoreError
from collectors.schema import METRICS
from collectors.store import Store
from tests.unit.test_store import SERIES, canonical, metrics_frame

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.integration

BUCKET = "stormwatch-store"
PREFIX = "team/prod"
LOCATION = f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture
def s3(aws: Callable[..., Any], endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A bucket on the sandbox, and the environment a collector pointed at it would have."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    client = aws("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {
        o["Key"][len(PREFIX) + 1 :]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def test_round_trip_layout_and_idempotency(s3: Any) -> None:
    store = Store(LOCATION)
    frame = metrics_frame("2024-05-01T23:50:00Z", 20)
    result = store.write("metrics", frame)
    assert len(result.files) == 2
    assert all(f.startswith(f"{LOCATION}/metrics/date=2024-05-0") for f in result.files)
    stored = objects(s3)
    assert sorted(k.rsplit("/", 1)[0] for k in stored) == [
        "metrics",
        "metrics/date=2024-05-01",
        "metrics/date=2024-05-02",
    ]
    back = store.read("metrics")
    assert len(back) == len(frame)
    assert str(back["ts"].dtype) == "datetime64[ms, UTC]"
    assert store.tables() == ["metrics"]
    assert [str(p.date) for p in store.partitions("metrics")] == ["2024-05-01", "2024-05-02"]

    again = Store(LOCATION).write("metrics", frame)
    assert again.files == ()
    assert objects(s3) == stored


def test_revisions_replace_values_and_superseded_objects_are_deleted(s3: Any) -> None:
    store = Store(LOCATION)
    store.write("metrics", metrics_frame("2024-05-01T23:50:00Z", 20))
    store.write("metrics", metrics_frame("2024-05-02T00:05:00Z", 10, value=1000.0))
    back = canonical(store.read("metrics"))
    assert len(back) == 25 * len(SERIES)
    assert not back.duplicated(list(METRICS.key)).any()
    assert (back[back["ts"] >= pd.Timestamp("2024-05-02T00:05:00Z")]["value"] >= 1000).all()
    assert len([k for k in objects(s3) if k.endswith(".parquet")]) == 2

    window = store.read(
        "metrics",
        start="2024-05-02T00:00Z",
        filters={"resource": "lambda:checkout", "metric": "Errors"},
        columns=["ts", "value"],
    )
    assert list(window.columns) == ["ts", "value"]
    assert len(window) == 15


def test_a_corrupt_object_is_reported_with_its_url_and_skipped(s3: Any) -> None:
    store = Store(LOCATION)
    store.write("metrics", metrics_frame("2024-05-01T23:58:00Z", 4))
    (key,) = [k for k in objects(s3) if "date=2024-05-01/" in k]
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=b"not parquet at all")
    back = store.read("metrics")
    assert len(back) == 2 * len(SERIES)
    assert [p.path for p in store.last_read_problems] == [f"{LOCATION}/{key}"]
    assert store.read("metrics", start="2024-05-02T00:00Z").shape[0] == 2 * len(SERIES)
    assert store.last_read_problems == []  # pruned: never fetched
    assert [p.path for p in store.repair("metrics")] == [f"{LOCATION}/{key}"]
    remaining = objects(s3)
    assert remaining[f"_quarantine/{key}"] == b"not parquet at all"
    assert key not in remaining


def test_orphans_are_swept_only_once_old_enough_on_an_object_store(s3: Any) -> None:
    store = Store(LOCATION)
    store.write("metrics", metrics_frame("2024-05-01T10:00:00Z", 10))
    orphan = f"{PREFIX}/metrics/date=2024-05-01/part-99999999-crashed.parquet"
    s3.put_object(Bucket=BUCKET, Key=orphan, Body=b"left by a crash")
    assert store.vacuum() == []  # it may belong to a writer still running
    assert len(store.read("metrics")) == 10 * len(SERIES)  # readers never see it
    assert store.vacuum(older_than=timedelta(0)) == [f"s3://{BUCKET}/{orphan}"]
    assert orphan[len(PREFIX) + 1 :] not in objects(s3)


def test_a_second_writer_is_refused_instead_of_losing_a_write(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = Store(LOCATION), Store(LOCATION)
    first.write("metrics", metrics_frame("2024-05-01T10:00:00Z", 10))
    build = first._write_partitions

    def interleaved(*args: Any) -> Any:
        second.write("metrics", metrics_frame("2024-05-01T12:00:00Z", 10))  # commits meanwhile
        return build(*args)

    monkeypatch.setattr(first, "_write_partitions", interleaved)
    with pytest.raises(StoreError, match="another writer published version 2"):
        first.write("metrics", metrics_frame("2024-05-01T11:00:00Z", 10))
    back = Store(LOCATION).read("metrics")
    assert len(back) == 20 * len(SERIES)  # the second writer's rows, the first's refused
