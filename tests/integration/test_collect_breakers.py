"""collect_breakers against the sandbox world: both teams' tables, over HTTP, page by page."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd
import pytest

from collectors.breakers import BreakerSource, BreakerState, collect_breakers
from collectors.schema import BREAKERS
from sandbox.endpoint import Endpoint
from sandbox.world.emit_state import breaker_item
from sandbox.world.model import BreakerState as WorldState
from sandbox.world.runner import World
from sandbox.world.topology import ACCOUNTS, account

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")


def source_for(who) -> BreakerSource:
    """The mapping a team would write in stormwatch.toml for its table."""
    table = who.breaker_table
    return BreakerSource(
        table.name,
        key_attr=table.key_attr,
        state_attr=table.state_attr,
        failure_attr=table.failure_attr,
        success_attr=table.success_attr,
        transition_attr=table.transition_attr,
        updated_attr=table.updated_attr,
        state_values={raw: canonical for canonical, raw in table.state_values},
    )


@pytest.fixture(scope="module")
def world():
    """Three days of the demo: each account's payment-api breaker opens and half-opens once."""
    with Endpoint() as endpoint:
        world = World(endpoint, scenario="demo", seed=11, days=3, now=NOW, trace_hours=0)
        world.start()
        yield world


def result_of(world: World, who):
    return next(r for r in world.backfill_results() if r.account.account_id == who.account_id)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with every missing value (NaN, NaT, <NA>) as None."""
    return [
        {k: (None if not isinstance(v, list) and pd.isna(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def at(epoch: float) -> datetime | None:
    return None if math.isnan(epoch) else datetime.fromtimestamp(int(epoch), UTC)


@contextmanager
def scan_counter(client):
    calls: list[dict] = []

    def count(params, **_kwargs) -> None:
        calls.append(params)

    client.meta.events.register("before-call.dynamodb.Scan", count)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb.Scan", count)


def request_json(call: dict) -> dict:
    """The JSON body botocore is about to send (``before-call`` gets the request dict)."""
    return json.loads(call["body"])


@contextmanager
def extra_items(client, table: str, key_attr: str, items: list[dict]):
    for item in items:
        client.put_item(TableName=table, Item=item)
    try:
        yield
    finally:
        for item in items:
            client.delete_item(TableName=table, Key={key_attr: item[key_attr]})


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_every_breaker_maps_to_its_timelines_last_state(world, who) -> None:
    result = result_of(world, who)
    table = who.breaker_table
    frame = collect_breakers(world.client(who, "dynamodb"), source_for(who), now=NOW)
    assert list(frame.columns) == BREAKERS.columns
    assert sorted(frame["breaker"]) == sorted(table.breakers)
    assert set(frame["account"]) == {who.account_id}
    assert set(frame["region"]) == {who.region}
    assert set(frame["observed_at"]) == {NOW}
    spelled = dict(table.state_values)
    for row in records(frame):
        timeline = result.breakers[row["breaker"]]
        state = WorldState(int(timeline.state[-1])).name
        assert row["state"] == state, row["breaker"]
        assert row["raw_state"] == spelled[state]
        assert row["failure_count"] == int(timeline.failure_count[-1])
        assert row["success_count"] == int(timeline.success_count[-1])
        expected_transition = at(float(timeline.last_transition[-1]))
        assert (row["last_transition"] if expected_transition else None) == expected_transition
        if row["breaker"] in table.no_timestamp:
            assert (
                row["problem"]
                == f"no updated-at attribute `{table.updated_attr}`; freshness unknown"
            )
        else:
            assert row["updated_at"] == at(float(timeline.updated_at[-1]))
            assert row["problem"] is None


def test_the_item_without_a_timestamp_is_stored_with_its_problem(world) -> None:
    frame = collect_breakers(world.client(PROD, "dynamodb"), source_for(PROD), now=NOW)
    [row] = records(frame[frame["breaker"] == "legacy-tax-service"])
    assert row["state"] == BreakerState.CLOSED
    assert row["problem"] == "no updated-at attribute `updated_at`; freshness unknown"


def minutes_in_each_state(world) -> list[tuple[str, object, int, str]]:
    """(origin, timeline, minute, state) for the first minute each breaker spent in each state."""
    picks = []
    for result in world.backfill_results():
        for name, timeline in result.breakers.items():
            for state in WorldState:
                hits = (timeline.state == state).nonzero()[0]
                if len(hits):
                    origin = f"{result.account.name}/{name}"
                    picks.append((origin, timeline, int(hits[0]), state.name))
    return picks


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_every_state_in_both_schemas_maps_right(world, who) -> None:
    """Items for every state any breaker of either account went through, in this team's schema."""
    table = who.breaker_table
    picks = minutes_in_each_state(world)
    assert {state for *_, state in picks} == {"CLOSED", "OPEN", "HALF_OPEN"}
    items, expected = [], {}
    for origin, timeline, minute, state in picks:
        if math.isnan(float(timeline.updated_at[minute])):
            continue  # the legacy item without a heartbeat: checked on its own table above
        item = breaker_item(table, timeline, minute)
        key = f"{origin}@{minute}"
        item[table.key_attr] = {"S": key}
        items.append(item)
        expected[key] = (state, dict(table.state_values)[state])
    assert len(expected) >= 3
    dynamodb = world.client(who, "dynamodb")
    with extra_items(dynamodb, table.name, table.key_attr, items):
        frame = collect_breakers(dynamodb, source_for(who), now=NOW, consistent_read=True)
    got = {
        r["breaker"]: (r["state"], r["raw_state"])
        for r in records(frame)
        if r["breaker"] in expected
    }
    assert got == expected


def test_unknown_states_and_missing_keys_are_stored_as_unknown(world) -> None:
    dynamodb = world.client(PROD, "dynamodb")
    exploded = {
        "breaker_id": {"S": "fraud-api"},
        "state": {"S": "EXPLODED"},
        "failure_count": {"N": "9"},
        "updated_at": {"N": str(int(NOW.timestamp()))},
    }
    # A single-table design: the breaker id is an ordinary attribute, and one item lacks it.
    dynamodb.create_table(
        TableName="platform-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        dynamodb.put_item(
            TableName="platform-state",
            Item={
                "pk": {"S": "BREAKER#tax"},
                "state": {"S": "OPEN"},
                "updated_at": {"S": "2026-11-20T11:58:00Z"},
            },
        )
        dynamodb.put_item(
            TableName="platform-state",
            Item={"pk": {"S": "BREAKER#fx"}, "breaker_id": {"S": "fx-api"}, "state": {"S": "HALF"}},
        )
        with extra_items(dynamodb, "circuit-breakers", "breaker_id", [exploded]):
            frame = collect_breakers(dynamodb, source_for(PROD), now=NOW)
        single = collect_breakers(dynamodb, BreakerSource("platform-state"), now=NOW)
    finally:
        dynamodb.delete_table(TableName="platform-state")

    [row] = records(frame[frame["breaker"] == "fraud-api"])
    assert (row["state"], row["raw_state"], row["failure_count"]) == ("UNKNOWN", "EXPLODED", 9)
    assert row["problem"] == (
        "unknown state 'EXPLODED' in `state`; add it to state_values of breakers table "
        "`circuit-breakers`"
    )
    assert len(frame) == len(PROD.breaker_table.breakers) + 1

    rows = {r["raw_state"]: r for r in records(single)}
    assert set(rows) == {"OPEN", "HALF"}
    keyless = rows["OPEN"]
    assert keyless["state"] == "UNKNOWN"
    assert keyless["breaker"].startswith("<no breaker_id> ")
    assert keyless["updated_at"] == datetime(2026, 11, 20, 11, 58, tzinfo=UTC)
    assert keyless["problem"] == (
        "no key attribute `breaker_id` (item has: pk, state, updated_at); "
        "set key_attr for breakers table `platform-state`"
    )
    assert (rows["HALF"]["breaker"], rows["HALF"]["state"]) == ("fx-api", "HALF_OPEN")
    assert set(single["account"]) == {PROD.account_id}  # from the table's ARN


def test_every_item_is_read_page_by_page(world) -> None:
    dynamodb = world.client(PROD, "dynamodb")
    dynamodb.create_table(
        TableName="many-breakers",
        KeySchema=[{"AttributeName": "breaker_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "breaker_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        for i in range(250):
            dynamodb.put_item(
                TableName="many-breakers",
                Item={
                    "breaker_id": {"S": f"dep-{i:03d}"},
                    "state": {"S": ("CLOSED", "OPEN", "HALF-OPEN")[i % 3]},
                    "updated_at": {"N": str(int(NOW.timestamp()) * 1000)},
                },
            )
        with scan_counter(dynamodb) as calls:
            frame = collect_breakers(
                dynamodb,
                BreakerSource("many-breakers", account=PROD.account_id),
                now=NOW,
                page_size=100,
            )
    finally:
        dynamodb.delete_table(TableName="many-breakers")
    assert len(calls) == 3
    assert [request_json(c)["Limit"] for c in calls] == [100, 100, 100]
    assert "ExclusiveStartKey" in request_json(calls[2])
    assert sorted(frame["breaker"]) == [f"dep-{i:03d}" for i in range(250)]
    assert frame["state"].value_counts().to_dict() == {"CLOSED": 84, "OPEN": 83, "HALF_OPEN": 83}
    assert frame["problem"].isna().all()
    assert set(frame["updated_at"]) == {NOW}
