"""Circuit-breaker items in DynamoDB → the ``breakers`` table.

Teams store breakers in their own shape: which attribute holds the id, the state, the counts
and the timestamps, and how the state is spelled (``OPEN``/``open``, ``HALF_OPEN``/``HALF-OPEN``/
``half-open``/``HALF``). A :class:`BreakerSource` names them, as powertools' DynamoDB
persistence layer lets the caller rename every attribute; :func:`parse_item` (pure) maps one
item; :func:`collect_breakers` scans a whole table, page by page.

**Nothing is dropped and nothing crashes.** An item that cannot be read fully is stored with a
reason in ``problem`` (several reasons joined by ``"; "``) and its raw state text in
``raw_state``:

- **UNKNOWN state** when the item has no usable key (it is stored under
  ``"<no KEY_ATTR> DIGEST"``, a digest of the item, so it stays visible and distinct), no state
  attribute, a state spelling the mapping does not know, a state of the wrong DynamoDB type, or
  a configured timestamp that is *present but unreadable*. Garbled data in a mapped attribute
  says the mapping (or the writer) is not what we think, so its state is not trusted either.
- **State kept** when the updated-at attribute is simply *absent*: legacy writers that never
  heartbeat are common (the audit reports them); the state itself is readable, so it is kept
  and ``problem`` says "no updated-at attribute". An absent last-transition (a breaker that
  never changed state) or absent counts are normal and not a problem; counts that are present
  but not whole numbers are stored as null with a problem, the state kept.

Timestamps may be epoch numbers (seconds, milliseconds, microseconds or nanoseconds, told apart
by magnitude; as ``N`` or as a digit string) or ISO 8601 strings with ``Z``, an offset, or
neither (read as UTC). All times are stored as UTC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from collectors._frame import as_utc, to_frame
from collectors.errors import ConfigError, SourceError
from collectors.schema import BREAKERS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import pandas as pd


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    UNKNOWN = "UNKNOWN"


# Raw spellings → canonical state. Matching is case-insensitive and treats "-", "_" and spaces
# alike, so "half-open", "Half Open" and "HALF_OPEN" are one spelling.
DEFAULT_STATE_VALUES: Mapping[str, str] = MappingProxyType(
    {
        "CLOSED": "CLOSED",
        "OPEN": "OPEN",
        "HALF_OPEN": "HALF_OPEN",
        "HALF-OPEN": "HALF_OPEN",
        "half-open": "HALF_OPEN",
        "HALFOPEN": "HALF_OPEN",
        "HALF": "HALF_OPEN",
    }
)
_MAPPABLE = (BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN)
_SEPARATORS = re.compile(r"[\s_-]+")
_RAW_MAX = 200  # characters of a raw value kept in raw_state / problem
_TYPE_NAMES = {
    "S": "a string",
    "N": "a number",
    "B": "binary",
    "BOOL": "a boolean",
    "NULL": "null",
    "M": "a map",
    "L": "a list",
    "SS": "a string set",
    "NS": "a number set",
    "BS": "a binary set",
}


def _spelling(raw: str) -> str:
    return _SEPARATORS.sub("_", raw.strip()).casefold()


@dataclass(frozen=True, slots=True)
class BreakerSource:
    """One DynamoDB table of breaker items and how to read it.

    ``state_values`` adds to (and overrides) :data:`DEFAULT_STATE_VALUES`: raw spelling →
    CLOSED, OPEN or HALF_OPEN. ``failure_attr`` … ``updated_attr`` may be None when the table
    has no such attribute. ``account``/``region`` default to the client's when collecting.
    """

    table: str
    key_attr: str = "breaker_id"
    state_attr: str = "state"
    failure_attr: str | None = "failure_count"
    success_attr: str | None = "success_count"
    transition_attr: str | None = "last_transition"
    updated_attr: str | None = "updated_at"
    state_values: Mapping[str, str] = field(default_factory=dict, hash=False)
    account: str | None = None
    region: str | None = None
    _lookup: Mapping[str, BreakerState] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        where = f"breakers table `{self.table}`"
        if not isinstance(self.table, str) or not self.table:
            raise ConfigError(f"breakers: `table` must be a table name, got {self.table!r}")
        for name in ("key_attr", "state_attr"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: `{name}` must be an attribute name, got {value!r}")
        for name in ("failure_attr", "success_attr", "transition_attr", "updated_attr"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(
                    f"{where}: `{name}` must be an attribute name or omitted, got {value!r}"
                )
        merged = {**DEFAULT_STATE_VALUES, **dict(self.state_values)}
        lookup: dict[str, BreakerState] = {}
        for raw, canonical in merged.items():
            state = _canonical(canonical)
            if not isinstance(raw, str) or not raw.strip() or state is None:
                expected = ", ".join(s.value for s in _MAPPABLE)
                raise ConfigError(
                    f"{where}: state_values maps {raw!r} to {canonical!r}; "
                    f"expected a spelling mapped to one of {expected}"
                )
            lookup[_spelling(raw)] = state
        object.__setattr__(self, "state_values", MappingProxyType(merged))
        object.__setattr__(self, "_lookup", MappingProxyType(lookup))

    def state_of(self, raw: str) -> BreakerState | None:
        """The canonical state a raw spelling stands for, or None when the mapping lacks it."""
        return self._lookup.get(_spelling(raw))


def _canonical(value: object) -> BreakerState | None:
    if not isinstance(value, str):
        return None
    spelled = _spelling(value).upper()
    if spelled in ("HALF", "HALFOPEN"):
        spelled = "HALF_OPEN"
    try:
        state = BreakerState(spelled)
    except ValueError:
        return None
    return state if state in _MAPPABLE else None


# --- the pure core -------------------------------------------------------------------------


def parse_item(
    item: Mapping[str, Any], source: BreakerSource, observed_at: datetime
) -> dict[str, Any]:
    """One ``breakers`` row from one item in DynamoDB's low-level form (``{"S": "OPEN"}``).

    Never raises on item content: what cannot be read is null or UNKNOWN, with the reason in
    ``problem`` (see the module docstring for which problems make the state UNKNOWN).
    """
    observed = as_utc(observed_at, "observed_at")
    where = f"breakers table `{source.table}`"
    if not isinstance(item, dict):
        item = {}
        unreadable = True
    else:
        unreadable = False
    problems: list[str] = []
    trusted = True
    if unreadable:
        problems.append("item is not a map of DynamoDB attribute values")

    # The key.
    breaker: str | None = None
    kind, key = _value(item.get(source.key_attr))
    if kind in ("S", "N") and str(key).strip():
        breaker = str(key)
    else:
        trusted = False
        digest = hashlib.sha1(_canonical_json(item).encode()).hexdigest()[:12]
        breaker = f"<no {source.key_attr}> {digest}"
        if kind is None:
            names = ", ".join(sorted(item)[:10]) or "none"
            problems.append(
                f"no key attribute `{source.key_attr}` (item has: {names}); "
                f"set key_attr for {where}"
            )
        else:
            problems.append(
                f"key `{source.key_attr}` is {_describe(kind, key)}, expected a string or number"
            )

    # The state.
    state = BreakerState.UNKNOWN
    raw_state: str | None = None
    kind, value = _value(item.get(source.state_attr))
    if kind is None:
        problems.append(f"no state attribute `{source.state_attr}`; set state_attr for {where}")
    elif kind in ("S", "N"):
        raw_state = _clip(str(value))
        mapped = source.state_of(str(value))
        if mapped is None:
            problems.append(
                f"unknown state {raw_state!r} in `{source.state_attr}`; "
                f"add it to state_values of {where}"
            )
        else:
            state = mapped
    else:
        raw_state = _raw_text(kind, value)
        problems.append(
            f"state `{source.state_attr}` is {_describe(kind, value)}, expected a string"
        )

    # Counts: informational, never a reason to distrust the state.
    counts: dict[str, int | None] = {}
    for column, attr in (
        ("failure_count", source.failure_attr),
        ("success_count", source.success_attr),
    ):
        counts[column] = None
        if attr is None or attr not in item:
            continue
        kind, value = _value(item[attr])
        number = _whole_number(kind, value)
        if number is None:
            problems.append(f"`{attr}` is {_describe(kind, value)}, expected a whole number")
        counts[column] = number

    # Timestamps: absent updated-at keeps the state; present but unreadable does not.
    times: dict[str, datetime | None] = {}
    for column, attr in (
        ("last_transition", source.transition_attr),
        ("updated_at", source.updated_attr),
    ):
        times[column] = None
        if attr is None:
            continue
        if attr not in item:
            if column == "updated_at":
                problems.append(f"no updated-at attribute `{attr}`; freshness unknown")
            continue
        kind, value = _value(item[attr])
        parsed = parse_timestamp(kind, value)
        if parsed is None:
            trusted = False
            problems.append(
                f"bad timestamp in `{attr}`: {_describe(kind, value)}; "
                "expected epoch seconds/milliseconds or ISO 8601"
            )
        times[column] = parsed

    if not trusted:
        state = BreakerState.UNKNOWN
    return {
        "account": source.account or "",
        "region": source.region or "",
        "table": source.table,
        "breaker": breaker,
        "observed_at": observed,
        "state": state.value,
        "raw_state": raw_state,
        "failure_count": counts["failure_count"],
        "success_count": counts["success_count"],
        "last_transition": times["last_transition"],
        "updated_at": times["updated_at"],
        "problem": "; ".join(problems) or None,
    }


def parse_timestamp(kind: str | None, value: Any) -> datetime | None:
    """A UTC datetime from a DynamoDB ``N`` or ``S`` value, or None when it is not a time.

    Numbers (or digit strings) are epoch seconds, milliseconds, microseconds or nanoseconds by
    magnitude; strings are ISO 8601, with ``Z``, an offset, or neither (UTC).
    """
    if kind not in ("N", "S") or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is not None:
        if kind == "S" and not re.fullmatch(r"\d+(\.\d+)?", text):
            return None  # "NaN", "1e9", "-5": not how anyone writes a time
        return _from_epoch(number)
    if kind != "S":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _from_epoch(number: Decimal) -> datetime | None:
    if not number.is_finite() or number <= 0:
        return None
    seconds = number
    for _unit in ("ms", "us", "ns"):
        if seconds < Decimal("1e11"):  # 1e11 s is the year 5138; 1e11 ms is 1973
            break
        seconds /= 1000
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _value(attribute: Any) -> tuple[str | None, Any]:
    """(type, value) of one low-level attribute value; (None, None) when absent."""
    if attribute is None:
        return None, None
    if isinstance(attribute, dict) and len(attribute) == 1:
        [(kind, value)] = attribute.items()
        return str(kind), value
    return "?", attribute


def _whole_number(kind: str | None, value: Any) -> int | None:
    if kind not in ("N", "S") or not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _describe(kind: str | None, value: Any) -> str:
    if kind in ("S", "N"):
        return f"{_clip(str(value))!r}"
    name = _TYPE_NAMES.get(kind or "", "malformed")
    return f"{name} ({_raw_text(kind, value)})"


def _raw_text(kind: str | None, value: Any) -> str:
    return _clip(_canonical_json({kind or "?": value}))


def _clip(text: str) -> str:
    return text if len(text) <= _RAW_MAX else text[: _RAW_MAX - 1] + "…"


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def dedupe_breakers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose breaker ids repeat (``key_attr`` is not the table's key) kept apart.

    The second and later items of an id are stored as ``ID#2``, ``ID#3`` … with UNKNOWN state
    and a problem, in scan order, so no item overwrites another in the store.
    """
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        name = row["breaker"]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 1:
            out.append(row)
            continue
        note = f"duplicate breaker id {name!r} (item {seen[name]}); is key_attr the table key?"
        out.append(
            {
                **row,
                "breaker": f"{name}#{seen[name]}",
                "state": BreakerState.UNKNOWN.value,
                "problem": "; ".join(p for p in (row["problem"], note) if p),
            }
        )
    return out


# --- the I/O shell -------------------------------------------------------------------------


def scan_items(
    dynamodb: Any, table: str, *, consistent_read: bool = False, page_size: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every item of ``table``, following ``LastEvaluatedKey`` (one Scan call per page).

    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html — a page
    stops at 1 MB or ``Limit`` items; an empty page with a ``LastEvaluatedKey`` is possible and
    is followed like any other.
    """
    request: dict[str, Any] = {"TableName": table}
    if consistent_read:
        request["ConsistentRead"] = True
    if page_size is not None:
        request["Limit"] = page_size
    while True:
        page = dynamodb.scan(**request)
        yield from page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def collect_breakers(
    dynamodb: Any,
    source: BreakerSource,
    *,
    now: datetime,
    consistent_read: bool = False,
    page_size: int | None = None,
    account: str | None = None,
    region: str | None = None,
) -> pd.DataFrame:
    """Every item of ``source.table`` as ``breakers`` rows observed at ``now`` (UTC).

    Account and region: the arguments, else the source's, else the client's region and the
    account in the table's ARN (one DescribeTable call, made only then).
    Raises :class:`SourceError` (``invalid``) when the table does not exist.
    """
    observed_at = as_utc(now)
    region = region or source.region or dynamodb.meta.region_name
    try:
        account = account or source.account or _table_account(dynamodb, source.table)
        source = dataclasses.replace(source, account=account, region=region)
        rows = [
            parse_item(item, source, observed_at)
            for item in scan_items(
                dynamodb, source.table, consistent_read=consistent_read, page_size=page_size
            )
        ]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise SourceError(
                f"breakers table `{source.table}` not found in {region}; check `table` "
                "in [breakers] of stormwatch.toml (and the account's region)",
                kind="invalid",
            ) from error
        raise
    return to_frame(BREAKERS, dedupe_breakers(rows))


def _table_account(dynamodb: Any, table: str) -> str:
    arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    return str(arn).split(":")[4]
