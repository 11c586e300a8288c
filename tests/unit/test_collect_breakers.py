"""collectors.breakers: mapping breaker items of any schema, and scanning a table page by page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from collectors.breakers import (
    DEFAULT_STATE_VALUES,
    BreakerSource,
    BreakerState,
    collect_breakers,
    dedupe_breakers,
    parse_item,
    parse_timestamp,
)
from collectors.errors import ConfigError, SourceError
from collectors.schema import BREAKERS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T = datetime(2026, 11, 20, 11, 59, 2, tzinfo=UTC)
EPOCH = int(T.timestamp())  # 1795176000 + 2 … as written by the prod team
ISO = "2026-11-20T11:59:02Z"

PROD = BreakerSource("circuit-breakers", account="111111111111", region="us-east-1")
STAGING = BreakerSource(
    "cb-state",
    key_attr="circuitName",
    state_attr="circuitState",
    failure_attr="failures",
    success_attr="successes",
    transition_attr="changedAt",
    updated_attr="heartbeatAt",
    account="222222222222",
    region="us-east-1",
)


def prod_item(state: Any = "CLOSED", **overrides: Any) -> dict[str, Any]:
    """A prod item; ``state`` a spelling, an attribute value, or None (no state attribute)."""
    item: dict[str, Any] = {
        "breaker_id": {"S": "payment-api"},
        "state": {"S": state} if isinstance(state, str) else state,
        "failure_count": {"N": "3"},
        "success_count": {"N": "120"},
        "last_transition": {"S": "2026-11-20T10:00:00Z"},
        "updated_at": {"N": str(EPOCH)},
    }
    for name, value in overrides.items():
        item[name] = value
    return {name: value for name, value in item.items() if value is not None}


def staging_item(state: str = "closed", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "circuitName": {"S": "catalog-db"},
        "circuitState": {"S": state},
        "failures": {"N": "0"},
        "successes": {"N": "50"},
        "changedAt": {"S": "2026-11-20T10:00:00Z"},
        "heartbeatAt": {"S": ISO},
    }
    for name, value in overrides.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


# --- good items: each schema, each spelling, each timestamp form ------------------------------

GOOD = [
    ("prod-closed", PROD, prod_item("CLOSED"), BreakerState.CLOSED, {}),
    ("prod-open", PROD, prod_item("OPEN"), BreakerState.OPEN, {}),
    ("prod-half_open", PROD, prod_item("HALF_OPEN"), BreakerState.HALF_OPEN, {}),
    ("prod-HALF-OPEN", PROD, prod_item("HALF-OPEN"), BreakerState.HALF_OPEN, {}),
    ("prod-HALF", PROD, prod_item("HALF"), BreakerState.HALF_OPEN, {}),
    ("prod-lowercase-open", PROD, prod_item("open"), BreakerState.OPEN, {}),
    ("prod-padded-Half Open", PROD, prod_item(" Half Open "), BreakerState.HALF_OPEN, {}),
    ("staging-closed", STAGING, staging_item("closed"), BreakerState.CLOSED, {}),
    ("staging-open", STAGING, staging_item("open"), BreakerState.OPEN, {}),
    ("staging-half-open", STAGING, staging_item("half-open"), BreakerState.HALF_OPEN, {}),
    (
        "updated-epoch-milliseconds",
        PROD,
        prod_item(updated_at={"N": str(EPOCH * 1000)}),
        BreakerState.CLOSED,
        {"updated_at": T},
    ),
    (
        "updated-epoch-fractional-seconds",
        PROD,
        prod_item(updated_at={"N": f"{EPOCH}.250"}),
        BreakerState.CLOSED,
        {"updated_at": datetime(2026, 11, 20, 11, 59, 2, 250000, tzinfo=UTC)},
    ),
    (
        "updated-epoch-microseconds",
        PROD,
        prod_item(updated_at={"N": str(EPOCH * 1_000_000)}),
        BreakerState.CLOSED,
        {"updated_at": T},
    ),
    (
        "updated-epoch-as-digit-string",
        PROD,
        prod_item(updated_at={"S": str(EPOCH)}),
        BreakerState.CLOSED,
        {"updated_at": T},
    ),
    (
        "updated-iso-with-Z",
        PROD,
        prod_item(updated_at={"S": ISO}),
        BreakerState.CLOSED,
        {"updated_at": T},
    ),
    (
        "updated-iso-without-Z-is-UTC",
        PROD,
        prod_item(updated_at={"S": "2026-11-20T11:59:02"}),
        BreakerState.CLOSED,
        {"updated_at": T},
    ),
    (
        "updated-iso-with-offset",
        PROD,
        prod_item(updated_at={"S": "2026-11-20T12:59:02+01:00"}),
        BreakerState.CLOSED,
        {"updated_at": T},
    ),
    (
        "updated-iso-with-millis",
        STAGING,
        staging_item(heartbeatAt={"S": "2026-11-20T11:59:02.500Z"}),
        BreakerState.CLOSED,
        {"updated_at": datetime(2026, 11, 20, 11, 59, 2, 500000, tzinfo=UTC)},
    ),
    (
        "no-transition-yet-is-fine",
        PROD,
        prod_item(last_transition=None),
        BreakerState.CLOSED,
        {"last_transition": None},
    ),
    (
        "counts-absent-are-null",
        PROD,
        prod_item(failure_count=None, success_count=None),
        BreakerState.CLOSED,
        {"failure_count": None, "success_count": None},
    ),
    (
        "number-key",
        PROD,
        prod_item(breaker_id={"N": "42"}),
        BreakerState.CLOSED,
        {"breaker": "42"},
    ),
]


@pytest.mark.parametrize(
    ("source", "item", "state", "expected"),
    [case[1:] for case in GOOD],
    ids=[case[0] for case in GOOD],
)
def test_good_items_map_to_their_state(source, item, state, expected) -> None:
    row = parse_item(item, source, NOW)
    assert row["state"] == state
    assert row["problem"] is None
    assert row["raw_state"] == item[source.state_attr]["S"]
    assert row["table"] == source.table
    assert row["account"] == source.account
    assert row["observed_at"] == NOW
    for column, value in expected.items():
        assert row[column] == value, column


def test_a_full_prod_item_fills_every_column() -> None:
    row = parse_item(prod_item("OPEN"), PROD, NOW)
    assert row == {
        "account": "111111111111",
        "region": "us-east-1",
        "table": "circuit-breakers",
        "breaker": "payment-api",
        "observed_at": NOW,
        "state": "OPEN",
        "raw_state": "OPEN",
        "failure_count": 3,
        "success_count": 120,
        "last_transition": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "updated_at": T,
        "problem": None,
    }
    assert set(row) == set(BREAKERS.columns)


def test_a_full_staging_item_fills_every_column() -> None:
    row = parse_item(staging_item("half-open"), STAGING, NOW)
    assert (row["breaker"], row["state"], row["raw_state"]) == (
        "catalog-db",
        "HALF_OPEN",
        "half-open",
    )
    assert (row["failure_count"], row["success_count"]) == (0, 50)
    assert row["updated_at"] == T


# --- bad items: stored, with the reason --------------------------------------------------------

BAD = [
    (
        "missing-key",
        PROD,
        prod_item("OPEN", breaker_id=None),
        BreakerState.UNKNOWN,
        "OPEN",
        "no key attribute `breaker_id` (item has: failure_count, last_transition, state, "
        "success_count, updated_at); set key_attr for breakers table `circuit-breakers`",
    ),
    (
        "key-is-a-boolean",
        PROD,
        prod_item("OPEN", breaker_id={"BOOL": True}),
        BreakerState.UNKNOWN,
        "OPEN",
        'key `breaker_id` is a boolean ({"BOOL":true}), expected a string or number',
    ),
    (
        "key-is-empty",
        PROD,
        prod_item("OPEN", breaker_id={"S": ""}),
        BreakerState.UNKNOWN,
        "OPEN",
        "key `breaker_id` is '', expected a string or number",
    ),
    (
        "unknown-state",
        PROD,
        prod_item("EXPLODED"),
        BreakerState.UNKNOWN,
        "EXPLODED",
        "unknown state 'EXPLODED' in `state`; add it to state_values of breakers table "
        "`circuit-breakers`",
    ),
    (
        "staging-unknown-state",
        STAGING,
        staging_item("tripped"),
        BreakerState.UNKNOWN,
        "tripped",
        "unknown state 'tripped' in `circuitState`; add it to state_values of breakers table "
        "`cb-state`",
    ),
    (
        "missing-state",
        PROD,
        prod_item(None),
        BreakerState.UNKNOWN,
        None,
        "no state attribute `state`; set state_attr for breakers table `circuit-breakers`",
    ),
    (
        "staging-table-read-with-prod-mapping",
        PROD,
        staging_item("open"),
        BreakerState.UNKNOWN,
        None,
        "no key attribute `breaker_id`",
    ),
    (
        "state-is-a-map",
        PROD,
        prod_item({"M": {"v": {"S": "OPEN"}}}),
        BreakerState.UNKNOWN,
        '{"M":{"v":{"S":"OPEN"}}}',
        'state `state` is a map ({"M":{"v":{"S":"OPEN"}}}), expected a string',
    ),
    (
        "state-is-null",
        PROD,
        prod_item({"NULL": True}),
        BreakerState.UNKNOWN,
        '{"NULL":true}',
        'state `state` is null ({"NULL":true}), expected a string',
    ),
    (
        "state-is-a-plain-string-not-an-attribute-value",
        PROD,
        {**prod_item(), "state": "OPEN"},
        BreakerState.UNKNOWN,
        '{"?":"OPEN"}',
        "state `state` is malformed",
    ),
    (
        "updated-at-is-a-word",
        PROD,
        prod_item("OPEN", updated_at={"S": "yesterday"}),
        BreakerState.UNKNOWN,
        "OPEN",
        "bad timestamp in `updated_at`: 'yesterday'; expected epoch seconds/milliseconds or "
        "ISO 8601",
    ),
    (
        "updated-at-is-negative",
        PROD,
        prod_item("OPEN", updated_at={"N": "-5"}),
        BreakerState.UNKNOWN,
        "OPEN",
        "bad timestamp in `updated_at`: '-5'",
    ),
    (
        "updated-at-is-zero",
        PROD,
        prod_item("OPEN", updated_at={"N": "0"}),
        BreakerState.UNKNOWN,
        "OPEN",
        "bad timestamp in `updated_at`: '0'",
    ),
    (
        "updated-at-is-a-boolean",
        STAGING,
        staging_item("open", heartbeatAt={"BOOL": False}),
        BreakerState.UNKNOWN,
        "open",
        'bad timestamp in `heartbeatAt`: a boolean ({"BOOL":false})',
    ),
    (
        "updated-at-half-an-iso-date",
        STAGING,
        staging_item("open", heartbeatAt={"S": "2026-13-45T99:00:00Z"}),
        BreakerState.UNKNOWN,
        "open",
        "bad timestamp in `heartbeatAt`: '2026-13-45T99:00:00Z'",
    ),
    (
        "transition-unreadable",
        PROD,
        prod_item("HALF", last_transition={"S": "soon"}),
        BreakerState.UNKNOWN,
        "HALF",
        "bad timestamp in `last_transition`: 'soon'",
    ),
    (
        "not-a-map-at-all",
        PROD,
        ["breaker_id", "payment-api"],
        BreakerState.UNKNOWN,
        None,
        "item is not a map of DynamoDB attribute values",
    ),
]


@pytest.mark.parametrize(
    ("source", "item", "raw_state", "problem"),
    [(c[1], c[2], c[4], c[5]) for c in BAD],
    ids=[c[0] for c in BAD],
)
def test_bad_items_are_unknown_with_raw_value_and_reason(source, item, raw_state, problem) -> None:
    row = parse_item(item, source, NOW)
    assert row["state"] == BreakerState.UNKNOWN
    assert row["raw_state"] == raw_state
    assert problem in row["problem"]
    assert row["breaker"]  # never empty: the row has a key


def test_a_missing_key_gets_a_stable_placeholder_per_item() -> None:
    item = prod_item("OPEN", breaker_id=None)
    first = parse_item(item, PROD, NOW)["breaker"]
    assert first.startswith("<no breaker_id> ")
    assert parse_item(dict(item), PROD, NOW)["breaker"] == first
    other = prod_item("OPEN", breaker_id=None, failure_count={"N": "4"})
    assert parse_item(other, PROD, NOW)["breaker"] != first


def test_a_missing_updated_at_keeps_the_state() -> None:
    row = parse_item(prod_item("OPEN", updated_at=None), PROD, NOW)
    assert row["state"] == BreakerState.OPEN
    assert row["updated_at"] is None
    assert row["problem"] == "no updated-at attribute `updated_at`; freshness unknown"


def test_a_count_that_is_not_a_whole_number_keeps_the_state() -> None:
    row = parse_item(prod_item("OPEN", failure_count={"N": "2.5"}), PROD, NOW)
    assert row["state"] == BreakerState.OPEN
    assert row["failure_count"] is None
    assert row["problem"] == "`failure_count` is '2.5', expected a whole number"


def test_every_reason_is_kept() -> None:
    item = {"state": {"S": "EXPLODED"}, "updated_at": {"S": "never"}}
    problem = parse_item(item, PROD, NOW)["problem"]
    assert problem.count("; set key_attr") == 1
    assert "unknown state 'EXPLODED'" in problem
    assert "bad timestamp in `updated_at`" in problem


def test_attributes_not_configured_are_not_read() -> None:
    bare = BreakerSource(
        "t",
        failure_attr=None,
        success_attr=None,
        transition_attr=None,
        updated_attr=None,
        account="1",
        region="r",
    )
    row = parse_item(prod_item("OPEN", updated_at={"S": "garbage"}), bare, NOW)
    assert row["state"] == BreakerState.OPEN
    assert row["problem"] is None
    assert [
        row[c] for c in ("failure_count", "success_count", "last_transition", "updated_at")
    ] == [None] * 4


def test_a_long_raw_value_is_clipped() -> None:
    row = parse_item(prod_item({"S": "X" * 1000}), PROD, NOW)
    assert row["raw_state"] == "X" * 199 + "…"
    assert len(row["problem"]) < 300


def test_observed_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="observed_at must be timezone-aware"):
        parse_item(prod_item(), PROD, datetime(2026, 11, 20, 12, 0))


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("N", str(EPOCH), T),
        ("N", str(EPOCH * 1000), T),
        ("N", str(EPOCH * 1_000_000_000), T),
        ("S", ISO, T),
        ("S", " 2026-11-20T11:59:02Z ", T),
        ("S", "2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("S", "2026-11-20T11:59:02.000000001Z", T),
        ("S", "20261120T115902Z", T),
        ("S", "2026-11-20 11:59:02+0000", T),
        ("N", "NaN", None),
        ("N", "Infinity", None),
        ("S", "1e9", None),
        ("S", "", None),
        ("BOOL", True, None),
        (None, None, None),
    ],
    ids=[
        "epoch-s",
        "epoch-ms",
        "epoch-ns",
        "iso-z",
        "iso-padded",
        "iso-date-only",
        "iso-nanoseconds",
        "iso-basic-format",
        "iso-space-and-compact-offset",
        "nan",
        "infinity",
        "exponent-string",
        "empty",
        "bool",
        "absent",
    ],
)
def test_parse_timestamp(kind, value, expected) -> None:
    assert parse_timestamp(kind, value) == expected


# --- the source mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelled", "state"),
    [
        ("OPEN", BreakerState.OPEN),
        ("open", BreakerState.OPEN),
        ("CLOSED", BreakerState.CLOSED),
        ("Closed", BreakerState.CLOSED),
        ("HALF_OPEN", BreakerState.HALF_OPEN),
        ("HALF-OPEN", BreakerState.HALF_OPEN),
        ("half-open", BreakerState.HALF_OPEN),
        ("HALF", BreakerState.HALF_OPEN),
        ("halfopen", BreakerState.HALF_OPEN),
        ("half open", BreakerState.HALF_OPEN),
    ],
)
def test_default_spellings(spelled, state) -> None:
    assert BreakerSource("t").state_of(spelled) == state


def test_state_values_add_to_the_defaults() -> None:
    source = BreakerSource("t", state_values={"TRIPPED": "OPEN", "probing": "half-open"})
    assert source.state_of("tripped") == BreakerState.OPEN
    assert source.state_of("PROBING") == BreakerState.HALF_OPEN
    assert source.state_of("OPEN") == BreakerState.OPEN
    assert source.state_of("EXPLODED") is None
    assert set(DEFAULT_STATE_VALUES) <= set(source.state_values)


def test_state_values_override_a_default() -> None:
    source = BreakerSource("t", state_values={"HALF": "OPEN"})
    assert source.state_of("half") == BreakerState.OPEN


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"state_values": {"half": "HALFWAY"}},
            "breakers table `cb`: state_values maps 'half' to 'HALFWAY'; expected a spelling "
            "mapped to one of CLOSED, OPEN, HALF_OPEN",
        ),
        (
            {"state_values": {"gone": "UNKNOWN"}},
            "breakers table `cb`: state_values maps 'gone' to 'UNKNOWN'; expected a spelling "
            "mapped to one of CLOSED, OPEN, HALF_OPEN",
        ),
        (
            {"state_values": {" ": "OPEN"}},
            "breakers table `cb`: state_values maps ' ' to 'OPEN'",
        ),
        ({"key_attr": ""}, "breakers table `cb`: `key_attr` must be an attribute name, got ''"),
        (
            {"updated_attr": ""},
            "breakers table `cb`: `updated_attr` must be an attribute name or omitted, got ''",
        ),
    ],
    ids=["unknown-canonical", "unknown-is-not-mappable", "blank-spelling", "empty-key", "empty-ts"],
)
def test_bad_mappings_are_config_errors(options, message) -> None:
    with pytest.raises(ConfigError) as caught:
        BreakerSource("cb", **options)
    assert str(caught.value).startswith(message)


def test_an_empty_table_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="breakers: `table` must be a table name, got ''"):
        BreakerSource("")


def test_a_source_is_frozen_and_hashable() -> None:
    source = BreakerSource("t", state_values={"TRIPPED": "OPEN"})
    with pytest.raises(AttributeError):
        source.table = "other"  # type: ignore[misc]
    assert hash(source) == hash(BreakerSource("t", state_values={"TRIPPED": "OPEN"}))
    with pytest.raises(TypeError):
        source.state_values["X"] = "OPEN"  # type: ignore[index]


def test_duplicate_ids_are_kept_apart() -> None:
    rows = [parse_item(prod_item(s), PROD, NOW) for s in ("OPEN", "CLOSED", "HALF")]
    out = dedupe_breakers(rows)
    assert [r["breaker"] for r in out] == ["payment-api", "payment-api#2", "payment-api#3"]
    assert [r["state"] for r in out] == ["OPEN", "UNKNOWN", "UNKNOWN"]
    assert (
        "duplicate breaker id 'payment-api' (item 2); is key_attr the table key?"
        in (out[1]["problem"])
    )
    assert out[0]["problem"] is None


# --- the shell, against a fake DynamoDB client ----------------------------------------------


class FakeDynamoDB:
    """Pages a list of items the way Scan does: ``Limit`` per page, ``LastEvaluatedKey``."""

    class meta:
        region_name = "eu-west-1"

    def __init__(self, items: list[dict[str, Any]], *, missing: bool = False) -> None:
        self.items = items
        self.missing = missing
        self.scans: list[dict[str, Any]] = []
        self.describes = 0

    def scan(self, **request: Any) -> dict[str, Any]:
        self.scans.append(dict(request))
        if self.missing:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}, "Scan"
            )
        start = int(request.get("ExclusiveStartKey", {}).get("i", {}).get("N", 0))
        limit = request.get("Limit", 2)
        page = self.items[start : start + limit]
        response: dict[str, Any] = {"Items": page, "Count": len(page)}
        if start + limit < len(self.items):
            response["LastEvaluatedKey"] = {"i": {"N": str(start + limit)}}
        return response

    def describe_table(self, TableName: str) -> dict[str, Any]:
        self.describes += 1
        return {"Table": {"TableArn": f"arn:aws:dynamodb:eu-west-1:333333333333:table/{TableName}"}}


def items(n: int) -> list[dict[str, Any]]:
    return [prod_item("OPEN", breaker_id={"S": f"b{i:03d}"}) for i in range(n)]


def test_every_page_is_scanned() -> None:
    dynamodb = FakeDynamoDB(items(7))
    frame = collect_breakers(
        dynamodb, PROD, now=NOW, page_size=3, consistent_read=True, account="1"
    )
    assert len(frame) == 7
    assert len(dynamodb.scans) == 3
    assert all(r["ConsistentRead"] is True and r["Limit"] == 3 for r in dynamodb.scans)
    assert "ExclusiveStartKey" not in dynamodb.scans[0]
    assert dynamodb.scans[2]["ExclusiveStartKey"] == {"i": {"N": "6"}}


def test_the_frame_has_the_store_schema() -> None:
    frame = collect_breakers(FakeDynamoDB(items(2)), PROD, now=NOW)
    assert list(frame.columns) == BREAKERS.columns
    assert str(frame["observed_at"].dtype) == "datetime64[ms, UTC]"
    assert str(frame["failure_count"].dtype) == "Int64"
    assert frame["observed_at"].iloc[0] == NOW


def test_an_empty_table_gives_an_empty_frame() -> None:
    frame = collect_breakers(FakeDynamoDB([]), PROD, now=NOW)
    assert frame.empty
    assert list(frame.columns) == BREAKERS.columns


def test_account_and_region_fall_back_to_the_table_arn_and_the_client() -> None:
    dynamodb = FakeDynamoDB(items(1))
    frame = collect_breakers(dynamodb, BreakerSource("circuit-breakers"), now=NOW)
    assert (frame["account"].iloc[0], frame["region"].iloc[0]) == ("333333333333", "eu-west-1")
    assert dynamodb.describes == 1
    collect_breakers(dynamodb, PROD, now=NOW)
    assert dynamodb.describes == 1  # the source names the account: no DescribeTable


def test_a_missing_table_is_a_source_error_naming_it() -> None:
    with pytest.raises(SourceError) as caught:
        collect_breakers(FakeDynamoDB([], missing=True), PROD, now=NOW)
    assert caught.value.kind == "invalid"
    assert str(caught.value) == (
        "breakers table `circuit-breakers` not found in us-east-1; check `table` in [breakers] "
        "of stormwatch.toml (and the account's region)"
    )


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        collect_breakers(FakeDynamoDB([]), PROD, now=datetime(2026, 11, 20))
