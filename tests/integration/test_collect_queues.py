"""collect_queues against the sandbox world: DLQ depths and links, and no message ever read."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from collectors.errors import SourceError
from collectors.queues import collect_queues
from collectors.schema import QUEUES
from sandbox.endpoint import Endpoint
from sandbox.world.emit_state import dead_letter_queues
from sandbox.world.runner import World
from sandbox.world.topology import ACCOUNTS, account

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")
READ_ONLY = {"ListQueues", "GetQueueUrl", "GetQueueAttributes", "ListDeadLetterSourceQueues"}


@pytest.fixture(scope="module")
def world():
    """Two days with a poison batch: a few dozen messages dead-lettered in each account."""
    with Endpoint() as endpoint:
        world = World(endpoint, scenario="poison-batch", seed=11, days=2, now=NOW, trace_hours=0)
        world.start()
        yield world


def result_of(world: World, who):
    return next(r for r in world.backfill_results() if r.account.account_id == who.account_id)


def other_sources(who) -> dict[str, list[str]]:
    """What discovery reports: Lambda and EventBridge failures dead-lettered into queues."""
    found: dict[str, list[str]] = {}
    for function in who.functions:
        for queue in (
            function.dead_letter_queue,
            function.async_config.on_failure_queue if function.async_config else None,
        ):
            if queue:
                found.setdefault(queue, []).append(f"lambda:{function.name}")
    for rule in who.rules:
        if rule.target.dlq:
            found.setdefault(rule.target.dlq, []).append(f"events:{rule.name}")
    return found


@contextmanager
def sqs_operations(client):
    """Every SQS operation the client makes; a ReceiveMessage fails the collection outright."""
    seen: list[str] = []

    def record(model, **_kwargs) -> None:
        seen.append(model.name)

    def refuse(**_kwargs) -> None:
        raise AssertionError("ReceiveMessage called: message bodies must never be read")

    client.meta.events.register("before-call.sqs", record)
    client.meta.events.register("before-call.sqs.ReceiveMessage", refuse)
    try:
        yield seen
    finally:
        client.meta.events.unregister("before-call.sqs", record)
        client.meta.events.unregister("before-call.sqs.ReceiveMessage", refuse)


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_dlq_depths_equal_the_ledger(world, who) -> None:
    ledger: dict[str, int] = {}
    for message in result_of(world, who).dlq_messages:
        ledger[message.dlq] = ledger.get(message.dlq, 0) + 1
    assert sum(ledger.values()) > 0
    frame = collect_queues(world.client(who, "sqs"), now=NOW).set_index("queue")
    for name in dead_letter_queues(who):
        assert frame.loc[name, "visible"] == ledger.get(name, 0), name
        assert frame.loc[name, "in_flight"] == 0, name
        assert frame.loc[name, "delayed"] == 0, name


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_links_and_settings_match_the_topology(world, who) -> None:
    frame = collect_queues(world.client(who, "sqs"), now=NOW, other_sources=other_sources(who))
    assert list(frame.columns) == QUEUES.columns
    assert set(frame["account"]) == {who.account_id}
    assert set(frame["region"]) == {who.region}
    assert set(frame["observed_at"]) == {NOW}
    assert frame["oldest_age_s"].isna().all()
    rows = frame.set_index("queue")
    dlqs = dead_letter_queues(who)
    assert set(rows.index) == {q.name for q in who.queues} | dlqs
    for queue in who.queues:
        row = rows.loc[queue.name]
        assert (row["dlq"], row["max_receive_count"]) == (queue.dlq, queue.max_receive_count)
        assert (row["retention_s"], row["visibility_timeout_s"]) == (
            queue.retention_s,
            queue.visibility_timeout_s,
        )
        assert not row["is_dlq"]
        assert row["arn"] == f"arn:aws:sqs:{who.region}:{who.account_id}:{queue.name}"
    expected_sources: dict[str, list[str]] = {name: [] for name in dlqs}
    for queue in who.queues:
        expected_sources[queue.dlq].append(queue.name)
    for name, extra in other_sources(who).items():
        expected_sources[name] += extra
    for name, sources in expected_sources.items():
        assert rows.loc[name, "sources"] == sorted(sources), name
        assert bool(rows.loc[name, "is_dlq"]) is True, name


def test_named_queues_get_the_same_links_from_the_api(world) -> None:
    sqs = world.client(PROD, "sqs")
    everything = collect_queues(sqs, now=NOW).set_index("queue")
    names = ["payments-dlq", "refunds-dlq", "shipping", "email-failures"]
    with sqs_operations(sqs) as seen:
        named = collect_queues(sqs, now=NOW, queue_names=names).set_index("queue")
    assert "ListDeadLetterSourceQueues" in seen and "ListQueues" not in seen
    assert sorted(named.index) == sorted(names)
    assert named.equals(everything.loc[named.index])


def test_a_named_queue_that_does_not_exist_is_reported(world) -> None:
    with pytest.raises(SourceError) as caught:
        collect_queues(world.client(PROD, "sqs"), now=NOW, queue_names=["payments", "nope"])
    assert caught.value.kind == "invalid"
    assert str(caught.value).startswith("queue(s) `nope` not found in this account (us-east-1)")


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_message_bodies_are_never_read(world, who) -> None:
    sqs = world.client(who, "sqs")
    with sqs_operations(sqs) as seen:
        first = collect_queues(sqs, now=NOW, other_sources=other_sources(who))
        collect_queues(sqs, now=NOW, queue_names=sorted(dead_letter_queues(who)))
        again = collect_queues(sqs, now=NOW, other_sources=other_sources(who))
    assert set(seen) <= READ_ONLY, set(seen) - READ_ONLY
    assert "ReceiveMessage" not in seen
    # Nothing was received, so nothing went in flight and the depths did not move.
    assert first["visible"].tolist() == again["visible"].tolist()
    assert (again["in_flight"] == 0).all()
