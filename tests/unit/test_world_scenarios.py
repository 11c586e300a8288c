"""Scenarios: each ground-truth window shows its signature in the simulated data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from sandbox.world.model import BreakerState
from sandbox.world.scenarios import SCENARIOS, Outage, build_plan, check_scenario
from sandbox.world.simulation import Simulator
from sandbox.world.topology import account
from tests.unit.world_runs import NOW, SEED, incident, minutes_of, run

pytestmark = pytest.mark.unit

DAY = 86_400


@pytest.mark.parametrize("acct", ["prod", "staging"])
def test_quiet_week_has_no_incidents_and_no_open_breaker(acct):
    result = run(acct, "quiet", 7)
    assert result.incidents == []
    assert result.dlq_messages == []
    for name, timeline in result.breakers.items():
        assert timeline.transitions == [], name
        assert (timeline.state == BreakerState.CLOSED).all(), name
    for key, edge in result.edges.items():
        assert edge.short_circuited.sum() == 0, key


@pytest.mark.parametrize(
    ("acct", "scenario", "days"),
    [
        pytest.param(a, s, 7 if s == "demo" else 2, id=f"{a}-{s}")
        for a in ("prod", "staging")
        for s in SCENARIOS
        if s != "quiet"
    ],
)
def test_incidents_are_well_formed_and_inside_the_run(acct, scenario, days):
    result = run(acct, scenario, days)
    assert result.incidents
    first, end = result.timestamps[0], result.timestamps[-1] + 60
    for inc in result.incidents:
        assert inc.account_id == result.account.account_id
        assert inc.scenario == scenario
        assert first <= inc.start < inc.end <= end, inc
        assert inc.start % 60 == 0 and inc.end % 60 == 0, inc
        assert inc.resource.split(":")[0] in ("lambda", "sqs", "breaker", "states", "events")
        assert inc.detail.split(":")[0] in SCENARIOS
        assert not inc.ongoing  # the backfill runs 90 min past every incident's tail


def test_payment_outage_signature():
    result = run("prod", "payment-outage")
    edge = result.edges["payment-processor", "payment-api"]
    breaker = result.breakers["payment-api"]
    dlq = result.queues["payments-dlq"]

    opened = incident(result, "breaker-open", "breaker:payment-api")
    window = minutes_of(result, opened.start, opened.end)
    before = minutes_of(result, opened.start - DAY, opened.start - 3600)
    assert (breaker.state[window][:-1] != BreakerState.CLOSED).all()  # open until it closes
    assert (breaker.state[before] == BreakerState.CLOSED).all()

    storm = incident(result, "retry-storm", "lambda:payment-processor")
    assert storm.downstream == "payment-api"
    baseline = edge.retries[minutes_of(result, storm.start - DAY, storm.start - 3600)].mean()
    assert edge.retries[minutes_of(result, storm.start, storm.end)].max() > 50 * max(baseline, 0.1)

    growth = incident(result, "dlq-growth", "sqs:payments-dlq")
    inside = minutes_of(result, growth.start, growth.end)
    assert dlq.visible[inside.start - 1] == 0 and dlq.visible[inside.stop - 1] > 100
    assert dlq.visible[-1] == dlq.visible[inside.stop - 1]  # and stays there, not redriven

    # it recovers: an hour after the breaker closed, calls succeed again
    after = minutes_of(result, opened.end + 3600, opened.end + 2 * 3600)
    assert edge.short_circuited[after].sum() == 0 and edge.retries[after].sum() < 10
    # the refund handler shares the breaker and the storm
    assert incident(result, "function-errors", "lambda:refund-handler").downstream == "payment-api"


def test_throttling_signature():
    result = run("prod", "throttling")
    edge = result.edges["shipping-scheduler", "shipping-partner"]
    storm = incident(result, "retry-storm", "lambda:shipping-scheduler")
    inside = minutes_of(result, storm.start, storm.end)
    day_before = minutes_of(result, storm.start - DAY, storm.start - 3600)
    assert edge.throttles[inside].sum() > 1_000
    assert edge.throttles[day_before].sum() == 0
    hammered = edge.attempts[inside] > 0
    amplification = (
        edge.attempts[inside][hammered]
        / (edge.requests[inside] - edge.short_circuited[inside])[hammered]
    )
    assert np.median(amplification) > 3  # six attempts, no backoff
    # the guarded caller with backoff elsewhere is untouched
    assert result.edges["payment-processor", "payment-api"].throttles.sum() == 0
    assert incident(result, "dlq-growth", "sqs:shipping-dlq")


def test_poison_batch_signature():
    result = run("prod", "poison-batch")
    growth = incident(result, "dlq-growth", "sqs:inventory-dlq")
    dlq = result.queues["inventory-dlq"]
    inside = minutes_of(result, growth.start, growth.end)
    assert dlq.moved_in[inside].sum() == dlq.moved_in.sum() >= 40
    poison = [m for m in result.dlq_messages if m.dlq == "inventory-dlq" and m.poison]
    assert len(poison) == 40
    assert all(m.receive_count == 3 and m.source == "inventory" for m in poison)
    # the consumer has no partial batch response: its errors rise while the poison cycles
    errors = incident(result, "function-errors", "lambda:inventory-reserver")
    consumer = result.functions["inventory-reserver"]
    assert consumer.errors[minutes_of(result, errors.start, errors.end)].sum() >= 40


def test_stale_breaker_signature():
    result = run("prod", "stale-breaker")
    stale = incident(result, "breaker-stale", "breaker:email-provider")
    updated = result.breakers["email-provider"].updated_at
    inside = minutes_of(result, stale.start, stale.end)
    assert len(set(updated[inside].tolist())) == 1  # frozen
    assert updated[inside][0] < stale.start
    before = minutes_of(result, stale.start - 3600, stale.start)
    after = minutes_of(result, stale.end, stale.end + 3600)
    assert (np.diff(updated[before]) == 60).all() and (np.diff(updated[after]) == 60).all()
    assert (np.diff(result.breakers["payment-api"].updated_at) == 60).all()


def test_flapping_breaker_signature():
    result = run("prod", "flapping-breaker")
    flapping = incident(result, "breaker-flapping", "breaker:email-provider")
    opens = [
        t
        for t in result.breakers["email-provider"].transitions
        if t.to_state is BreakerState.OPEN and flapping.start <= t.ts <= flapping.end
    ]
    closes = [
        t
        for t in result.breakers["email-provider"].transitions
        if t.to_state is BreakerState.CLOSED and flapping.start <= t.ts <= flapping.end
    ]
    assert len(opens) >= 3 and len(closes) >= 3
    assert incident(result, "dlq-growth", "sqs:email-failures").downstream == "email-provider"


def test_demo_plays_a_mix_across_the_week():
    result = run("prod", "demo", 7)
    kinds = {i.kind for i in result.incidents}
    assert {
        "retry-storm",
        "breaker-open",
        "breaker-flapping",
        "breaker-stale",
        "dlq-growth",
        "function-errors",
    } <= kinds
    components = {i.detail.split(":")[0] for i in result.incidents}
    assert components == set(SCENARIOS) - {"demo", "quiet"}
    starts = sorted({int(i.start // DAY) for i in result.incidents})
    assert len(starts) >= 5  # spread over the week


def test_demo_starts_a_live_incident_minutes_after_now():
    plan = build_plan("demo", account("prod"), SEED, NOW.timestamp())
    anchor = NOW.timestamp() // 60 * 60
    live = [i for i in plan.injections if i.start >= anchor]
    assert len(live) == 1 and isinstance(live[0], Outage)
    assert 120 <= live[0].start - anchor <= 180
    # and a live run sees the storm begin within a few minutes
    sim = Simulator(account("prod"), "demo", SEED, now=NOW, start=NOW - timedelta(hours=2))
    sim.advance(NOW)
    retries = [
        int(
            sim.advance(NOW + timedelta(minutes=k))
            .edges["payment-processor", "payment-api"]
            .retries.sum()
        )
        for k in range(1, 9)
    ]
    assert max(retries) > 50
    ongoing = [i for i in sim.incidents() if i.ongoing]
    assert any(i.kind == "retry-storm" for i in ongoing)


def test_staging_gets_a_milder_mix():
    prod, staging = run("prod", "demo", 7), run("staging", "demo", 7)
    assert 0 < len(staging.incidents) < len(prod.incidents)
    assert len(staging.dlq_messages) < len(prod.dlq_messages) / 10
    plan = build_plan("demo", account("staging"), SEED, NOW.timestamp())
    assert all(i.end <= NOW.timestamp() for i in plan.injections)  # no live incident


@pytest.mark.parametrize("name", ["", "Demo", "payment_outage", "nope"])
def test_check_scenario_rejects_unknown_names(name):
    with pytest.raises(ValueError) as info:
        check_scenario(name)
    assert str(info.value) == (
        f"unknown scenario {name!r}; valid scenarios: demo, quiet, payment-outage, throttling, "
        "poison-batch, stale-breaker, flapping-breaker"
    )


def test_plans_are_seeded_and_anchored_to_now():
    acct = account("prod")
    a = build_plan("demo", acct, 1, NOW.timestamp())
    assert a == build_plan("demo", acct, 1, NOW.timestamp())
    assert a != build_plan("demo", acct, 2, NOW.timestamp())
    later = build_plan("demo", acct, 1, NOW.timestamp() + DAY)
    assert [i.start + DAY for i in a.injections] == [i.start for i in later.injections]
