"""collect_edges / collect_traces against the sandbox world with a retry storm traced."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from collectors.schema import EDGES, TRACES
from collectors.xray import collect_edges, collect_traces
from sandbox.endpoint import Endpoint
from sandbox.world.runner import World
from sandbox.world.topology import account
from sandbox.world.traces import emit_traces

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")
TRACED = timedelta(minutes=5)


@pytest.fixture(scope="module")
def world():
    """Two days with a partner's rate limit ~30 h ago: shipping-scheduler retries into it."""
    with Endpoint() as endpoint:
        world = World(endpoint, scenario="throttling", seed=11, days=2, now=NOW, trace_hours=0)
        world.start()
        yield world


@pytest.fixture(scope="module")
def storm(world):
    """The storm's incident, with its first minutes traced (as `up --trace-incidents` does)."""
    incident = next(
        i for i in world.incidents() if i.kind == "retry-storm" and i.account_id == PROD.account_id
    )
    result = next(r for r in world.backfill_results() if r.account.account_id == PROD.account_id)
    emit_traces(
        result,
        world.endpoint.services.xray.get(PROD.account_id, PROD.region),
        seed=world.seed,
        trace_hours=0,
        windows=[(incident.start, incident.start + TRACED.total_seconds())],
    )
    return incident


def caller(incident) -> str:
    return incident.resource.split(":", 1)[1]


def host(incident) -> str:
    return PROD.dependency(incident.downstream).host


@contextmanager
def xray_calls(client):
    """The request bodies of every X-Ray call, by operation."""
    calls: dict[str, list[dict]] = {}

    def record(model, params, **_kwargs) -> None:
        body = params.get("body") or b"{}"
        calls.setdefault(model.name, []).append(json.loads(body))

    client.meta.events.register("before-call.xray", record)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.xray", record)


@pytest.fixture(scope="module")
def sample(world, storm):
    """Every trace through the storm's caller in the traced minutes, and the calls made."""
    xray = world.client(PROD, "xray")
    start = datetime.fromtimestamp(storm.start, UTC)
    with xray_calls(xray) as calls:
        collected = collect_traces(
            xray,
            start=start,
            end=start + TRACED,
            now=NOW,
            filter_expression=f'service("{caller(storm)}")',
        )
    return collected, calls


def test_batch_get_traces_is_called_at_the_floor(sample) -> None:
    collected, calls = sample
    n = len(collected.traces)
    assert n > 50
    batches = calls["BatchGetTraces"]
    assert len(batches) == math.ceil(n / 5)
    assert [len(b["TraceIds"]) for b in batches[:-1]] == [5] * (len(batches) - 1)
    fetched = [i for b in batches for i in b["TraceIds"]]
    assert sorted(fetched) == sorted(collected.traces["trace_id"])
    assert collected.problems == []


def test_traces_carry_the_storms_retries_and_throttles(sample, storm) -> None:
    collected, _ = sample
    traces = collected.traces
    assert list(traces.columns) == TRACES.columns
    assert set(traces["account"]) == {PROD.account_id}
    assert set(traces["root"]) == {caller(storm)}
    assert traces["has_throttle"].sum() > 0
    assert (traces["retries"] > 0).sum() > 0
    edge = f"{caller(storm)}->{host(storm)}"
    assert any(edge in edges for edges in traces["retried_edges"])
    retries = collected.edge_retries
    on_edge = retries[(retries["source"] == caller(storm)) & (retries["target"] == host(storm))]
    assert on_edge["retries"].sum() > 0
    assert retries["retries"].sum() == traces["retries"].sum()


def test_the_storms_edge_shows_throttles_faults_and_retries(world, storm, sample) -> None:
    collected, _ = sample
    xray = world.client(PROD, "xray")
    start = datetime.fromtimestamp(storm.start, UTC)
    with xray_calls(xray) as calls:
        edges = collect_edges(
            xray, start=start, end=start + TRACED, now=NOW, retries=collected.edge_retries
        )
    assert list(edges.columns) == EDGES.columns
    windows = sorted(set(edges["window_start"]))
    assert len(calls["GetServiceGraph"]) == len(windows) == 2  # the storm starts mid-window
    storm_edges = edges[(edges["source"] == caller(storm)) & (edges["target"] == host(storm))]
    assert set(storm_edges["target_type"]) == {"remote"}
    assert (storm_edges["throttles"] + storm_edges["faults"]).sum() > 0
    assert storm_edges["retries"].sum() > 0
    counted = edges["ok"] + edges["errors"] + edges["throttles"] + edges["faults"]
    assert (counted == edges["requests"]).all()
    assert set(edges["account"]) == {PROD.account_id}
    assert set(edges["region"]) == {PROD.region}


def test_edge_rows_equal_the_service_graph(world, storm) -> None:
    xray = world.client(PROD, "xray")
    start = datetime.fromtimestamp(storm.start // 300 * 300, UTC)
    edges = collect_edges(xray, start=start, end=start + timedelta(minutes=5), now=NOW)
    graph = xray.get_service_graph(StartTime=start, EndTime=start + timedelta(minutes=5))
    names = {s["ReferenceId"]: s for s in graph["Services"]}
    expected = {}
    for service in graph["Services"]:
        source = "client" if service.get("Type") == "client" else service["Name"]
        for edge in service["Edges"]:
            stats = edge["SummaryStatistics"]
            expected[(source, names[edge["ReferenceId"]]["Name"])] = (
                stats["TotalCount"],
                stats["OkCount"],
                stats["ErrorStatistics"]["OtherCount"],
                stats["ErrorStatistics"]["ThrottleCount"],
                stats["FaultStatistics"]["TotalCount"],
            )
    got = {
        (r["source"], r["target"]): (
            r["requests"],
            r["ok"],
            r["errors"],
            r["throttles"],
            r["faults"],
        )
        for r in edges.to_dict("records")
    }
    assert got == expected
    assert edges["retries"].isna().all()  # no traces given: unknown, not zero


def test_a_limited_sample_fetches_only_its_traces(world, storm) -> None:
    xray = world.client(PROD, "xray")
    start = datetime.fromtimestamp(storm.start, UTC)
    with xray_calls(xray) as calls:
        collected = collect_traces(xray, start=start, end=start + TRACED, now=NOW, limit=12)
    assert len(collected.traces) == 12
    assert len(calls["BatchGetTraces"]) == 3


def test_a_range_over_a_day_is_queried_a_day_at_a_time(world, storm) -> None:
    xray = world.client(PROD, "xray")
    end = datetime.fromtimestamp(storm.start, UTC) + timedelta(minutes=1)
    with xray_calls(xray) as calls:
        collected = collect_traces(
            xray,
            start=end - timedelta(hours=30),
            end=end,
            now=NOW,
            limit=5,
            filter_expression=f'service("{caller(storm)}")',
        )
    ranges = [
        (c["StartTime"], c["EndTime"]) for c in calls["GetTraceSummaries"] if "NextToken" not in c
    ]
    assert len(ranges) == 2
    assert all(e - s <= 24 * 3600 for s, e in ranges)
    assert len(collected.traces) == 5
    assert len(calls["BatchGetTraces"]) == 1
