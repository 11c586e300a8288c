"""The simulation engine: conservation laws, chunk invariance, determinism, AWS's quirks."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest

from sandbox.world.model import BreakerState, SimulationResult
from sandbox.world.scenarios import (
    SCENARIOS,
    DeliveryFailure,
    Plan,
    PoisonMessages,
    Redrive,
    StaleHeartbeat,
)
from sandbox.world.simulation import Simulator, simulate
from sandbox.world.topology import account
from tests.unit.world_runs import NOW, SEED, run

pytestmark = pytest.mark.unit

RUNS = [
    pytest.param("prod", "demo", 7, id="prod-demo-week"),
    pytest.param("staging", "demo", 7, id="staging-demo-week"),
    pytest.param("prod", "throttling", 2, id="prod-throttling"),
    pytest.param("prod", "poison-batch", 2, id="prod-poison-batch"),
    pytest.param("prod", "flapping-breaker", 2, id="prod-flapping-breaker"),
]


# --- conservation laws ------------------------------------------------------------------------


@pytest.mark.parametrize(("acct", "scenario", "days"), RUNS)
def test_every_attempt_has_exactly_one_outcome(acct, scenario, days):
    result = run(acct, scenario, days)
    for key, e in result.edges.items():
        assert np.array_equal(e.ok + e.errors + e.throttles + e.faults, e.attempts), key
        assert np.array_equal(e.attempts - (e.requests - e.short_circuited), e.retries), key
        assert (e.short_circuited <= e.failed_requests).all(), key
        assert (e.failed_requests <= e.requests).all(), key
        assert (e.retries >= 0).all(), key
        probabilities = e.p_error + e.p_throttle + e.p_fault
        assert ((probabilities >= 0) & (probabilities <= 1)).all(), key


@pytest.mark.parametrize(("acct", "scenario", "days"), RUNS)
def test_queue_flows_balance_every_minute(acct, scenario, days):
    result = run(acct, scenario, days)
    for name, q in result.queues.items():
        inflow = np.cumsum(q.sent + q.moved_in)
        outflow = np.cumsum(q.deleted + q.moved_out + q.expired)
        assert np.array_equal(inflow - outflow, q.visible + q.not_visible), name
        if q.is_dlq:
            assert not q.received.any() and not q.deleted.any(), name  # nobody consumes DLQs
        else:
            assert (q.received >= q.deleted).all(), name


@pytest.mark.parametrize(("acct", "scenario", "days"), RUNS)
def test_dlq_depth_is_the_ledger(acct, scenario, days):
    result = run(acct, scenario, days)
    ledger = Counter(m.dlq for m in result.dlq_messages)
    for name, q in result.queues.items():
        if q.is_dlq:
            assert q.visible[-1] == ledger.get(name, 0), name
    assert len({m.message_id for m in result.dlq_messages}) == len(result.dlq_messages)
    sources = {q.name: q for q in result.account.queues}
    for m in result.dlq_messages:
        assert m.first_sent_at <= m.arrived_at <= result.timestamps[-1] + 60
        if m.source in sources:  # moved by a redrive policy, after max receives
            assert m.receive_count == sources[m.source].max_receive_count
            assert sources[m.source].dlq == m.dlq
        else:
            assert m.source.split(":")[0] in ("events", "lambda")
            assert m.first_sent_at == m.arrived_at


def test_redrive_moves_are_not_counted_as_sends():
    result = run("prod", "demo", 7)
    payments_dlq = result.queues["payments-dlq"]
    assert payments_dlq.moved_in.sum() > 0
    assert payments_dlq.sent.sum() == 0
    assert result.queues["payments"].moved_out.sum() == payments_dlq.moved_in.sum()
    # an on-failure destination receives real sends
    assert result.queues["email-failures"].sent.sum() > 0


def test_lambda_invocations_include_every_retry():
    result = run("prod", "demo", 7)
    # SQS: every receive (redeliveries too) is processed by an invocation of the consumer
    payments = result.queues["payments"]
    processor = result.functions["payment-processor"]
    edge = result.edges["payment-processor", "payment-api"]
    assert payments.received.sum() > payments.sent.sum()  # redeliveries
    assert np.array_equal(edge.requests, payments.received)  # one call per record
    assert (processor.invocations >= np.ceil(payments.received / 10)).all()
    assert ((processor.invocations > 0) == (payments.received > 0)).all()
    # async: Lambda's retries are invocations beyond the events received
    sender = result.functions["email-sender"]
    assert sender.invocations.sum() > sender.async_events_received.sum()
    # Step Functions: a task with Retry is invoked at least once per execution started
    assert (
        result.functions["fraud-check"].invocations
        >= result.state_machines["order-fulfilment"].started
    ).all()


def test_async_events_that_exhaust_retries_are_dropped_and_sent_on():
    result = run("prod", "flapping-breaker", 2)
    sender = result.functions["email-sender"]
    failures = result.queues["email-failures"]
    assert sender.async_events_dropped.sum() > 0
    assert np.array_equal(sender.async_events_dropped, failures.sent)
    retried = sender.async_event_age_ms > 60_000
    assert retried.any()  # retries are a minute or more old


def test_step_functions_account_for_every_execution():
    result = run("prod", "demo", 7)
    machine = result.state_machines["order-fulfilment"]
    assert np.array_equal(machine.succeeded + machine.failed, machine.started)
    allocator = result.functions["stock-allocator"]
    # AllocateStock has no Retry: each failed invocation fails its execution
    assert machine.failed.sum() == allocator.errors.sum()


# --- determinism and chunks -------------------------------------------------------------------


def _arrays(result: SimulationResult) -> dict[str, np.ndarray]:
    out = {"timestamps": result.timestamps, "orders": result.orders}
    groups = {
        "function": result.functions,
        "edge": result.edges,
        "queue": result.queues,
        "rule": result.rules,
        "machine": result.state_machines,
        "table": result.tables,
        "breaker": result.breakers,
    }
    for group, items in groups.items():
        for key, item in items.items():
            for f in dataclasses.fields(item):
                value = getattr(item, f.name)
                if isinstance(value, np.ndarray):
                    out[f"{group}:{key}:{f.name}"] = value
    return out


def _concat(chunks: list[SimulationResult]) -> dict[str, np.ndarray]:
    parts = [_arrays(c) for c in chunks]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@pytest.mark.parametrize(
    "cuts",
    [
        pytest.param([timedelta(hours=9, minutes=17)], id="two-chunks"),
        pytest.param(
            [timedelta(minutes=1), timedelta(hours=20), timedelta(hours=20, minutes=1)],
            id="one-minute-chunks-and-a-long-one",
        ),
        pytest.param([timedelta(seconds=90), timedelta(seconds=100)], id="sub-minute-cut"),
    ],
)
def test_chunks_give_the_same_world_as_one_run(cuts):
    start, end = NOW - timedelta(days=1), NOW + timedelta(minutes=40)  # includes the live outage
    whole = simulate(account("prod"), "demo", SEED, start, end, now=NOW)
    sim = Simulator(account("prod"), "demo", SEED, now=NOW, start=start)
    chunks = [sim.advance(start + cut) for cut in cuts] + [sim.advance(end)]
    joined, expected = _concat(chunks), _arrays(whole)
    assert joined.keys() == expected.keys()
    for key, values in expected.items():
        assert np.array_equal(joined[key], values, equal_nan=True), key
    assert chunks[-1].dlq_messages == whole.dlq_messages
    assert [t for c in chunks for b in c.breakers.values() for t in b.transitions] == [
        t for b in whole.breakers.values() for t in b.transitions
    ]
    assert sim.incidents() == whole.incidents


def test_same_seed_same_world_other_seed_other_world():
    start, end = NOW - timedelta(hours=6), NOW
    a = simulate(account("prod"), "quiet", 1, start, end, now=NOW)
    b = simulate(account("prod"), "quiet", 1, start, end, now=NOW)
    c = simulate(account("prod"), "quiet", 2, start, end, now=NOW)
    for key, values in _arrays(a).items():
        assert np.array_equal(values, _arrays(b)[key], equal_nan=True), key
    assert not np.array_equal(a.orders, c.orders)
    assert a.orders.sum() == pytest.approx(c.orders.sum(), rel=0.1)  # same traffic shape


def test_accounts_draw_from_different_streams():
    start, end = NOW - timedelta(hours=1), NOW
    prod = simulate(account("prod"), "quiet", 1, start, end, now=NOW)
    # staging sees about a twelfth of prod's traffic
    staging = simulate(account("staging"), "quiet", 1, start, end, now=NOW)
    assert 5 < prod.orders.sum() / staging.orders.sum() < 30


def test_advance_covers_whole_minutes_only():
    sim = Simulator(account("staging"), "quiet", 1, now=NOW)
    assert sim.cursor == NOW.replace(second=0)
    empty = sim.advance(NOW)  # no whole minute yet
    assert len(empty.timestamps) == 0 and empty.incidents == []
    chunk = sim.advance(NOW + timedelta(minutes=2, seconds=59))
    first = int(NOW.timestamp()) // 60 * 60
    assert chunk.timestamps.tolist() == [first, first + 60, first + 120]  # ends at 12:03:29
    assert sim.advance(NOW).timestamps.size == 0  # going back simulates nothing


# --- breakers and heartbeats ------------------------------------------------------------------


def test_breaker_items_heartbeat_every_minute():
    result = run("prod", "quiet", 7)
    for name, timeline in result.breakers.items():
        assert (timeline.state == BreakerState.CLOSED).all(), name
        assert timeline.transitions == [], name
        if name in result.account.breaker_table.no_timestamp:
            assert np.isnan(timeline.updated_at).all(), name
            continue
        assert np.array_equal(
            np.diff(timeline.updated_at), np.full(len(result.timestamps) - 1, 60.0)
        )
        assert (timeline.updated_at >= result.timestamps).all()
        assert (timeline.updated_at < result.timestamps + 60).all()


def test_last_transition_follows_the_transitions():
    result = run("prod", "payment-outage", 2)
    timeline = result.breakers["payment-api"]
    assert timeline.transitions
    assert timeline.last_transition is not None
    first = timeline.transitions[0]
    before = result.timestamps + 60 < first.ts
    assert np.isnan(timeline.last_transition[before]).all()
    assert timeline.last_transition[-1] == timeline.transitions[-1].ts
    for t in timeline.transitions:
        minute = int((t.ts - 60 - result.timestamps[0]) // 60)
        assert timeline.state[minute] == t.to_state
        assert timeline.last_transition[minute] == t.ts


# --- injected plans: redrive, expiry, EventBridge delivery failures ---------------------------


def _custom(acct_name: str, plan: Plan, hours: int = 6, **changes) -> SimulationResult:
    acct = account(acct_name)
    if changes:
        acct = dataclasses.replace(acct, **changes)
    sim = Simulator(acct, "quiet", SEED, now=NOW, start=NOW - timedelta(hours=hours), plan=plan)
    return sim.advance(NOW)


def test_redrive_returns_dlq_messages_to_their_source():
    t0 = NOW.timestamp() - 5 * 3600
    plan = Plan(
        "quiet",
        (
            PoisonMessages("poison", "payments", t0, t0 + 300, 20),
            Redrive("redrive", "payments-dlq", t0 + 3600, t0 + 3660),
        ),
    )
    result = _custom("prod", plan)
    dlq, source = result.queues["payments-dlq"], result.queues["payments"]
    at = int((t0 + 3600 - result.timestamps[0]) // 60)
    assert dlq.moved_in.sum() == 40  # the poison, twice: redriven poison fails again
    assert dlq.moved_out[at] == 20 and dlq.moved_out.sum() == 20
    assert source.moved_in[at] == 20 and source.moved_in.sum() == 20
    assert dlq.visible[at] == 0 and dlq.visible[-1] == 20
    assert source.sent[at] < 200  # a redrive is not a send


def test_dlq_messages_expire_from_their_original_enqueue():
    t0 = NOW.timestamp() - 5 * 3600
    plan = Plan("quiet", (PoisonMessages("poison", "payments", t0, t0 + 60, 5),))
    queues = tuple(
        dataclasses.replace(q, dlq_retention_s=3600) if q.name == "payments" else q
        for q in account("prod").queues
    )
    result = _custom("prod", plan, queues=queues)
    dlq = result.queues["payments-dlq"]
    assert dlq.moved_in.sum() == 5 and dlq.expired.sum() == 5
    arrived = int(np.flatnonzero(dlq.moved_in)[0])
    expired = int(np.flatnonzero(dlq.expired)[0])
    assert expired - arrived < 60  # counted from the first send, not from the move
    assert result.timestamps[expired] - t0 == pytest.approx(3600, abs=60)
    assert dlq.visible[-1] == 0 and not [m for m in result.dlq_messages if m.dlq == "payments-dlq"]


def test_eventbridge_retries_then_sends_to_the_target_dlq():
    t0 = NOW.timestamp() - 5 * 3600
    plan = Plan("quiet", (DeliveryFailure("delivery", "order-confirmed", t0, t0 + 1800, 1.0),))
    result = _custom("prod", plan)
    rule = result.rules["order-confirmed"]
    dlq = result.queues["email-events-dlq"]
    window = slice(int((t0 - result.timestamps[0]) // 60), None)
    assert rule.retry_invocation_attempts[window].sum() > 0
    assert rule.failed_invocations.sum() == rule.invocations_sent_to_dlq.sum() > 0
    assert np.array_equal(rule.invocations_sent_to_dlq, dlq.sent)  # a real send
    assert dlq.moved_in.sum() == 0
    # 4 retries of an event that never gets through: 1 + 2 + 4 + 8 minutes
    first_failure = int(np.flatnonzero(rule.failed_invocations)[0])
    assert result.timestamps[first_failure] - t0 == pytest.approx(15 * 60, abs=60)
    delivered = rule.invocations - rule.failed_invocations
    assert delivered.sum() == result.functions["email-sender"].async_events_received.sum()
    assert any(
        i.kind == "retry-storm" and i.resource == "events:order-confirmed" for i in result.incidents
    )


def test_a_frozen_heartbeat_stops_updated_at():
    t0 = NOW.timestamp() // 60 * 60 - 3 * 3600
    plan = Plan("quiet", (StaleHeartbeat("stale", "inventory-db", t0, t0 + 3600),))
    result = _custom("prod", plan)
    updated = result.breakers["inventory-db"].updated_at
    inside = (result.timestamps >= t0) & (result.timestamps < t0 + 3600)
    assert len(set(updated[inside])) == 1 and updated[inside][0] < t0
    assert (np.diff(updated[~inside & (result.timestamps > t0)]) == 60).all()
    assert (np.diff(result.breakers["payment-api"].updated_at) == 60).all()


# --- inputs -----------------------------------------------------------------------------------


def test_unknown_scenario_names_it_and_the_valid_ones():
    with pytest.raises(ValueError) as info:
        simulate(account("prod"), "meltdown", 1, NOW - timedelta(hours=1), NOW, now=NOW)
    message = str(info.value)
    assert message == ("unknown scenario 'meltdown'; valid scenarios: " + ", ".join(SCENARIOS))
    assert "\n" not in message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"now": datetime(2024, 6, 10, 12)},
            "now must be timezone-aware (UTC), got naive 2024-06-10T12:00:00",
            id="naive-now",
        ),
        pytest.param(
            {"now": NOW, "start": datetime(2024, 6, 9)},
            "start must be timezone-aware (UTC), got naive 2024-06-09T00:00:00",
            id="naive-start",
        ),
    ],
)
def test_times_must_be_timezone_aware(kwargs, message):
    with pytest.raises(ValueError) as info:
        Simulator(account("prod"), "quiet", 1, **kwargs)
    assert str(info.value) == message


def test_a_week_of_prod_is_simulated_in_seconds():
    """Not a timing gate (see benchmarks/world_simulation.py): a sanity bound for slow CI."""
    result = run("prod", "demo", 7)
    assert len(result.timestamps) == 7 * 24 * 60
    assert math.isclose(result.orders.sum() / len(result.orders), 72, rel_tol=0.15)
