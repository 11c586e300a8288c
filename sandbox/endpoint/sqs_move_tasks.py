"""SQS DLQ redrive (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask).

moto 5.2.5 has no message-move tasks, so the sandbox implements them on top of moto's own SQS
queues. A task moves every message in the dead-letter queue to its destination: the queue given
as ``DestinationArn``, else the message's original source (AWS records it in the
``DeadLetterQueueSourceArn`` attribute; moto does not, so when the DLQ has several sources the
caller must name the destination). The move completes within the request (status
``COMPLETED``); AWS moves at up to ``MaxNumberOfMessagesPerSecond`` in the background, which a
collector cannot tell apart from a fast task.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.sqs.models import Queue, sqs_backends

from sandbox.endpoint.errors import AwsError

if TYPE_CHECKING:
    from datetime import datetime

    from sandbox.endpoint.context import RequestContext


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"
    http_status = 400


class UnsupportedOperation(AwsError):
    code = "UnsupportedOperation"
    http_status = 400


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValue"
    http_status = 400


@dataclass(slots=True)
class MoveTask:
    handle: str
    source_arn: str
    destination_arn: str | None
    max_per_second: int | None
    moved: int
    to_move: int
    status: str
    started: datetime

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "TaskHandle": self.handle,
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": int(self.started.timestamp() * 1000),
        }
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.max_per_second:
            out["MaxNumberOfMessagesPerSecond"] = self.max_per_second
        return out


class SqsMoveTasks:
    """The sandbox's extension to moto's SQS; holds the task history per account and region."""

    operations = frozenset(
        {"StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask"}
    )

    def __init__(self) -> None:
        self._tasks: dict[tuple[str, str], list[MoveTask]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._tasks.clear()

    def handle(self, operation: str, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if operation == "StartMessageMoveTask":
            return self._start(params, ctx)
        if operation == "ListMessageMoveTasks":
            return self._list(params, ctx)
        return self._cancel(params, ctx)

    def _queue_by_arn(self, arn: str, ctx: RequestContext, parameter: str) -> Queue:
        parts = arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise InvalidParameterValue(f"Value {arn} for parameter {parameter} is invalid.")
        region, account, name = parts[3], parts[4], parts[5]
        backend = sqs_backends[account][region]
        queue = backend.queues.get(name)
        if queue is None:
            raise ResourceNotFoundException(
                f"The resource that you specified for the {parameter} parameter doesn't exist."
            )
        return queue

    def _start(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        source_arn = params["SourceArn"]
        dlq = self._queue_by_arn(source_arn, ctx, "SourceArn")
        backend = sqs_backends[ctx.account_id][ctx.region]
        sources = [q for q in backend.queues.values() if q.dead_letter_queue is dlq]
        if not sources:
            raise InvalidParameterValue(
                f"Source queue {source_arn} is not configured as a dead-letter queue of any queue."
            )
        destination_arn = params.get("DestinationArn")
        if destination_arn:
            destination = self._queue_by_arn(destination_arn, ctx, "DestinationArn")
        elif len(sources) == 1:
            destination = sources[0]
        else:
            raise InvalidParameterValue(
                f"Dead-letter queue {source_arn} has {len(sources)} source queues; the sandbox "
                "does not record each message's origin, so give DestinationArn."
            )
        with dlq._messages_lock:
            messages = list(dlq._messages)
            dlq._messages = []
            dlq._pending_messages = set()
        for message in messages:
            message.approximate_receive_count = 0
            message.visible_at = 0.0
            destination.add_message(message)
        handle_data = {
            "source": source_arn,
            "n": len(self._tasks.get((ctx.account_id, ctx.region), [])),
        }
        task = MoveTask(
            handle=base64.b64encode(json.dumps(handle_data).encode()).decode(),
            source_arn=source_arn,
            destination_arn=destination_arn,
            max_per_second=params.get("MaxNumberOfMessagesPerSecond"),
            moved=len(messages),
            to_move=len(messages),
            status="COMPLETED",
            started=ctx.now,
        )
        with self._lock:
            self._tasks.setdefault((ctx.account_id, ctx.region), []).append(task)
        return {"TaskHandle": task.handle}

    def _list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        source_arn = params["SourceArn"]
        self._queue_by_arn(source_arn, ctx, "SourceArn")
        limit = params.get("MaxResults", 1)
        if not 1 <= limit <= 10:
            raise InvalidParameterValue(f"Value {limit} for parameter MaxResults is invalid.")
        with self._lock:
            tasks = [
                t
                for t in self._tasks.get((ctx.account_id, ctx.region), [])
                if t.source_arn == source_arn
            ]
        newest_first = sorted(tasks, key=lambda t: t.started, reverse=True)
        return {"Results": [t.describe() for t in newest_first[:limit]]}

    def _cancel(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        handle = params["TaskHandle"]
        with self._lock:
            for task in self._tasks.get((ctx.account_id, ctx.region), []):
                if task.handle == handle:
                    if task.status != "RUNNING":
                        raise UnsupportedOperation("Only active tasks can be cancelled.")
                    task.status = "CANCELLED"
                    return {"ApproximateNumberOfMessagesMoved": task.moved}
        raise ResourceNotFoundException("Task does not exist.")
