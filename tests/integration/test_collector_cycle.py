"""The whole collection cycle against the simulated world, over HTTP, with faults injected."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from collectors.aws import policy_actions
from collectors.config import load_config
from collectors.cycle import Collector
from collectors.store import Store
from sandbox.endpoint import Endpoint
from sandbox.world.collector_config import collector_config
from sandbox.world.model import BreakerState
from sandbox.world.runner import World
from sandbox.world.topology import ACCOUNTS, account

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD, STAGING = account("prod"), account("staging")


@pytest.fixture(scope="module")
def world():
    with Endpoint() as endpoint:
        world = World(endpoint, scenario="demo", seed=4, days=1, now=NOW, trace_hours=0.5)
        world.start()
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL",)}
        os.environ["AWS_ENDPOINT_URL"] = endpoint.url
        yield world
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_collector(world, tmp_path, intervals: str = "") -> Collector:
    path = tmp_path / "stormwatch.toml"
    # A 30-minute first read keeps each cycle short (the world traces its last 30 minutes).
    text = collector_config(ACCOUNTS, str(tmp_path / "store"))
    # Few, short retries: a fault injected for good must fail the source quickly.
    settings = (
        f'[intervals]\nlookback = "30m"\n{intervals}\n'
        "[aws]\nmax_attempts = 2\nbackoff_attempts = 1\n"
    )
    path.write_text(f"{text}\n{settings}")
    config = load_config(path, env={})
    return Collector(config, Store(config.store), clock=lambda: NOW)


@pytest.fixture(scope="module")
def collected(world, tmp_path_factory):
    """One clean cycle, read by the tests that only look at its results."""
    collector = make_collector(world, tmp_path_factory.mktemp("collected"))
    report = collector.once(NOW)
    return collector, report


def test_every_source_completes_for_both_accounts(collected) -> None:
    collector, report = collected
    assert report.failed == []
    runs = collector.store.read("collector_runs")
    assert len(runs) == 6 * len(ACCOUNTS)
    assert set(runs["source"]) == {"inventory", "metrics", "queues", "breakers", "traces", "edges"}
    assert runs["error"].isna().all()
    assert (runs["rows"] > 0).all()


def test_breaker_states_match_the_simulation(world, collected) -> None:
    collector, _ = collected
    stored = collector.store.read("breakers")
    for who in ACCOUNTS:
        result = next(r for r in world.backfill_results() if r.account is who)
        rows = stored[stored["account"] == who.account_id].set_index("breaker")
        assert set(rows.index) == set(who.breaker_table.breakers)
        for name in who.breaker_table.breakers:
            expected = BreakerState(int(result.breakers[name].state[-1])).name
            assert rows.loc[name, "state"] == expected, (who.name, name)
        for name in who.breaker_table.no_timestamp:
            assert "updated" in rows.loc[name, "problem"]


def test_dlq_depths_match_the_ledger(world, collected) -> None:
    collector, _ = collected
    queues = collector.store.read("queues")
    for who in ACCOUNTS:
        result = next(r for r in world.backfill_results() if r.account is who)
        ledger: dict[str, int] = {}
        for message in result.dlq_messages:
            ledger[message.dlq] = ledger.get(message.dlq, 0) + 1
        mine = queues[queues["account"] == who.account_id].set_index("queue")
        for source in who.queues:
            assert mine.loc[source.dlq, "is_dlq"]
            assert list(mine.loc[source.dlq, "sources"]) == [source.name]
            assert mine.loc[source.dlq, "visible"] == ledger.get(source.dlq, 0)


def test_metric_values_match_the_simulation(world, collected) -> None:
    collector, _ = collected
    result = next(r for r in world.backfill_results() if r.account is PROD)
    metrics = collector.store.read(
        "metrics",
        filters={
            "account": PROD.account_id,
            "namespace": "AWS/SQS",
            "metric": "NumberOfMessagesSent",
        },
    )
    sent = metrics[metrics["dimensions"] == "QueueName=payments"].sort_values("ts")
    assert len(sent) >= 25  # the 30-minute first read
    by_ts = dict(
        zip(result.timestamps.tolist(), result.queues["payments"].sent.tolist(), strict=True)
    )
    for row in sent.itertuples():
        assert row.value == by_ts[int(row.ts.timestamp())]
    assert set(sent["resource"]) == {"sqs:payments"}


def test_get_metric_data_calls_sit_at_the_floor(collected) -> None:
    collector, report = collected
    for run in report.runs:
        if run.source != "metrics":
            continue
        stored = collector.store.read(
            "metrics",
            filters={"account": run.account},
            columns=["namespace", "metric", "dimensions", "stat"],
        )
        series = len(stored.drop_duplicates())
        assert run.api_calls["cloudwatch:GetMetricData"] == math.ceil(series / 500)


def test_the_same_cycle_twice_leaves_the_store_identical(world, tmp_path) -> None:
    collector = make_collector(world, tmp_path)
    collector.once(NOW)
    tables = ("metrics", "queues", "breakers", "edges", "inventory")
    first = {t: _sorted(collector.store.read(t), t) for t in (*tables, "traces")}
    collector.once(NOW)
    for table in tables:
        assert _sorted(collector.store.read(table), table).equals(first[table]), table
    # Traces are a sample: the second cycle goes on after the first one's sample, so it may
    # add traces, but never duplicates or changes one.
    traces = _sorted(collector.store.read("traces"), "traces")
    assert traces["trace_id"].is_unique
    again = traces[traces["trace_id"].isin(first["traces"]["trace_id"])].reset_index(drop=True)
    assert again.equals(first["traces"])


def _sorted(frame, table):
    from collectors.schema import TABLES

    key = list(TABLES[table].key)
    return frame.sort_values(key).reset_index(drop=True)[TABLES[table].columns]


def test_the_collectors_call_only_what_the_iam_policy_allows(collected) -> None:
    _, report = collected
    called = {op for run in report.runs for op in run.api_calls}
    called.discard("sts:AssumeRole")  # made with the caller's own credentials, before the role
    assert called <= policy_actions()


@pytest.mark.parametrize(
    ("fault", "source", "kind"),
    [
        (
            {"kind": "throttle", "service": "cloudwatch", "operation": "GetMetricData"},
            "metrics",
            "throttled",
        ),
        (
            {"kind": "access_denied", "service": "dynamodb", "operation": "Scan"},
            "breakers",
            "access-denied",
        ),
        (
            {
                "kind": "internal_error",
                "service": "xray",
                "operation": "GetTraceSummaries",
                "after": 1,
            },
            "traces",
            None,
        ),
        (
            {
                "kind": "drop_connection",
                "service": "xray",
                "operation": "GetServiceGraph",
                "after": 1,
            },
            "edges",
            "connection",
        ),
    ],
    ids=["throttled-metrics", "denied-breakers", "5xx-mid-pagination", "dropped-connection"],
)
def test_a_failing_source_is_recorded_and_the_others_complete(
    world, tmp_path, fault, source, kind
) -> None:
    endpoint = world.endpoint
    rule = endpoint.faults.add(account=PROD.account_id, **fault)
    try:
        report = make_collector(world, tmp_path).once(NOW)
    finally:
        endpoint.faults.remove(rule.id)
    failed = {(r.source, r.account): r.error for r in report.failed}
    assert set(failed) == {(source, PROD.account_id)}, failed
    [run] = report.failed
    if kind:
        assert run.error.kind == kind
    staging = [r for r in report.runs if r.account == STAGING.account_id]
    assert all(r.error is None for r in staging)
    assert rule.hits > 0


def test_access_denied_in_one_account_leaves_the_other_complete(world, tmp_path) -> None:
    endpoint = world.endpoint
    rule = endpoint.faults.add("access_denied", account=STAGING.account_id)
    try:
        collector = make_collector(world, tmp_path)
        report = collector.once(NOW)
    finally:
        endpoint.faults.remove(rule.id)
    staging = [r for r in report.runs if r.account == STAGING.account_id]
    prod = [r for r in report.runs if r.account == PROD.account_id]
    kinds = {r.source: r.error.kind if r.error else None for r in staging}
    assert kinds == {
        "inventory": "access-denied",
        "metrics": "skipped",  # nothing to read without discovery
        "queues": "skipped",
        "breakers": "access-denied",
        "traces": "access-denied",
        "edges": "access-denied",
    }
    assert all(r.error is None for r in prod)
    runs = collector.store.read("collector_runs", filters={"account": STAGING.account_id})
    assert runs["error"].notna().all()
    assert json.loads(runs.iloc[0]["api_calls"]) is not None
    assert collector.store.read("metrics", filters={"account": STAGING.account_id}).empty
    assert not collector.store.read("metrics", filters={"account": PROD.account_id}).empty


def test_discovery_is_reused_until_the_inventory_interval_passes(world, tmp_path) -> None:
    collector = make_collector(world, tmp_path)
    collector.once(NOW)
    again = collector.once(NOW + timedelta(minutes=1))
    assert "inventory" not in {r.source for r in again.runs}
    assert again.failed == []
    assert not any(op.startswith("lambda:") for r in again.runs for op in r.api_calls)
    later = collector.once(NOW + timedelta(seconds=collector.config.intervals.inventory))
    assert {r.source for r in later.runs if r.error is None} >= {"inventory", "metrics"}


def test_xray_reads_go_on_from_where_they_stopped_even_without_data(
    world, tmp_path, monkeypatch
) -> None:
    """An account with no traces stores no edges; the next cycle must not re-read its lookback."""
    import collectors.cycle as cycle

    windows: list[tuple[str, datetime, datetime]] = []

    def no_edges(client, *, start, end, account, **_):
        windows.append((account, start, end))
        return cycle.to_frame(cycle.schema.EDGES, [])

    monkeypatch.setattr(cycle, "collect_edges", no_edges)
    collector = make_collector(world, tmp_path)
    collector.once(NOW)
    collector.once(NOW + timedelta(minutes=5))
    prod = [(start, end) for who, start, end in windows if who == PROD.account_id]
    assert prod[0] == (NOW - timedelta(minutes=30), NOW)
    assert prod[1] == (NOW, NOW + timedelta(minutes=5))


def test_queues_reuse_discoverys_answers_one_get_queue_attributes_per_queue(world, tmp_path):
    collector = make_collector(world, tmp_path)
    first = collector.once(NOW)
    assert first.failed == []
    later = collector.once(NOW + timedelta(minutes=1))  # discovery reused from the first cycle
    assert "inventory" not in {r.source for r in later.runs}
    queues = collector.store.read("queues")
    for who in ACCOUNTS:
        mine = [r for r in first.runs if r.account == who.account_id]
        count = len(queues[queues["account"] == who.account_id]["queue"].unique())
        by_source = {r.source: r.api_calls.get("sqs:GetQueueAttributes", 0) for r in mine}
        # Both ran this cycle, and only discovery asked: once per queue in all.
        assert by_source["inventory"] == count, by_source
        assert by_source["queues"] == 0, by_source
        again = [r for r in later.runs if r.account == who.account_id]
        # Without discovery in the cycle the queues source reads the depths itself.
        assert sum(r.api_calls.get("sqs:GetQueueAttributes", 0) for r in again) == count
    # And the depths are those of the moment: the same in both cycles, equal to the ledger
    # (test_dlq_depths_match_the_ledger checks the first against the simulation).
    columns = ["account", "queue", "visible", "in_flight", "delayed"]
    at = queues.groupby("observed_at")
    firsts = at.get_group(pd.Timestamp(NOW))[columns].sort_values(columns[:2])
    seconds = at.get_group(pd.Timestamp(NOW + timedelta(minutes=1)))[columns].sort_values(
        columns[:2]
    )
    assert firsts.reset_index(drop=True).equals(seconds.reset_index(drop=True))
    # The kept inventory does not carry the answers into later cycles.
    assert all(not inv.queue_attributes for _, inv in collector._inventories.values())


def test_backfill_reaches_over_each_chunk_without_changing_the_config(world, tmp_path) -> None:
    collector = make_collector(world, tmp_path, intervals='backfill_chunk = "1h"\n')
    config = collector.config
    seen: list[tuple[int, int]] = []
    reports = collector.backfill(2 / 24, now=NOW, progress=lambda i, n: seen.append((i, n)))
    assert collector.config is config and config.intervals.lookback == 1800
    assert seen == [(1, 2), (2, 2)]
    assert all(r.failed == [] for r in reports)
    sent = collector.store.read(
        "metrics",
        filters={
            "account": PROD.account_id,
            "metric": "NumberOfMessagesSent",
            "dimensions": "QueueName=payments",
        },
    ).sort_values("ts")
    # The first step reads its whole hour plus the overlap (not just the 30-minute lookback),
    # the second goes on from the first one's watermark: 130 minutes, no gap.
    assert sent["ts"].iloc[0] == pd.Timestamp(NOW - timedelta(minutes=130))
    assert sent["ts"].iloc[-1] == pd.Timestamp(NOW - timedelta(minutes=1))
    assert len(sent) == 130 and sent["ts"].is_unique
    # Queue depths and breaker items are the state of now: read at the last step only, never
    # stamped with an earlier step's time.
    assert {r.source for r in reports[0].runs} == {"inventory", "metrics", "traces", "edges"}
    for table, column in (("queues", "observed_at"), ("breakers", "observed_at")):
        stamps = collector.store.read(table)[column]
        assert len(stamps) and (stamps == pd.Timestamp(NOW)).all(), table
    # A cycle after the backfill uses the configured lookback again.
    windows = []
    original = collector._watermarks

    def spy(account, region, now, lookback):
        windows.append(lookback)
        return original(account, region, now, lookback)

    collector._watermarks = spy
    collector.once(NOW + timedelta(minutes=1))
    assert set(windows) == {timedelta(minutes=30)}


def test_metrics_are_committed_per_batch_and_a_failure_between_leaves_no_gap(
    world, tmp_path, monkeypatch, collected
) -> None:
    """A crash between two metrics writes: the store stays readable, holds no duplicate, only
    the series whose rows were committed have a watermark, and the next cycle fills the rest."""
    import functools

    import collectors.cycle as cycle
    from collectors.schema import METRICS

    monkeypatch.setattr(
        cycle, "collect_metrics", functools.partial(cycle.collect_metrics, max_per_call=100)
    )
    collector = make_collector(world, tmp_path)
    collector.metrics_flush_rows = 1  # every batch is committed on its own
    writes: list[int] = []
    original = collector.store.write

    def write(table, frame):
        if table == "metrics" and set(frame["account"]) == {PROD.account_id}:
            writes.append(len(frame))
            if len(writes) == 2:
                raise OSError("disk full (injected)")
        return original(table, frame)

    monkeypatch.setattr(collector.store, "write", write)
    report = collector.once(NOW)
    [failed] = report.failed
    assert (failed.source, failed.account) == ("metrics", PROD.account_id)
    assert failed.rows == writes[0] > 0  # what was committed before the failure is counted
    stored = collector.store.read("metrics", filters={"account": PROD.account_id})
    assert len(stored) == writes[0]
    key = list(METRICS.key)
    assert not stored.duplicated(key).any()
    committed = set(stored["dimensions"] + "|" + stored["metric"] + "|" + stored["stat"])
    marks = collector._watermarks(PROD.account_id, "us-east-1", NOW, timedelta(minutes=30))
    assert {f"{d}|{m}|{s}" for _, m, d, s, _ in marks} == committed

    monkeypatch.setattr(collector.store, "write", original)
    again = collector.once(NOW)
    assert again.failed == []
    clean = collected[0].store.read("metrics")
    assert _sorted(collector.store.read("metrics"), "metrics").equals(_sorted(clean, "metrics"))
