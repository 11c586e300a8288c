"""collectors.queues: depth, retention and DLQ links from queue attributes, never bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from collectors.errors import SourceError
from collectors.queues import (
    ATTRIBUTES,
    collect_queues,
    dlq_sources,
    queue_name,
    queue_row,
    redrive_target,
)
from collectors.schema import QUEUES

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ACCOUNT, REGION = "111111111111", "us-east-1"


def arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def attributes(name: str, *, dlq: str | None = None, count: Any = 3, **values: str) -> dict:
    attrs = {
        "QueueArn": arn(name),
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "0",
        "MessageRetentionPeriod": "345600",
        "VisibilityTimeout": "30",
        **values,
    }
    if dlq is not None:
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arn(dlq), "maxReceiveCount": count}
        )
    return attrs


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (url("payments-dlq"), "payments-dlq"),
        (url("orders.fifo") + "/", "orders.fifo"),
        (arn("payments"), "payments"),
    ],
    ids=["url", "url-trailing-slash", "arn"],
)
def test_queue_name(text, name) -> None:
    assert queue_name(text) == name


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        (attributes("payments", dlq="payments-dlq", count=3), ("payments-dlq", 3)),
        (attributes("payments", dlq="payments-dlq", count="5"), ("payments-dlq", 5)),
        (attributes("payments"), (None, None)),
        ({"RedrivePolicy": "{not json"}, (None, None)),
        ({"RedrivePolicy": "[1, 2]"}, (None, None)),
        ({"RedrivePolicy": json.dumps({"maxReceiveCount": 2})}, (None, 2)),
        (
            {
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": arn("d"), "maxReceiveCount": "x"}
                )
            },
            ("d", None),
        ),
    ],
    ids=[
        "number-count",
        "string-count",
        "no-policy",
        "not-json",
        "not-an-object",
        "no-target",
        "bad-count",
    ],
)
def test_redrive_target(attrs, expected) -> None:
    assert redrive_target(attrs) == expected


def test_dlq_sources_come_from_redrive_policies() -> None:
    by_queue = {
        "payments": attributes("payments", dlq="shared-dlq"),
        "refunds": attributes("refunds", dlq="shared-dlq"),
        "shipping": attributes("shipping", dlq="shipping-dlq"),
        "shared-dlq": attributes("shared-dlq"),
    }
    assert dlq_sources(by_queue) == {
        "shared-dlq": ["payments", "refunds"],
        "shipping-dlq": ["shipping"],
    }


def test_queue_row_reads_every_attribute() -> None:
    attrs = attributes(
        "payments",
        dlq="payments-dlq",
        count="4",
        ApproximateNumberOfMessages="12",
        ApproximateNumberOfMessagesNotVisible="3",
        ApproximateNumberOfMessagesDelayed="1",
        MessageRetentionPeriod="1209600",
        VisibilityTimeout="180",
    )
    row = queue_row(
        "payments", attrs, observed_at=NOW, account=ACCOUNT, region=REGION, oldest_age_s=42
    )
    assert row == {
        "account": ACCOUNT,
        "region": REGION,
        "queue": "payments",
        "observed_at": NOW,
        "arn": arn("payments"),
        "is_dlq": False,
        "sources": [],
        "dlq": "payments-dlq",
        "max_receive_count": 4,
        "visible": 12,
        "in_flight": 3,
        "delayed": 1,
        "oldest_age_s": 42.0,
        "retention_s": 1209600,
        "visibility_timeout_s": 180,
    }
    assert set(row) == set(QUEUES.columns)


def test_a_queue_with_sources_is_a_dlq() -> None:
    row = queue_row(
        "d",
        attributes("d"),
        observed_at=NOW,
        account=ACCOUNT,
        region=REGION,
        sources=["b", "a", "b"],
    )
    assert (row["is_dlq"], row["sources"]) == (True, ["a", "b"])


def test_unreadable_numbers_are_null() -> None:
    row = queue_row(
        "q",
        {"ApproximateNumberOfMessages": "lots"},
        observed_at=NOW,
        account=ACCOUNT,
        region=REGION,
    )
    assert row["visible"] is None
    assert row["arn"] is None


# --- the shell, against a fake SQS client -----------------------------------------------------


class FakeSQS:
    """Queues by name; pages ListQueues/ListDeadLetterSourceQueues ``page`` at a time."""

    class meta:
        region_name = REGION

    def __init__(self, queues: dict[str, dict[str, str]], page: int = 2) -> None:
        self.queues = queues
        self.page = page
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.vanish: set[str] = set()

    def _record(self, operation: str, request: dict[str, Any]) -> None:
        self.calls.append((operation, dict(request)))

    def _paged(self, key: str, values: list[str], request: dict[str, Any]) -> dict[str, Any]:
        assert request.get("MaxResults"), "SQS only pages when MaxResults is given"
        start = int(request.get("NextToken", 0))
        response: dict[str, Any] = {key: values[start : start + self.page]}
        if start + self.page < len(values):
            response["NextToken"] = str(start + self.page)
        return response

    def list_queues(self, **request: Any) -> dict[str, Any]:
        self._record("ListQueues", request)
        return self._paged("QueueUrls", [url(n) for n in sorted(self.queues)], request)

    def get_queue_url(self, **request: Any) -> dict[str, Any]:
        self._record("GetQueueUrl", request)
        if request["QueueName"] not in self.queues:
            raise self._missing("GetQueueUrl")
        return {"QueueUrl": url(request["QueueName"])}

    def get_queue_attributes(self, **request: Any) -> dict[str, Any]:
        self._record("GetQueueAttributes", request)
        name = queue_name(request["QueueUrl"])
        if name in self.vanish or name not in self.queues:
            raise self._missing("GetQueueAttributes")
        wanted = request["AttributeNames"]
        return {"Attributes": {k: v for k, v in self.queues[name].items() if k in wanted}}

    def list_dead_letter_source_queues(self, **request: Any) -> dict[str, Any]:
        self._record("ListDeadLetterSourceQueues", request)
        target = queue_name(request["QueueUrl"])
        sources = [url(n) for n, a in sorted(self.queues.items()) if redrive_target(a)[0] == target]
        return self._paged("queueUrls", sources, request)

    def receive_message(self, **request: Any) -> dict[str, Any]:
        raise AssertionError("ReceiveMessage must never be called")

    @staticmethod
    def _missing(operation: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": "gone"}},
            operation,
        )

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]


def pipeline() -> dict[str, dict[str, str]]:
    return {
        "payments": attributes("payments", dlq="payments-dlq"),
        "refunds": attributes("refunds", dlq="payments-dlq", count=5),
        "shipping": attributes("shipping", dlq="shipping-dlq"),
        "payments-dlq": attributes("payments-dlq", ApproximateNumberOfMessages="7"),
        "shipping-dlq": attributes("shipping-dlq", ApproximateNumberOfMessages="2"),
        "email-failures": attributes("email-failures", ApproximateNumberOfMessages="1"),
    }


def test_every_queue_is_listed_page_by_page() -> None:
    sqs = FakeSQS(pipeline(), page=4)
    frame = collect_queues(sqs, now=NOW)
    assert sorted(frame["queue"]) == sorted(pipeline())
    assert sqs.operations().count("ListQueues") == 2
    assert sqs.operations().count("GetQueueAttributes") == 6
    # Links come from the redrive policies already read: no ListDeadLetterSourceQueues.
    assert "ListDeadLetterSourceQueues" not in sqs.operations()
    by_name = frame.set_index("queue")
    assert by_name.loc["payments-dlq", "sources"] == ["payments", "refunds"]
    assert bool(by_name.loc["payments-dlq", "is_dlq"]) is True
    assert by_name.loc["payments-dlq", "visible"] == 7
    assert by_name.loc["refunds", "dlq"] == "payments-dlq"
    assert by_name.loc["refunds", "max_receive_count"] == 5
    assert bool(by_name.loc["email-failures", "is_dlq"]) is False
    assert by_name.loc["payments", "account"] == ACCOUNT
    assert by_name.loc["payments", "region"] == REGION


def test_only_the_attributes_needed_are_asked_for() -> None:
    sqs = FakeSQS(pipeline())
    collect_queues(sqs, now=NOW)
    asked = {tuple(r["AttributeNames"]) for op, r in sqs.calls if op == "GetQueueAttributes"}
    assert asked == {ATTRIBUTES}
    assert "All" not in ATTRIBUTES


def test_named_queues_get_their_sources_from_the_api() -> None:
    sqs = FakeSQS(pipeline(), page=1)
    frame = collect_queues(sqs, now=NOW, queue_names=["payments-dlq", "shipping"])
    assert list(frame["queue"]) == ["payments-dlq", "shipping"]
    assert "ListQueues" not in sqs.operations()
    assert sqs.operations().count("ListDeadLetterSourceQueues") == 2 + 1  # 2 pages + 1 (none)
    assert frame.set_index("queue").loc["payments-dlq", "sources"] == ["payments", "refunds"]


def test_named_queues_and_the_full_listing_agree() -> None:
    everything = collect_queues(FakeSQS(pipeline()), now=NOW).set_index("queue")
    named = collect_queues(FakeSQS(pipeline()), now=NOW, queue_names=sorted(pipeline()))
    named = named.set_index("queue")
    assert everything.equals(named.loc[everything.index])


def test_other_sources_make_a_dlq_and_oldest_age_is_passed_through() -> None:
    frame = collect_queues(
        FakeSQS(pipeline()),
        now=NOW,
        other_sources={"email-failures": ["lambda:email-sender"]},
        oldest_age={"payments-dlq": 3600.0},
    ).set_index("queue")
    assert frame.loc["email-failures", "sources"] == ["lambda:email-sender"]
    assert bool(frame.loc["email-failures", "is_dlq"]) is True
    assert frame.loc["payments-dlq", "oldest_age_s"] == 3600.0
    assert pd.isna(frame.loc["payments", "oldest_age_s"])


def test_a_queue_deleted_while_listing_is_left_out() -> None:
    sqs = FakeSQS(pipeline())
    sqs.vanish.add("shipping")
    frame = collect_queues(sqs, now=NOW)
    assert "shipping" not in set(frame["queue"])
    assert len(frame) == 5


def test_a_named_queue_that_does_not_exist_is_a_source_error() -> None:
    with pytest.raises(SourceError) as caught:
        collect_queues(FakeSQS(pipeline()), now=NOW, queue_names=["payments", "nope", "gone"])
    assert caught.value.kind == "invalid"
    assert str(caught.value) == (
        "queue(s) `nope`, `gone` not found in this account (us-east-1); remove them from the "
        "queue list or check the account and region"
    )


def test_the_frame_has_the_store_schema_even_when_empty() -> None:
    frame = collect_queues(FakeSQS({}), now=NOW)
    assert frame.empty
    assert list(frame.columns) == QUEUES.columns


def test_no_message_is_ever_received() -> None:
    sqs = FakeSQS(pipeline())
    collect_queues(sqs, now=NOW)
    collect_queues(sqs, now=NOW, queue_names=["payments-dlq"])
    assert set(sqs.operations()) <= {
        "ListQueues",
        "GetQueueUrl",
        "GetQueueAttributes",
        "ListDeadLetterSourceQueues",
    }


# --- answers discovery already read in this cycle ---------------------------------------------


def answers_from_discovery(queues: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """What discovery's GetQueueAttributes(All) gives, by URL: more than ATTRIBUTES."""
    return {url(n): {**a, "DelaySeconds": "0", "Policy": "{}"} for n, a in queues.items()}


def test_answers_read_by_discovery_are_not_asked_again() -> None:
    sqs = FakeSQS(pipeline())
    fresh = collect_queues(sqs, now=NOW)
    reused_sqs = FakeSQS(pipeline())
    reused = collect_queues(reused_sqs, now=NOW, known=answers_from_discovery(pipeline()))
    assert "GetQueueAttributes" not in reused_sqs.operations()
    assert reused_sqs.operations() == ["ListQueues"] * 3
    assert reused.equals(fresh)


def test_an_answer_without_depth_counters_is_asked_again() -> None:
    known = answers_from_discovery(pipeline())
    # A config-only answer (discovery's Queue.attributes drop the counters) is not a depth.
    del known[url("payments-dlq")]["ApproximateNumberOfMessagesDelayed"]
    del known[url("shipping")]  # not read by discovery (filtered out, or created since)
    sqs = FakeSQS(pipeline())
    frame = collect_queues(sqs, now=NOW, known=known).set_index("queue")
    asked = [queue_name(r["QueueUrl"]) for op, r in sqs.calls if op == "GetQueueAttributes"]
    assert sorted(asked) == ["payments-dlq", "shipping"]
    assert frame.loc["payments-dlq", "visible"] == 7


def test_named_queues_reuse_answers_too() -> None:
    sqs = FakeSQS(pipeline())
    frame = collect_queues(
        sqs, now=NOW, queue_names=["payments-dlq"], known=answers_from_discovery(pipeline())
    )
    assert "GetQueueAttributes" not in sqs.operations()
    assert frame.set_index("queue").loc["payments-dlq", "visible"] == 7
