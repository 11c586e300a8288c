"""Sampled X-Ray traces of a simulation run (sandbox/world/traces.py).

Runs are built by hand against the contract in sandbox/world/model.py, so these tests need no
simulation engine: each test sets invocations, outcome probabilities and breaker states per
minute and checks what the real aws-xray-sdk recorder made of them, directly and through the
sandbox's X-Ray backend.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from aws_xray_sdk.core.models.segment import Segment

from sandbox.endpoint.context import RequestContext
from sandbox.endpoint.xray.backend import XRayBackend
from sandbox.world import traces
from sandbox.world.model import (
    BreakerState,
    BreakerTimeline,
    EdgeMinutes,
    FunctionMinutes,
    Incident,
    SimulationResult,
)
from sandbox.world.topology import account

pytestmark = pytest.mark.unit

PROD = account("prod")
T0 = 1_800_000_000  # a minute boundary (2027-01-15T08:00:00Z)


def build(
    minutes: int,
    invocations: dict[str, Any],
    *,
    edges: dict[tuple[str, str], dict[str, Any]] | None = None,
    breakers: dict[str, Any] | None = None,
    async_age_ms: float = 40.0,
    incidents: tuple[Incident, ...] = (),
) -> SimulationResult:
    """A prod run of ``minutes`` minutes: per-function invocations (scalar or per minute),
    per-edge overrides of the EdgeMinutes arrays, per-breaker states."""
    n = minutes
    timestamps = T0 + 60 * np.arange(n, dtype=np.int64)

    def series(value: Any, dtype: Any = float) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

    def zeros() -> np.ndarray:
        return np.zeros(n)

    functions = {}
    for fn in PROD.functions:
        counts = series(invocations.get(fn.name, 0), np.int64)
        functions[fn.name] = FunctionMinutes(
            fn.name,
            counts,
            zeros(),
            zeros(),
            series(fn.duration_ms * 2),
            series(fn.duration_ms * 6),
            zeros(),
            zeros(),
            series(async_age_ms),
            zeros(),
            zeros(),
            zeros(),
        )
    edge_minutes = {}
    for fn in PROD.functions:
        for call in fn.calls:
            dep = PROD.dependency(call.dependency)
            requests = functions[fn.name].invocations * call.per_invocation
            fields: dict[str, Any] = {
                "requests": requests,
                "short_circuited": zeros(),
                "latency_ms": series(dep.latency_ms),
                "p_error": zeros(),
                "p_throttle": zeros(),
                "p_fault": zeros(),
            }
            for key, value in ((edges or {}).get((fn.name, dep.name)) or {}).items():
                fields[key] = series(value)
            edge_minutes[(fn.name, dep.name)] = EdgeMinutes(
                fn.name,
                dep.name,
                call.breaker,
                fields["requests"],
                fields["short_circuited"],
                requests,
                zeros(),
                requests,
                zeros(),
                zeros(),
                zeros(),
                zeros(),
                fields["latency_ms"],
                fields["p_error"],
                fields["p_throttle"],
                fields["p_fault"],
            )
    timelines = {
        name: BreakerTimeline(
            name,
            series((breakers or {}).get(name, BreakerState.CLOSED), np.int8),
            zeros(),
            zeros(),
            timestamps.astype(float),
        )
        for name in PROD.breaker_table.breakers
    }
    return SimulationResult(
        PROD,
        "test",
        1,
        timestamps,
        series(60.0),
        functions,
        edge_minutes,
        {},
        {},
        {},
        {},
        timelines,
        [],
        list(incidents),
    )


def documents(result: SimulationResult, seed: int = 7, **options: Any) -> list[dict[str, Any]]:
    options.setdefault("trace_hours", None)
    return [json.loads(doc) for doc in traces.trace_documents(result, seed=seed, **options)]


def walk(entity: dict[str, Any]) -> list[dict[str, Any]]:
    found = [entity]
    for child in entity.get("subsegments", []):
        found.extend(walk(child))
    return found


def by_origin(docs: list[dict[str, Any]], origin: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d.get("origin") == origin and name in (None, d["name"])]


def calls(docs: list[dict[str, Any]], function: str, name: str) -> list[dict[str, Any]]:
    """Subsegments called ``name`` in ``function``'s function segments."""
    found = []
    for segment in by_origin(docs, "AWS::Lambda::Function", function):
        found.extend(sub for sub in walk(segment)[1:] if sub["name"] == name)
    return found


def ctx(now: float = T0 + 86_400) -> RequestContext:
    return RequestContext(PROD.account_id, PROD.region, datetime.fromtimestamp(now, tz=UTC))


def load(result: SimulationResult, seed: int = 7) -> XRayBackend:
    backend = XRayBackend(PROD.account_id, PROD.region)
    raw = list(traces.trace_documents(result, seed=seed, trace_hours=None))
    for start in range(0, len(raw), 500):
        answer = backend.put_trace_segments(
            {"TraceSegmentDocuments": raw[start : start + 500]}, ctx()
        )
        assert answer["UnprocessedTraceSegments"] == []
    return backend


def edge_stats(backend: XRayBackend, source: str, target: str, start: float, end: float) -> dict:
    """SummaryStatistics of the service-graph edge from a function to the node ``target``."""
    graph = backend.get_service_graph(
        {
            "StartTime": datetime.fromtimestamp(start, tz=UTC),
            "EndTime": datetime.fromtimestamp(end, tz=UTC),
        },
        ctx(),
    )
    services = graph["Services"]
    refs = {service["ReferenceId"]: service for service in services}
    (caller,) = [
        s for s in services if s["Name"] == source and s.get("Type") == "AWS::Lambda::Function"
    ]
    (edge,) = [e for e in caller["Edges"] if refs[e["ReferenceId"]]["Name"] == target]
    return edge["SummaryStatistics"]


# --- sampling -------------------------------------------------------------------------------


def test_sampling_takes_the_first_request_of_each_second_then_five_percent() -> None:
    rng = random.Random(1)
    for invocations in (1, 7, 45):
        for _ in range(50):
            offsets = traces.sample_offsets(rng, invocations)
            seconds = Counter(int(offset) for offset in offsets)
            assert 1 <= len(seconds) <= min(invocations, 60)
            assert all(0 <= offset < 60 for offset in offsets)
            # At most 1 + 5 % of the rest per second, on average.
            assert len(offsets) <= invocations

    # 600 requests a minute (10 a second): 60 reservoir samples + 5 % of 540 = 87 on average.
    totals = [len(traces.sample_offsets(rng, 600)) for _ in range(400)]
    assert all(total >= 60 for total in totals)
    assert abs(np.mean(totals) - 87) < 1.5
    assert traces.sample_offsets(rng, 0) == []


def test_each_sampled_invocation_is_one_trace_of_a_service_and_a_function_segment() -> None:
    result = build(3, {"payment-processor": 600, "fraud-check": 20})
    docs = documents(result)
    services = by_origin(docs, "AWS::Lambda")
    functions = {d["parent_id"]: d for d in by_origin(docs, "AWS::Lambda::Function")}
    assert len(docs) == 2 * len(services)
    per_function = Counter(s["name"] for s in services)
    # fraud-check: 20 requests a minute, each second's first is sampled (at most 20 a minute).
    assert 3 * 15 <= per_function["fraud-check"] <= 3 * 20
    # payment-processor: 10 a second, about 87 sampled a minute, never fewer than 60.
    assert 3 * 60 <= per_function["payment-processor"] <= 3 * 110
    for service in services:
        function = functions[service["id"]]
        assert function["trace_id"] == service["trace_id"]
        assert function["name"] == service["name"]
        assert "parent_id" not in service
        assert service["http"]["response"]["status"] == 200
        assert service["resource_arn"].endswith(f":function:{service['name']}")
        assert function["aws"]["account_id"] == PROD.account_id
        assert service["start_time"] <= function["start_time"] < function["end_time"]
        assert function["end_time"] <= service["end_time"]
        assert [s["name"] for s in function["subsegments"]][-1] == "Invocation"
        # The trace id encodes the request time; requests lie inside their minute.
        assert int(service["trace_id"][2:10], 16) == int(service["start_time"])
        assert T0 <= service["start_time"] < T0 + 180


def test_documents_are_what_the_sdk_recorder_serialises(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []
    original = traces.CapturingEmitter.send_entity

    def spy(self: traces.CapturingEmitter, entity: Any) -> None:
        sent.append(entity)
        original(self, entity)

    monkeypatch.setattr(traces.CapturingEmitter, "send_entity", spy)
    result = build(1, {"orders-api": 20, "payment-processor": 20})
    raw = list(traces.trace_documents(result, seed=1, trace_hours=None))
    assert raw and len(sent) == len(raw)
    assert all(isinstance(entity, Segment) for entity in sent)
    assert raw == [entity.serialize() for entity in sent]


def test_untraced_functions_emit_nothing() -> None:
    untraced = [fn.name for fn in PROD.functions if not fn.tracing]
    assert untraced  # invoice-generator, breaker-health-check
    result = build(2, dict.fromkeys(untraced, 300))
    assert documents(result) == []
    result = build(2, {**dict.fromkeys(untraced, 300), "fraud-check": 5})
    assert {d["name"] for d in documents(result)} == {"fraud-check"}


def test_async_functions_show_lambda_dwell_time_and_attempt() -> None:
    result = build(1, {"email-sender": 30}, async_age_ms=2_000)
    docs = documents(result)
    for service in by_origin(docs, "AWS::Lambda"):
        names = [sub["name"] for sub in service["subsegments"]]
        assert names == ["Dwell Time", "Attempt #1"]
        assert service["http"]["response"]["status"] == 202
        dwell, attempt = service["subsegments"]
        assert dwell["start_time"] == service["start_time"]
        assert dwell["end_time"] == attempt["start_time"]


# --- the documents in the backend -------------------------------------------------------------


def test_documents_load_into_the_xray_backend_with_nothing_unprocessed() -> None:
    result = build(
        2,
        {fn.name: 40 for fn in PROD.functions},
        edges={("payment-processor", "payment-api"): {"p_fault": 0.3, "p_throttle": 0.2}},
    )
    raw = list(traces.trace_documents(result, seed=3, trace_hours=None))
    backend = XRayBackend(PROD.account_id, PROD.region)
    assert backend.add_segment_documents(raw) == len(raw)
    answer = backend.put_trace_segments({"TraceSegmentDocuments": raw[:200]}, ctx())
    assert answer == {"UnprocessedTraceSegments": []}
    summaries = backend.get_trace_summaries(
        {
            # Asynchronous events can arrive before the minute their function runs in.
            "StartTime": datetime.fromtimestamp(T0 - 60, tz=UTC),
            "EndTime": datetime.fromtimestamp(T0 + 120, tz=UTC),
        },
        ctx(),
    )
    assert summaries["TracesProcessedCount"] == len(raw) // 2


def test_emit_traces_writes_into_the_backend_and_counts() -> None:
    result = build(5, {"orders-api": 120, "payment-processor": 60})
    backend = XRayBackend(PROD.account_id, PROD.region)
    stats = traces.emit_traces(result, backend, seed=5, trace_hours=None, workers=1)
    assert stats.documents == stats.segments == 2 * stats.traces
    assert stats.minutes == 5
    assert (stats.start, stats.end) == (T0, T0 + 300)
    assert len(backend.store) == stats.traces
    assert stats.seconds > 0


def test_service_graph_edge_counts_follow_the_injected_probabilities() -> None:
    # payment-processor → payment-api: minute 0 healthy, minute 1 all throttled, minute 2 all
    # faults; orders-api → DynamoDB (inventory): minute 1 all throttled.
    payment = {"p_throttle": [0, 1, 0], "p_fault": [0, 0, 1]}
    inventory = {"p_throttle": [0, 1, 0]}
    result = build(
        3,
        {"payment-processor": 50, "orders-api": 50},
        edges={
            ("payment-processor", "payment-api"): payment,
            ("orders-api", "inventory-db"): inventory,
        },
    )
    backend = load(result)
    docs = documents(result)
    host = PROD.dependency("payment-api").host

    # Minute 0: every attempt ok, one attempt per call.
    healthy = edge_stats(backend, "payment-processor", host, T0, T0 + 60)
    assert healthy["OkCount"] == healthy["TotalCount"] > 0
    # Minute 1: only throttled attempts, three per call (GOOD_RETRY.max_attempts).
    throttled = edge_stats(backend, "payment-processor", host, T0 + 60, T0 + 120)
    assert throttled["ErrorStatistics"]["ThrottleCount"] == throttled["TotalCount"] > 0
    assert throttled["OkCount"] == 0
    assert throttled["FaultStatistics"]["TotalCount"] == 0
    minute_1 = [
        s
        for s in by_origin(docs, "AWS::Lambda", "payment-processor")
        if T0 + 60 <= s["start_time"] < T0 + 120
    ]
    assert throttled["TotalCount"] == 3 * len(minute_1)
    # Minute 2: only faults.
    faulted = edge_stats(backend, "payment-processor", host, T0 + 120, T0 + 180)
    assert faulted["FaultStatistics"]["TotalCount"] == faulted["TotalCount"] > 0
    assert faulted["OkCount"] == faulted["ErrorStatistics"]["TotalCount"] == 0

    # The AWS SDK edge: one subsegment per logical call, throttled in minute 1 only.
    ok = edge_stats(backend, "orders-api", "dynamodb", T0, T0 + 60)
    assert ok["OkCount"] == ok["TotalCount"] > 0
    dynamo = edge_stats(backend, "orders-api", "dynamodb", T0 + 60, T0 + 120)
    assert dynamo["ErrorStatistics"]["ThrottleCount"] == dynamo["TotalCount"] > 0


def test_outcome_frequencies_match_the_minute_probabilities() -> None:
    result = build(
        20,
        {"payment-processor": 120},
        edges={("payment-processor", "payment-api"): {"p_fault": 0.2, "p_throttle": 0.1}},
    )
    attempts = calls(documents(result), "payment-processor", PROD.dependency("payment-api").host)
    assert len(attempts) > 1_000
    faults = sum(a.get("fault", False) for a in attempts) / len(attempts)
    throttles = sum(a.get("throttle", False) for a in attempts) / len(attempts)
    assert faults == pytest.approx(0.2, abs=0.03)
    assert throttles == pytest.approx(0.1, abs=0.025)
    for attempt in attempts:
        status = attempt["http"]["response"]["status"]
        assert attempt["namespace"] == "remote"
        assert attempt["http"]["request"]["url"].startswith("https://api.payments.example.com/")
        assert attempt["http"]["request"]["method"] == "POST"
        assert attempt.get("throttle", False) == (status == 429)
        assert attempt.get("fault", False) == (status >= 500)


# --- retries --------------------------------------------------------------------------------


def test_sdk_subsegments_record_retries_as_attempts_minus_one() -> None:
    result = build(
        4,
        {"orders-api": 60, "inventory-reserver": 60},
        edges={
            ("orders-api", "inventory-db"): {"p_throttle": [0, 1, 0.5, 0]},
            ("inventory-reserver", "inventory-db"): {"p_fault": [0, 0, 0.5, 1]},
        },
    )
    docs = documents(result)
    max_attempts = PROD.function("orders-api").calls[0].retry.max_attempts
    seen = Counter()
    for function in ("orders-api", "inventory-reserver"):
        for sub in calls(docs, function, "dynamodb"):
            minute = int((sub["start_time"] - T0) // 60)
            retries = sub["aws"]["retries"]
            status = sub["http"]["response"]["status"]
            assert sub["namespace"] == "aws"
            assert sub["aws"]["table_name"] == "inventory"
            assert sub["aws"]["operation"] in ("GetItem", "UpdateItem")
            assert 0 <= retries <= max_attempts - 1
            # A call stops at the first success; it gives up after max_attempts failures.
            if status == 200:
                assert "fault" not in sub and "throttle" not in sub
            else:
                assert retries == max_attempts - 1
                assert sub["fault"] is True  # the SDK records the ClientError
                assert sub["cause"]["exceptions"][0]["type"] == "ClientError"
            if function == "orders-api" and minute == 1:
                assert (status, retries, sub["throttle"]) == (429, max_attempts - 1, True)
            if function == "inventory-reserver" and minute == 3:
                assert status >= 500 and retries == max_attempts - 1
            if minute == 0:
                assert (status, retries) == (200, 0)
            seen[(function, minute, retries)] += 1
    # Half-failing minute: some calls retried and then succeeded.
    assert any(retries in (1, 2) for (_, minute, retries) in seen if minute == 2)
    # inventory-reserver makes two calls per invocation.
    reserver = by_origin(docs, "AWS::Lambda::Function", "inventory-reserver")
    healthy = [s for s in reserver if s["start_time"] < T0 + 60]
    assert all(len([c for c in walk(s) if c["name"] == "dynamodb"]) == 2 for s in healthy)


def test_remote_calls_record_one_subsegment_per_attempt_with_the_policy_backoff() -> None:
    result = build(
        2,
        {"payment-processor": 40, "shipping-scheduler": 40},
        edges={
            ("payment-processor", "payment-api"): {"p_fault": 1},
            ("shipping-scheduler", "shipping-partner"): {"p_throttle": 1},
        },
    )
    docs = documents(result)
    good = PROD.function("payment-processor").calls[0].retry
    bad = PROD.function("shipping-scheduler").calls[0].retry
    assert bad.jitter is False and bad.base_ms == 0

    for segment in by_origin(docs, "AWS::Lambda::Function", "payment-processor"):
        attempts = [s for s in segment["subsegments"] if s.get("namespace") == "remote"]
        assert [a["annotations"]["attempt"] for a in attempts] == list(
            range(1, good.max_attempts + 1)
        )
        for n, (before, after) in enumerate(itertools.pairwise(attempts), 1):
            wait = after["start_time"] - before["end_time"]
            assert 0 <= wait <= min(good.cap_ms, good.base_ms * 2 ** (n - 1)) / 1000 + 1e-6
        # The call finally failed, so the invocation failed.
        assert segment["fault"] is True
    for segment in by_origin(docs, "AWS::Lambda::Function", "shipping-scheduler"):
        attempts = [s for s in segment["subsegments"] if s.get("namespace") == "remote"]
        assert len(attempts) == bad.max_attempts
        assert all(a["http"]["response"]["status"] == 429 for a in attempts)
        assert all(a["throttle"] and a["error"] for a in attempts)
        # No backoff: each attempt starts when the previous one ends.
        for before, after in itertools.pairwise(attempts):
            assert after["start_time"] == pytest.approx(before["end_time"], abs=1e-6)


def test_client_errors_are_not_retried() -> None:
    result = build(
        1, {"payment-processor": 40}, edges={("payment-processor", "payment-api"): {"p_error": 1}}
    )
    docs = documents(result)
    for segment in by_origin(docs, "AWS::Lambda::Function", "payment-processor"):
        (attempt,) = [s for s in segment["subsegments"] if s.get("namespace") == "remote"]
        assert 400 <= attempt["http"]["response"]["status"] < 500
        assert attempt["http"]["response"]["status"] != 429
        assert attempt["error"] is True and "fault" not in attempt


# --- breakers -------------------------------------------------------------------------------


def test_an_open_breaker_short_circuits_without_a_downstream_subsegment() -> None:
    result = build(
        3,
        {"payment-processor": 40},
        edges={
            ("payment-processor", "payment-api"): {
                "short_circuited": [0, 40, 0],
                "requests": [40, 40, 40],
            }
        },
        breakers={"payment-api": [BreakerState.CLOSED, BreakerState.OPEN, BreakerState.CLOSED]},
    )
    docs = documents(result)
    host = PROD.dependency("payment-api").host
    states = Counter()
    for segment in by_origin(docs, "AWS::Lambda::Function", "payment-processor"):
        minute = int((segment["start_time"] - T0) // 60)
        names = [s["name"] for s in segment["subsegments"]]
        if minute == 1:
            assert host not in names
            (refused,) = [s for s in segment["subsegments"] if s["name"] == "breaker:payment-api"]
            assert refused["namespace"] == "local"
            assert refused["fault"] is True
            assert refused["annotations"]["breaker_state"] == "OPEN"
            assert refused["cause"]["exceptions"][0]["type"] == "CircuitOpenError"
            assert segment["fault"] is True
        else:
            assert "breaker:payment-api" not in names
            attempt = next(s for s in segment["subsegments"] if s["name"] == host)
            states[(minute, attempt["annotations"]["breaker_state"])] += 1
            assert attempt["annotations"]["account"] == "prod"
    # Calls let through right after an open minute are the half-open probes.
    assert set(states) == {(0, "CLOSED"), (2, "HALF_OPEN")}


# --- producers ------------------------------------------------------------------------------


def test_the_entry_function_sends_its_messages_and_events() -> None:
    result = build(2, {"orders-api": 30})
    docs = documents(result)
    queues = {q.name for q in PROD.queues if q.messages_per_order >= 1}
    for segment in by_origin(docs, "AWS::Lambda::Function", "orders-api"):
        subs = segment["subsegments"]
        sent = [s for s in subs if s["name"] == "sqs"]
        assert {s["aws"]["queue_url"].rsplit("/", 1)[1] for s in sent} >= queues
        assert all(s["aws"]["operation"] == "SendMessage" for s in sent)
        (put,) = [s for s in subs if s["name"] == "events"]
        assert put["aws"]["operation"] == "PutEvents"
        assert put["http"]["response"]["status"] == 200
    # Consumers produce nothing.
    result = build(1, {"payment-processor": 30})
    assert calls(documents(result), "payment-processor", "sqs") == []


# --- windows and determinism ----------------------------------------------------------------


def test_horizon_since_and_windows_select_the_traced_minutes() -> None:
    incident = Incident("retry-storm", PROD.account_id, "lambda:x", None, T0 + 600, T0 + 660, "t")
    result = build(180, {"fraud-check": 3}, incidents=(incident,))
    assert traces.traced_minutes(result, trace_hours=None) == list(range(180))
    assert traces.traced_minutes(result, trace_hours=1) == list(range(120, 180))
    assert traces.traced_minutes(result, trace_hours=1, since=T0 + 170 * 60) == list(
        range(170, 180)
    )
    windows = traces.incident_windows(result, padding_s=120)
    assert windows == [(T0 + 480, T0 + 780)]
    assert traces.traced_minutes(result, trace_hours=1, windows=windows) == [
        *range(8, 13),
        *range(120, 180),
    ]
    docs = documents(result, trace_hours=0.5)
    assert docs
    assert min(d["start_time"] for d in docs) >= T0 + 150 * 60


def test_traces_are_deterministic_per_seed_and_independent_of_the_window() -> None:
    result = build(
        4,
        {"orders-api": 50, "payment-processor": 50, "email-sender": 20},
        edges={("payment-processor", "payment-api"): {"p_fault": 0.4, "p_throttle": 0.2}},
    )
    first = list(traces.trace_documents(result, seed=11, trace_hours=None))
    again = list(traces.trace_documents(result, seed=11, trace_hours=None))
    other = list(traces.trace_documents(result, seed=12, trace_hours=None))
    assert first == again
    assert first != other
    # The last two minutes alone give the same documents as within the whole run.
    tail = list(traces.trace_documents(result, seed=11, since=T0 + 120, trace_hours=None))
    assert tail and tail == first[len(first) - len(tail) :]


@pytest.mark.slow
def test_worker_processes_store_the_same_documents(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(traces, "CHUNK_MINUTES", 2)  # three chunks over two worker processes
    result = build(6, {"orders-api": 40, "payment-processor": 40})
    stored = []
    for workers in (1, 2):
        backend = XRayBackend(PROD.account_id, PROD.region)
        stats = traces.emit_traces(result, backend, seed=2, trace_hours=None, workers=workers)
        ids = backend.store.trace_ids_overlapping(-np.inf, np.inf)
        stored.append((stats.traces, {i: backend.store.documents(i) for i in ids}))
    assert stored[0] == stored[1]
    assert not [r for r in caplog.records if "worker" in r.getMessage()]  # no fallback


@pytest.mark.parametrize("failure", ["cannot-start", "dies"])
def test_emit_traces_records_in_process_when_workers_fail(
    monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    if failure == "cannot-start":

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise OSError("no processes here")

        monkeypatch.setattr(traces.subprocess, "Popen", refuse)
    else:
        monkeypatch.setattr(traces, "WORKER_COMMAND", [sys.executable, "-c", "raise SystemExit(3)"])
    monkeypatch.setattr(traces, "CHUNK_MINUTES", 2)
    result = build(4, {"fraud-check": 30})
    backend = XRayBackend(PROD.account_id, PROD.region)
    stats = traces.emit_traces(result, backend, seed=4, trace_hours=None, workers=2)
    expected = list(traces.trace_documents(result, seed=4, trace_hours=None))
    assert stats.documents == stats.segments == len(expected) == 2 * stats.traces
    assert len(backend.store) == stats.traces


def test_calls_follow_the_batch_size_and_partial_batch_failures() -> None:
    # payment-processor reports batch item failures; inventory-reserver does not.
    invocations = 40
    result = build(
        2,
        {"payment-processor": invocations, "inventory-reserver": invocations},
        edges={
            ("payment-processor", "payment-api"): {
                "requests": 3 * invocations,
                "p_fault": [0, 0.5],
            },
            ("inventory-reserver", "inventory-db"): {
                "requests": 2 * invocations,
                "p_error": [0, 0.5],
            },
        },
    )
    docs = documents(result)
    host = PROD.dependency("payment-api").host
    mixed = 0
    for segment in by_origin(docs, "AWS::Lambda::Function", "payment-processor"):
        attempts = [s for s in segment["subsegments"] if s["name"] == host]
        # One call per record, three records per invocation: attempts 1 + retries each.
        calls_made = sum(1 for a in attempts if a["annotations"]["attempt"] == 1)
        assert calls_made == 3
        final = [a for a, b in itertools.pairwise([*attempts, None]) if b is None or
                 b["annotations"]["attempt"] == 1]  # fmt: skip
        failed = sum(1 for a in final if a["http"]["response"]["status"] >= 500)
        assert segment.get("fault", False) == (failed == 3)
        mixed += 0 < failed < 3
    assert mixed > 0
    for segment in by_origin(docs, "AWS::Lambda::Function", "inventory-reserver"):
        reads = [s for s in segment["subsegments"] if s["name"] == "dynamodb"]
        statuses = [r["http"]["response"]["status"] for r in reads]
        # Without partial batch responses the first failed record fails the invocation.
        if statuses[0] >= 400:
            assert len(reads) == 1 and segment["fault"] is True
        else:
            assert len(reads) == 2
            assert segment.get("fault", False) == (statuses[1] >= 400)
