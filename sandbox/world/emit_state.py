"""State the simulated system leaves in AWS: messages in DLQs and circuit-breaker items.

- DLQ messages: SQS moves a message into a dead-letter queue itself (no API call anyone could
  make), so the world puts the ledger's messages straight into moto's queues, keeping their
  original enqueue time (as SQS does; retention counts from it) and receive count. Syncing is
  idempotent: messages in the ledger and not in the queue are added, messages redriven or
  expired in the ledger are removed, nothing else in the queue is touched.
- Breaker items: written with boto3 ``PutItem`` through the endpoint, as the application's
  breaker library would, in the table's own attribute names and state spellings.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.sqs.models import Message, sqs_backends

from sandbox.world.model import BreakerState

if TYPE_CHECKING:
    from sandbox.world.model import BreakerTimeline, DlqMessage
    from sandbox.world.topology import Account, BreakerTable


def sync_dlq_messages(account: Account, ledger: list[DlqMessage]) -> dict[str, int]:
    """Make each DLQ hold exactly the ledger's messages; returns the depth per DLQ."""
    backend = sqs_backends[account.account_id][account.region]
    wanted: dict[str, dict[str, DlqMessage]] = {}
    for entry in ledger:
        wanted.setdefault(entry.dlq, {})[entry.message_id] = entry
    dlq_names = dead_letter_queues(account) | set(wanted)
    depths = {}
    for name in sorted(dlq_names):
        queue = backend.queues.get(name)
        if queue is None:
            raise LookupError(
                f"DLQ {name!r} is not provisioned in account {account.account_id}; "
                "provision the account before emitting"
            )
        entries = wanted.get(name, {})
        with queue._messages_lock:
            kept = [m for m in queue._messages if m.id in entries or not _is_world_message(m)]
            present = {m.id for m in kept}
            for message_id, entry in entries.items():
                if message_id not in present:
                    kept.append(_message(entry, _source_arn(account, entry.source)))
            kept.sort(key=lambda m: m.sent_timestamp or 0)
            queue._messages = kept
        depths[name] = len(entries)
    return depths


def dead_letter_queues(account: Account) -> set[str]:
    """Every queue that receives failed work: redrive DLQs, rule-target DLQs, destinations."""
    names = {q.dlq for q in account.queues}
    names |= {r.target.dlq for r in account.rules if r.target.dlq}
    for function in account.functions:
        if function.dead_letter_queue:
            names.add(function.dead_letter_queue)
        if function.async_config and function.async_config.on_failure_queue:
            names.add(function.async_config.on_failure_queue)
    return names


def _is_world_message(message: Message) -> bool:
    return message.system_attributes.get("stormwatch:world") == "1"


def _source_arn(account: Account, source: str) -> str | None:
    """The source queue's ARN for a redrive-policy move; None for ``events:``/``lambda:`` sends."""
    if ":" in source:
        return None  # EventBridge and Lambda destinations send like any producer
    return f"arn:aws:sqs:{account.region}:{account.account_id}:{source}"


def _message(entry: DlqMessage, source_arn: str | None) -> Message:
    body = json.dumps({"orderId": entry.message_id.split("-")[-1], "poison": entry.poison})
    attributes = {"stormwatch:world": "1"}
    if source_arn:
        # SQS records where a dead-lettered message came from.
        attributes["DeadLetterQueueSourceArn"] = source_arn
    message = Message(entry.message_id, body, system_attributes=attributes)
    message.sent_timestamp = int(entry.first_sent_at * 1000)  # type: ignore[assignment]
    message.approximate_receive_count = entry.receive_count
    message.approximate_first_receive_timestamp = int(entry.first_sent_at * 1000)
    return message


def breaker_item(
    table: BreakerTable, timeline: BreakerTimeline, minute: int = -1
) -> dict[str, Any]:
    """The DynamoDB item (low-level attribute values) for a breaker at the end of ``minute``."""
    spelling = dict(table.state_values)
    state = BreakerState(int(timeline.state[minute]))
    item: dict[str, Any] = {
        table.key_attr: {"S": timeline.breaker},
        table.state_attr: {"S": spelling[state.name]},
        table.failure_attr: {"N": str(int(timeline.failure_count[minute]))},
        table.success_attr: {"N": str(int(timeline.success_count[minute]))},
    }
    last_transition = float(timeline.last_transition[minute])
    if not math.isnan(last_transition):
        item[table.transition_attr] = {"S": _iso(last_transition)}
    if timeline.breaker not in table.no_timestamp:
        # Two teams, two habits: epoch seconds (number) or ISO 8601 (string).
        updated = float(timeline.updated_at[minute])
        item[table.updated_attr] = (
            {"N": str(int(updated))} if table.updated_attr == "updated_at" else {"S": _iso(updated)}
        )
    return item


def write_breaker_items(
    account: Account, timelines: dict[str, BreakerTimeline], dynamodb: Any, minute: int = -1
) -> int:
    """PutItem every breaker of the account's table; returns the number of items written."""
    table = account.breaker_table
    written = 0
    for breaker in table.breakers:
        item = breaker_item(table, timelines[breaker], minute)
        dynamodb.put_item(TableName=table.name, Item=item)
        written += 1
    return written


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
