"""Alarm history: what DescribeAlarmHistory returns, kept after the alarm is deleted (as AWS does).

``HistoryData`` is a JSON string shaped like AWS's, e.g. for a state change::

    {"version": "1.0",
     "oldState": {"stateValue": "OK", "stateReason": "…"},
     "newState": {"stateValue": "ALARM", "stateReason": "…", "stateReasonData": {…}}}

with ``HistorySummary`` ``"Alarm updated from OK to ALARM"``; and for configuration changes
``{"version": "1.0", "type": "Create", "createdAlarm": {…}}`` (``Update``/``updatedAlarm``,
``Delete``/``deletedAlarm``) with ``HistorySummary`` ``'Alarm "name" created'``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

HISTORY_VERSION = "1.0"
_COMPACT = (",", ":")  # AWS writes its JSON documents without blanks
ConfigChange = Literal["Create", "Update", "Delete"]
_CHANGE_WORDS: dict[ConfigChange, tuple[str, str]] = {
    "Create": ("created", "createdAlarm"),
    "Update": ("updated", "updatedAlarm"),
    "Delete": ("deleted", "deletedAlarm"),
}
# Fields of DescribeAlarms output that AWS leaves out of a configuration history document.
_NOT_CONFIGURATION = frozenset({"StateReason", "StateReasonData", "StateTransitionedTimestamp"})


def aws_timestamp(moment: datetime) -> str:
    """The millisecond form AWS uses inside JSON documents: ``2024-03-01T12:00:00.000+0000``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _camel(key: str) -> str:
    if key == "OKActions":
        return "okactions"  # sic: AWS writes it all lower case
    return key[:1].lower() + key[1:]


def _document(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_document(v) for v in value]
    if isinstance(value, datetime):
        return aws_timestamp(value)
    return value


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """One side of a state change as HistoryData shows it."""

    value: str
    reason: str
    reason_data: str | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"stateValue": self.value, "stateReason": self.reason}
        if self.reason_data is not None:
            try:
                doc["stateReasonData"] = json.loads(self.reason_data)
            except ValueError:
                doc["stateReasonData"] = self.reason_data
        return doc


def state_update(old: StateSnapshot, new: StateSnapshot) -> tuple[str, str]:
    """``(HistorySummary, HistoryData)`` of a StateUpdate item."""
    data = {"version": HISTORY_VERSION, "oldState": old.document(), "newState": new.document()}
    return f"Alarm updated from {old.value} to {new.value}", json.dumps(data, separators=_COMPACT)


def configuration_update(change: ConfigChange, description: dict[str, Any]) -> tuple[str, str]:
    """``(HistorySummary, HistoryData)`` of a ConfigurationUpdate item for one alarm.

    ``description`` is the alarm as DescribeAlarms shows it.
    """
    verb, key = _CHANGE_WORDS[change]
    config = {k: v for k, v in description.items() if k not in _NOT_CONFIGURATION}
    data = {"version": HISTORY_VERSION, "type": change, key: _document(config)}
    return f'Alarm "{description["AlarmName"]}" {verb}', json.dumps(data, separators=_COMPACT)


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One AlarmHistoryItem; ``seq`` orders items recorded at the same instant."""

    seq: int
    timestamp: datetime
    alarm_name: str
    alarm_type: str
    item_type: str
    summary: str
    data: str

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.timestamp, self.seq)

    def output(self) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name,
            "AlarmType": self.alarm_type,
            "Timestamp": self.timestamp,
            "HistoryItemType": self.item_type,
            "HistorySummary": self.summary,
            "HistoryData": self.data,
        }


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """DescribeAlarmHistory's filters; ``after`` is the key of the last item already returned."""

    alarm_types: frozenset[str]
    alarm_name: str | None = None
    item_type: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    ascending: bool = False
    limit: int = 100
    after: tuple[datetime, int] | None = None

    def matches(self, item: HistoryItem) -> bool:
        return (
            item.alarm_type in self.alarm_types
            and (self.alarm_name is None or item.alarm_name == self.alarm_name)
            and (self.item_type is None or item.item_type == self.item_type)
            and (self.start is None or item.timestamp >= self.start)
            and (self.end is None or item.timestamp <= self.end)
        )


class AlarmHistory:
    """Append-only history of one (account, region); not thread-safe on its own."""

    def __init__(self) -> None:
        self._items: list[HistoryItem] = []

    def record(
        self,
        *,
        timestamp: datetime,
        alarm_name: str,
        alarm_type: str,
        item_type: str,
        summary: str,
        data: str,
    ) -> HistoryItem:
        item = HistoryItem(
            len(self._items), timestamp, alarm_name, alarm_type, item_type, summary, data
        )
        self._items.append(item)
        return item

    def query(self, query: HistoryQuery) -> tuple[list[HistoryItem], bool]:
        """One page of matching items in scan order, and whether more follow."""
        items = sorted(
            (item for item in self._items if query.matches(item)),
            key=lambda item: item.key,
            reverse=not query.ascending,
        )
        if query.after is not None:
            after = query.after
            items = [
                item
                for item in items
                if (item.key > after if query.ascending else item.key < after)
            ]
        return items[: query.limit], len(items) > query.limit
