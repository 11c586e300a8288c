"""Sampled X-Ray traces of a simulation run, recorded by the real aws-xray-sdk.

Every document comes out of an ``aws_xray_sdk.core.AWSXRayRecorder`` through its emitter
interface (:class:`CapturingEmitter` keeps each ``entity.serialize()`` instead of sending it over
UDP); AWS calls are recorded by the SDK's own botocore meta processor and HTTP calls by its
``requests`` processor, so flags, ``http`` and ``aws`` blocks are exactly what the SDK writes.
Ids and times are set on the SDK's entities from a seeded generator, so a run is deterministic
per seed.

**Sampling.** Lambda samples traced functions with X-Ray's default rule: per function and
second, the first request (the reservoir), then 5 % of the rest. Each minute's invocation count
is spread over its 60 seconds with a generator seeded by (seed, account, function, minute), so a
minute's traces do not depend on which other minutes are traced. Functions with
``tracing=False`` emit nothing.

**One sampled invocation** gives two segments, as Lambda's active tracing does:

- the Lambda service segment (origin ``AWS::Lambda``, root, ``http.response.status`` 200, or
  202 with ``Dwell Time`` and ``Attempt #1`` subsegments for asynchronously invoked functions);
- the function segment (origin ``AWS::Lambda::Function``, ``parent_id`` the service segment,
  ``aws.account_id``/``function_arn``) with Lambda's ``Invocation`` subsegment and, beside it,
  the subsegments the SDK in the function code records for its downstream calls (in Lambda the
  SDK's subsegments hang on the function segment), each annotated with ``account``:

  - a third-party API (``DependencyKind.REMOTE``): one ``remote`` subsegment per HTTP attempt
    (named after the host, ``http.request`` url/method, ``http.response.status``, annotations
    ``breaker_state`` and ``attempt``);
  - DynamoDB: one ``aws`` subsegment (``dynamodb``) per logical call, as the SDK records a
    botocore call with its internal retries: ``aws.operation``, ``aws.table_name``,
    ``aws.retries`` = attempts − 1, annotation ``breaker_state`` and the final attempt's status.
    The Python SDK's botocore patch does not write ``retries`` (the Java and Node SDKs do, and
    the segment-document spec defines it), so it is added to the SDK-made ``aws`` block;
  - the entry function's messages (:func:`message_producers`): SQS ``SendMessage`` per source
    queue (``messages_per_order``) and one EventBridge ``PutEvents`` carrying the rules' events
    (``events_per_order``).

**Attempts** are drawn per logical call from the minute's ``p_fault``/``p_throttle``/``p_error``
(of the call's :class:`~sandbox.world.model.EdgeMinutes`; the dependency's healthy defaults
when the run has no such edge) and the caller's :class:`~sandbox.world.topology.RetryPolicy`:
throttles (429) and faults (5xx) are retried up to ``max_attempts`` with capped exponential
backoff, waits drawn uniformly from ``[0, min(cap, base·2^(n−1))]`` with ``jitter`` and exactly
that value without; client errors (4xx) are not retried. Flags follow the SDK:
``apply_status_code`` (429 → throttle + error, 4xx → error, 5xx → fault) and, for a failed AWS
call, the recorded ``ClientError`` adds ``fault`` and a ``cause``. DynamoDB throttling is
recorded as HTTP 429 ``ThrottlingException`` so the throttle flag the contract counts is set
(real DynamoDB answers 400 ``ProvisionedThroughputExceededException``, which the SDK flags as an
error only). A call refused by an open breaker (drawn with probability
``short_circuited / requests`` of the minute) leaves no downstream subsegment: a local
``breaker:<id>`` subsegment with a ``CircuitOpenError`` fault and ``breaker_state`` = OPEN. A
call that finally fails (retries exhausted, 4xx, or short-circuited) fails the invocation: the
function segment records the exception (fault) and no further calls are made; except that an
SQS consumer with ``ReportBatchItemFailures`` goes on with its other records and fails only
when every call failed. An invocation makes ``requests / invocations`` of the minute logical
calls per dependency (an SQS consumer calls per record, so this follows the batch sizes).

**Times**: requests start inside their minute (an asynchronous event's dwell time begins
earlier); the function's own work is log-normal around the function's
``duration_ms`` (spread from the minute's Duration p99/p50), attempts log-normal around the
edge's ``latency_ms`` (throttles answer in a quarter of that), plus the backoff waits.

**Volume and speed** (measured on this 2-core machine with ``benchmarks/world_traces.py``,
prod-shaped traffic): at ~1 request per second per function the reservoir takes most requests,
so prod samples about 20 000 invocations per simulated hour (10 000 at night, 28 000 at the
afternoon peak; ~57 % of its invocations), each two segment documents of ~1.2 kB. The real SDK
records an invocation in about 200–250 µs and the backend stores a document in about 30 µs:
``emit_traces`` takes ~5 s per simulated hour in one process (~120 s per simulated day; ~6.5 s
when other work shares the cores) and ~3.3 s with two worker processes while a core is free
(~80 s per day); the backend holds ~2.8 kB per trace. A whole week (~3.4 M traces, ~6.7 M
segments) would take 10–17 minutes and ~10 GB, so a backfill traces a recent horizon:
``trace_hours`` (:data:`DEFAULT_TRACE_HOURS`, 3 hours: ~60 000 traces, 10 s idle to ~20 s
busy; ``None`` traces the whole run), optionally plus the ground-truth incident windows
(:func:`incident_windows`, passed as ``windows``). Metrics still cover every minute; live
minutes are traced as they are simulated (``since``, or a result holding only them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import pickle
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from aws_xray_sdk.core import AWSXRayRecorder
from aws_xray_sdk.ext.boto_utils import aws_meta_processor
from aws_xray_sdk.ext.requests.patch import requests_processor
from botocore.exceptions import ClientError

from sandbox.world.model import BreakerState
from sandbox.world.topology import DependencyKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from sandbox.endpoint.xray.backend import XRayBackend
    from sandbox.world.model import EdgeMinutes, FunctionMinutes, SimulationResult
    from sandbox.world.topology import Account, Call, Dependency, Function

log = logging.getLogger(__name__)

# X-Ray's default sampling rule: "the first request each second, and five percent of any
# additional requests" (reservoir 1/s, fixed rate 0.05), applied by Lambda per function.
RESERVOIR_PER_SECOND = 1
FIXED_RATE = 0.05
# Hours of the run (the most recent ones) a backfill traces; see the module docstring.
DEFAULT_TRACE_HOURS: float | None = 3.0
# The SDK's default: subsegments stream out as separate documents past this many per segment.
STREAMING_THRESHOLD = 30
# Minutes recorded (and stored) per batch, and per task when recording in worker processes.
CHUNK_MINUTES = 20
# Worker processes emit_traces uses by default, and from how many traced minutes on.
MAX_WORKERS = 2
PARALLEL_MIN_MINUTES = 180
# How a worker process is started (see emit_traces).
WORKER_COMMAND = [sys.executable, "-m", "sandbox.world.traces", "--worker"]

_OWN_WORK_SIGMA = 0.35  # log-normal spread of own work when the minute gives no percentiles
_LATENCY_SIGMA = 0.3  # log-normal spread of one attempt's latency around the minute's median
_Z99 = 2.326  # standard normal 99th percentile
_REMOTE_PATHS = {
    "payment-api": ("POST", "/v1/charges"),
    "email-provider": ("POST", "/v3/mail/send"),
    "shipping-partner": ("POST", "/v1/shipments"),
}
_ERROR_STATUSES = (400, 404, 409, 422)
_FAULT_STATUSES = (500, 502, 503, 504)
_DYNAMODB_ERRORS = {
    429: "ThrottlingException",
    400: "ConditionalCheckFailedException",
    404: "ResourceNotFoundException",
    409: "TransactionConflictException",
    422: "ValidationException",
    500: "InternalServerError",
    502: "InternalServerError",
    503: "ServiceUnavailable",
    504: "InternalServerError",
}
# Attempt outcomes.
_OK, _ERROR, _THROTTLE, _FAULT = 0, 1, 2, 3


class CircuitOpenError(Exception):
    """What the function code raises when its breaker refuses a call."""


class HTTPError(Exception):
    """What the function code raises when a third-party API call finally fails."""


@dataclass(frozen=True, slots=True)
class TraceStats:
    """What :func:`emit_traces` wrote and how long it took."""

    traces: int  # sampled invocations recorded
    segments: int  # segment documents the backend stored
    documents: int  # segment documents sent to it
    minutes: int  # simulated minutes traced
    seconds: float  # wall-clock time, recording and storing
    start: float | None  # epoch seconds of the first traced minute (None: nothing traced)
    end: float | None  # epoch seconds just after the last traced minute


class CapturingEmitter:
    """The recorder's emitter: keeps each ``entity.serialize()`` instead of sending it by UDP."""

    def __init__(self) -> None:
        self.documents: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(entity.serialize())

    def set_daemon_address(self, address: str) -> None:
        pass


def new_recorder(emitter: CapturingEmitter) -> AWSXRayRecorder:
    """An SDK recorder that keeps every segment it is given and emits into ``emitter``."""
    recorder = AWSXRayRecorder()
    recorder.configure(
        sampling=False,  # the sampling decision is made here, as Lambda makes it
        context_missing="LOG_ERROR",
        emitter=emitter,
        plugins=(),
        service="stormwatch-world",
        streaming_threshold=STREAMING_THRESHOLD,
    )
    # Every segment recorded here gets its ``aws`` block set explicitly (Lambda writes these
    # segments, not the SDK), so skip the per-segment deep copy of the SDK's own metadata.
    recorder._aws_metadata = {}
    return recorder


def sample_offsets(rng: random.Random, invocations: int) -> list[float]:
    """Offsets (seconds into the minute) of the requests the default rule samples.

    The minute's requests are spread uniformly over its seconds; in each second the first is
    taken (reservoir) and every later one with probability :data:`FIXED_RATE`.
    """
    if invocations <= 0:
        return []
    counts = [0] * 60
    draw = rng.random
    for _ in range(invocations):
        counts[int(draw() * 60)] += 1
    offsets: list[float] = []
    for second, count in enumerate(counts):
        if not count:
            continue
        # The first of ``count`` uniform arrivals: 1 - U^(1/count) (minimum of the uniforms).
        first = 1.0 - draw() ** (1.0 / count)
        offsets.append(second + first)
        for _ in range(count - RESERVOIR_PER_SECOND):
            if draw() < FIXED_RATE:
                offsets.append(second + first + (1.0 - first) * draw())
    return offsets


def traced_minutes(
    result: SimulationResult,
    *,
    trace_hours: float | None = DEFAULT_TRACE_HOURS,
    since: float | None = None,
    windows: Sequence[tuple[float, float]] = (),
) -> list[int]:
    """Indices of the minutes a call with these options traces, in order.

    The minutes of the run's last ``trace_hours`` hours (``None``: every minute), plus those
    starting inside any ``windows`` ``[start, end)`` (epoch seconds), keeping only minutes that
    start at or after ``since``.
    """
    timestamps = result.timestamps
    count = len(timestamps)
    if count == 0:
        return []
    horizon = -math.inf
    if trace_hours is not None:
        horizon = float(timestamps[-1]) + 60.0 - trace_hours * 3600.0
    floor = -math.inf if since is None else since
    selected = []
    for index in range(count):
        ts = float(timestamps[index])
        if ts < floor:
            continue
        if ts >= horizon or any(start <= ts < end for start, end in windows):
            selected.append(index)
    return selected


def incident_windows(
    result: SimulationResult, padding_s: float = 900.0
) -> list[tuple[float, float]]:
    """The run's ground-truth incident windows, widened by ``padding_s`` on each side.

    Passed as ``windows``, they trace every injected incident of a long backfill, beyond the
    recent horizon, so detectors can be scored against X-Ray as well as metrics.
    """
    account_id = result.account.account_id
    return [
        (incident.start - padding_s, incident.end + padding_s)
        for incident in result.incidents
        if incident.account_id == account_id
    ]


def trace_documents(
    result: SimulationResult,
    *,
    seed: int,
    trace_hours: float | None = DEFAULT_TRACE_HOURS,
    since: float | None = None,
    windows: Sequence[tuple[float, float]] = (),
) -> Iterator[str]:
    """The SDK's serialized segment documents for the run's sampled invocations.

    Minute by minute over :func:`traced_minutes`; deterministic per seed, and a minute's
    documents do not depend on which other minutes are traced.
    """
    tracer = _Tracer(result, seed)
    for minute in traced_minutes(result, trace_hours=trace_hours, since=since, windows=windows):
        yield from tracer.minute(minute)


def emit_traces(
    result: SimulationResult,
    backend: XRayBackend,
    *,
    seed: int,
    trace_hours: float | None = DEFAULT_TRACE_HOURS,
    since: float | None = None,
    windows: Sequence[tuple[float, float]] = (),
    workers: int | None = None,
) -> TraceStats:
    """Record the sampled traces and write them straight into an X-Ray backend (backfill).

    ``workers`` > 1 records in that many worker processes (the SDK is pure Python, so this is
    the only way to use more than one core) while this process stores what they return;
    ``None`` uses up to :data:`MAX_WORKERS` for :data:`PARALLEL_MIN_MINUTES` minutes or more
    when a core is free (:func:`_default_workers`).
    Workers are fresh interpreters (``python -m sandbox.world.traces --worker``) fed through
    pipes, so nothing of this process (its threads, its ``__main__``) is forked or re-run; if
    they cannot start or die, the rest is recorded here. The documents, and so the backend's
    contents, are the same for any number of workers.
    """
    began = time.perf_counter()
    minutes = traced_minutes(result, trace_hours=trace_hours, since=since, windows=windows)
    if workers is None:
        workers = _default_workers(len(minutes))
    chunks = [minutes[i : i + CHUNK_MINUTES] for i in range(0, len(minutes), CHUNK_MINUTES)]
    traces = documents = stored = done = 0
    if workers > 1 and len(chunks) > 1:
        with _WorkerPool(_for_tracing(result), seed, chunks, workers) as pool:
            for batch, count in pool.results():
                traces += count
                documents += len(batch)
                stored += backend.add_segment_documents(batch)
                done += 1
    if done < len(chunks):
        tracer = _Tracer(result, seed)
        for chunk in chunks[done:]:
            batch = _record_chunk(tracer, chunk)
            documents += len(batch)
            stored += backend.add_segment_documents(batch)
        traces += tracer.traces
    timestamps = result.timestamps
    return TraceStats(
        traces=traces,
        segments=stored,
        documents=documents,
        minutes=len(minutes),
        seconds=time.perf_counter() - began,
        start=float(timestamps[minutes[0]]) if minutes else None,
        end=float(timestamps[minutes[-1]]) + 60.0 if minutes else None,
    )


def _default_workers(minutes: int) -> int:
    """Workers only for long spans, and only while a core is free.

    Measured here: two workers record 3 hours of prod in ~10 s instead of ~15 s on an idle
    2-core machine, but in ~23 s instead of ~19 s when other work keeps both cores busy (they
    pay ~1.5 s to start and compete with the storing process). The 1-minute load average
    includes this process, so a free core shows as load below ``cores - 0.5``.
    """
    cores = os.cpu_count() or 1
    if minutes < PARALLEL_MIN_MINUTES or cores < 2:
        return 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return min(MAX_WORKERS, cores) if load < cores - 0.5 else 1


def _record_chunk(tracer: _Tracer, minutes: list[int]) -> list[str]:
    documents: list[str] = []
    for minute in minutes:
        documents.extend(tracer.minute(minute))
    return documents


class _WorkerPool:
    """Worker interpreters recording chunks of minutes; results come back in chunk order.

    Worker ``w`` of ``n`` records chunks ``w, w + n, ...``: it reads the pickled (run, seed,
    chunks) from its stdin and writes one pickled (documents, traces) per chunk to its stdout,
    where a reader thread queues them, so workers never wait for this process to store.
    """

    def __init__(
        self, result: SimulationResult, seed: int, chunks: list[list[int]], workers: int
    ) -> None:
        self.count = min(workers, len(chunks))
        self.chunks = chunks
        self.processes: list[subprocess.Popen[bytes]] = []
        self.queues: list[queue.Queue[tuple[list[str], int] | None]] = []
        self.payload = (result, seed)

    def __enter__(self) -> _WorkerPool:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        result, seed = self.payload
        try:
            for _ in range(self.count):
                self.processes.append(
                    subprocess.Popen(
                        WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
                    )
                )
            for index, process in enumerate(self.processes):
                own = self.chunks[index :: self.count]
                results: queue.Queue[tuple[list[str], int] | None] = queue.Queue()
                self.queues.append(results)
                threading.Thread(
                    target=_read_results, args=(process, len(own), results), daemon=True
                ).start()
                assert process.stdin is not None
                pickle.dump((result, seed, own), process.stdin, pickle.HIGHEST_PROTOCOL)
                process.stdin.close()
        except OSError as exc:
            log.warning("trace workers could not start (%s); recording in this process", exc)
            self.queues = []
        return self

    def results(self) -> Iterator[tuple[list[str], int]]:
        """(documents, traces) per chunk, in chunk order, until the end or a failed worker."""
        if not self.queues:
            return
        for index in range(len(self.chunks)):
            item = self.queues[index % self.count].get()  # the reader always puts, or None
            if item is None:
                log.warning("a trace worker failed; recording the rest in this process")
                return
            yield item

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _read_results(
    process: subprocess.Popen[bytes],
    expected: int,
    results: queue.Queue[tuple[list[str], int] | None],
) -> None:
    assert process.stdout is not None
    try:
        for _ in range(expected):
            results.put(pickle.load(process.stdout))
    except Exception:  # any failure of a worker means "record the rest here instead"
        results.put(None)


def _worker_main() -> None:
    """A worker: record the chunks given on stdin, one pickled result per chunk on stdout."""
    result, seed, chunks = pickle.load(sys.stdin.buffer)
    tracer = _Tracer(result, seed)
    out = sys.stdout.buffer
    for chunk in chunks:
        before = tracer.traces
        documents = _record_chunk(tracer, chunk)
        pickle.dump((documents, tracer.traces - before), out, pickle.HIGHEST_PROTOCOL)
        out.flush()


def _for_tracing(result: SimulationResult) -> SimulationResult:
    """The run without what tracing does not read (less to pickle into each worker)."""
    return dataclasses.replace(
        result, queues={}, rules={}, state_machines={}, tables={}, dlq_messages=[], incidents=[]
    )


def message_producers(account: Account) -> dict[str, tuple[tuple[str, float], ...]]:
    """Per producing function: the (queue, messages per invocation) it sends to.

    Every source queue and rule is fed "per order", so the account's entry functions (those
    ``triggered_by`` "api") produce them.
    """
    entries = [fn.name for fn in account.functions if fn.triggered_by == "api"]
    queues = tuple((queue.name, queue.messages_per_order) for queue in account.queues)
    return dict.fromkeys(entries, queues)


def event_producers(account: Account) -> dict[str, tuple[tuple[str, float], ...]]:
    """Per producing function: the (detail type, events per invocation) it puts."""
    entries = [fn.name for fn in account.functions if fn.triggered_by == "api"]
    events = tuple((rule.detail_type, rule.events_per_order) for rule in account.rules)
    return {name: events for name in entries if events}


# --- the recording ----------------------------------------------------------------------------


class _AwsClient:
    """What ``aws_meta_processor`` reads of a botocore client: ``meta.region_name``."""

    def __init__(self, region: str) -> None:
        self.meta = SimpleNamespace(region_name=region)


class _Response:
    """What ``requests_processor`` reads of a ``requests.Response``."""

    __slots__ = ("status_code",)

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


@dataclass(slots=True)
class _CallPlan:
    call: Call
    dependency: Dependency
    edge: EdgeMinutes | None
    operation: str
    url: str
    method: str


@dataclass(slots=True)
class _FunctionPlan:
    function: Function
    minutes: FunctionMinutes
    arn: str
    calls: tuple[_CallPlan, ...]
    queues: tuple[tuple[str, float], ...]  # (queue url, messages per invocation)
    events: tuple[float, ...]  # events per invocation, one entry per rule
    is_async: bool
    partial_batch: bool  # an SQS consumer reporting batch item failures


class _Tracer:
    """Records one run's sampled invocations with one SDK recorder."""

    def __init__(self, result: SimulationResult, seed: int) -> None:
        self.result = result
        self.seed = seed
        self.account = result.account
        self.emitter = CapturingEmitter()
        self.recorder = new_recorder(self.emitter)
        self.client = _AwsClient(self.account.region)
        self.traces = 0
        self.plans = self._plans()

    def _plans(self) -> list[_FunctionPlan]:
        account = self.account
        producers = message_producers(account)
        putters = event_producers(account)
        partial = {q.consumer for q in account.queues if q.report_batch_item_failures}
        plans = []
        for fn in account.functions:
            minutes = self.result.functions.get(fn.name)
            if not fn.tracing or minutes is None:
                continue
            calls = []
            for call in fn.calls:
                dependency = account.dependency(call.dependency)
                method, path = _REMOTE_PATHS.get(
                    dependency.name, ("POST", f"/v1/{dependency.name}")
                )
                operation = "GetItem" if fn.triggered_by == "api" else "UpdateItem"
                calls.append(
                    _CallPlan(
                        call,
                        dependency,
                        self.result.edges.get((fn.name, dependency.name)),
                        operation,
                        f"https://{dependency.host}{path}",
                        method,
                    )
                )
            queues = tuple(
                (f"https://sqs.{account.region}.amazonaws.com/{account.account_id}/{queue}", per)
                for queue, per in producers.get(fn.name, ())
            )
            plans.append(
                _FunctionPlan(
                    function=fn,
                    minutes=minutes,
                    arn=f"arn:aws:lambda:{account.region}:{account.account_id}:function:{fn.name}",
                    calls=tuple(calls),
                    queues=queues,
                    events=tuple(per for _detail, per in putters.get(fn.name, ())),
                    is_async=fn.async_config is not None,
                    partial_batch=fn.name in partial,
                )
            )
        return plans

    def _rng(self, function: str, minute_ts: int) -> random.Random:
        key = f"{self.seed}/{self.account.account_id}/{function}/{minute_ts}".encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big"))

    def minute(self, minute: int) -> list[str]:
        """Documents of every traced function's sampled invocations in one minute."""
        minute_ts = int(self.result.timestamps[minute])
        for plan in self.plans:
            invocations = int(plan.minutes.invocations[minute])
            if invocations <= 0:
                continue
            rng = self._rng(plan.function.name, minute_ts)
            offsets = sample_offsets(rng, invocations)
            sigma = _duration_sigma(plan.minutes, minute)
            for offset in offsets:
                self._invocation(plan, minute, minute_ts + offset, sigma, rng)
            self.traces += len(offsets)
        documents = self.emitter.documents
        self.emitter.documents = []
        return documents

    # --- one invocation -----------------------------------------------------------------------

    def _invocation(
        self, plan: _FunctionPlan, minute: int, started: float, sigma: float, rng: random.Random
    ) -> None:
        recorder = self.recorder
        fn = plan.function
        bits = rng.getrandbits
        own = fn.duration_ms * math.exp(sigma * rng.gauss(0.0, 1.0)) / 1000.0
        dwell = 0.0
        if plan.is_async:
            # An event waits in Lambda's internal queue before the attempt that runs it.
            age_ms = float(plan.minutes.async_event_age_ms[minute])
            dwell = max(0.005, age_ms / 1000.0 * rng.expovariate(1.0)) if age_ms > 0 else 0.02
        received = started - dwell
        # "The first number is ... the time of the original request" (trace id format).
        trace_id = f"1-{int(received):08x}-{bits(96):024x}"
        service_id = f"{bits(64):016x}"
        function_start = started + 0.0004 + 0.001 * rng.random()

        # The function segment, as Lambda's runtime and the SDK in the function code write it.
        segment = recorder.begin_segment(fn.name, traceid=trace_id, parent_id=service_id)
        segment.id = f"{bits(64):016x}"
        segment.start_time = function_start
        segment.origin = "AWS::Lambda::Function"
        segment.set_aws(
            {
                "account_id": self.account.account_id,
                "function_arn": plan.arn,
                "resource_names": [fn.name],
            }
        )
        # The code's calls: the SDK's subsegments of the function's (facade) segment.
        handler_start = function_start + 0.0001
        cursor = handler_start + own * 0.4
        failure: Exception | None = None
        made = failed = 0
        for call_plan in plan.calls:
            per = _calls_per_invocation(call_plan, plan.minutes, minute)
            for _ in range(int(per) + (1 if rng.random() < per - int(per) else 0)):
                cursor, error = self._call(call_plan, minute, cursor, rng)
                made += 1
                if error is not None:
                    failed += 1
                    failure = failure or error
                    if not plan.partial_batch:
                        break
            if failure is not None and not plan.partial_batch:
                break
        if plan.partial_batch and failed < made:
            # The batch processor reports the failed records; the invocation succeeds.
            failure = None
        if failure is None:
            for url, per in plan.queues:
                count = int(per) + (1 if rng.random() < per - int(per) else 0)
                for _ in range(count):
                    cursor = self._send_message(url, cursor, rng)
            entries = 0
            for per in plan.events:
                entries += int(per) + (1 if rng.random() < per - int(per) else 0)
            if entries:
                cursor = self._put_events(entries, cursor, rng)
        handler_end = cursor + own * (0.1 if failure is not None else 0.6)
        # Lambda's own subsegment for the handler's run.
        invocation = recorder.begin_subsegment("Invocation")
        invocation.id = f"{bits(64):016x}"
        invocation.start_time = handler_start
        recorder.end_subsegment(handler_end)
        if failure is not None:
            self._record_exception(segment, failure, rng)
        function_end = handler_end + 0.0003 + 0.0005 * rng.random()
        recorder.end_segment(function_end)

        # The Lambda service segment: the invoke request, the root of the trace.
        service = recorder.begin_segment(fn.name, traceid=trace_id)
        service.id = service_id
        service.start_time = received
        service.origin = "AWS::Lambda"
        service.resource_arn = plan.arn
        service.set_aws({"request_id": _uuid(bits)})
        service.put_http_meta("status", 202 if plan.is_async else 200)
        if plan.is_async:
            dwell_sub = recorder.begin_subsegment("Dwell Time")
            dwell_sub.id = f"{bits(64):016x}"
            dwell_sub.start_time = received
            recorder.end_subsegment(started)
            attempt = recorder.begin_subsegment("Attempt #1")
            attempt.id = f"{bits(64):016x}"
            attempt.start_time = started
            recorder.end_subsegment(function_end + 0.0002)
        recorder.end_segment(function_end + 0.0004)

    def _call(
        self, plan: _CallPlan, minute: int, cursor: float, rng: random.Random
    ) -> tuple[float, Exception | None]:
        """One logical call → (time after it, the exception the code raises or None)."""
        edge = plan.edge
        breaker = plan.call.breaker
        if edge is not None:
            requests = float(edge.requests[minute])
            short = float(edge.short_circuited[minute])
            p_error = float(edge.p_error[minute])
            p_throttle = float(edge.p_throttle[minute])
            p_fault = float(edge.p_fault[minute])
            latency = float(edge.latency_ms[minute]) / 1000.0
        else:
            requests = short = p_throttle = p_fault = 0.0
            p_error = plan.dependency.base_error_rate
            latency = plan.dependency.latency_ms / 1000.0
        if not latency > 0:  # zero, negative or NaN: the dependency's healthy latency
            latency = plan.dependency.latency_ms / 1000.0
        recorder = self.recorder
        if breaker is not None and requests > 0 and short > 0 and rng.random() < short / requests:
            refused = recorder.begin_subsegment(f"breaker:{breaker}")
            refused.id = f"{rng.getrandbits(64):016x}"
            refused.start_time = cursor
            refused.put_annotation("account", self.account.name)
            refused.put_annotation("breaker", breaker)
            refused.put_annotation("breaker_state", "OPEN")
            error = CircuitOpenError(f"circuit {breaker} is OPEN")
            self._record_exception(refused, error, rng)
            end = cursor + 0.0002
            recorder.end_subsegment(end)
            return end, error
        state = self._breaker_state(breaker, minute)
        policy = plan.call.retry
        outcomes: list[tuple[int, int, float, float]] = []  # (outcome, status, start, end)
        t = cursor
        for attempt in range(1, max(1, policy.max_attempts) + 1):
            u = rng.random()
            if u < p_fault:
                outcome, status = _FAULT, rng.choice(_FAULT_STATUSES)
            elif u < p_fault + p_throttle:
                outcome, status = _THROTTLE, 429
            elif u < p_fault + p_throttle + p_error:
                outcome, status = _ERROR, rng.choice(_ERROR_STATUSES)
            else:
                outcome, status = _OK, 200
            took = latency * math.exp(_LATENCY_SIGMA * rng.gauss(0.0, 1.0))
            if outcome == _THROTTLE:
                took *= 0.25
            outcomes.append((outcome, status, t, t + took))
            t += took
            if outcome in (_OK, _ERROR) or attempt >= policy.max_attempts:
                break
            ceiling = min(policy.cap_ms, policy.base_ms * 2 ** (attempt - 1)) / 1000.0
            t += rng.uniform(0.0, ceiling) if policy.jitter else ceiling
        final_outcome = outcomes[-1][0]
        if plan.dependency.kind is DependencyKind.REMOTE:
            failure = self._remote_attempts(plan, outcomes, state, breaker, rng)
        else:
            failure = self._dynamodb_call(plan, outcomes, cursor, t, state, breaker, rng)
        return t, failure if final_outcome != _OK else None

    def _remote_attempts(
        self,
        plan: _CallPlan,
        outcomes: list[tuple[int, int, float, float]],
        state: str,
        breaker: str | None,
        rng: random.Random,
    ) -> Exception | None:
        recorder = self.recorder
        host = plan.dependency.host
        for attempt, (_outcome, status, start, end) in enumerate(outcomes, start=1):
            sub = recorder.begin_subsegment(host, "remote")
            sub.id = f"{rng.getrandbits(64):016x}"
            sub.start_time = start
            requests_processor(
                wrapped=None,
                instance=None,
                args=(plan.method, plan.url),
                kwargs={},
                return_value=_Response(status),
                exception=None,
                subsegment=sub,
                stack=[],
            )
            sub.put_annotation("account", self.account.name)
            if breaker is not None:
                sub.put_annotation("breaker_state", state)
            sub.put_annotation("attempt", attempt)
            recorder.end_subsegment(end)
        final_status = outcomes[-1][1]
        if final_status >= 400:
            return HTTPError(f"{final_status} from {plan.url}")
        return None

    def _dynamodb_call(
        self,
        plan: _CallPlan,
        outcomes: list[tuple[int, int, float, float]],
        start: float,
        end: float,
        state: str,
        breaker: str | None,
        rng: random.Random,
    ) -> Exception | None:
        recorder = self.recorder
        sub = recorder.begin_subsegment("dynamodb", "aws")
        sub.id = f"{rng.getrandbits(64):016x}"
        sub.start_time = start
        status = outcomes[-1][1]
        metadata = {
            "RequestId": _request_id(rng.getrandbits),
            "HTTPStatusCode": status,
            "RetryAttempts": len(outcomes) - 1,
        }
        exception: ClientError | None = None
        if status < 400:
            return_value: dict[str, Any] | None = {"ResponseMetadata": metadata}
        else:
            code = _DYNAMODB_ERRORS.get(status, "InternalServerError")
            error = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": metadata}
            return_value, exception = None, ClientError(error, plan.operation)
        aws_meta_processor(
            wrapped=None,
            instance=self.client,
            args=(plan.operation, {"TableName": plan.dependency.host}),
            kwargs={},
            return_value=return_value,
            exception=exception,
            subsegment=sub,
            stack=[],
        )
        sub.aws["retries"] = len(outcomes) - 1
        if exception is not None:
            self._seed_cause_id(sub, exception, rng)
        sub.put_annotation("account", self.account.name)
        if breaker is not None:
            sub.put_annotation("breaker_state", state)
        recorder.end_subsegment(end)
        return exception

    def _send_message(self, url: str, cursor: float, rng: random.Random) -> float:
        return self._succeeded_aws_call(
            "sqs",
            "SendMessage",
            {"QueueUrl": url, "MessageBody": "{}"},
            lambda: {"MessageId": _uuid(rng.getrandbits)},
            0.006,
            cursor,
            rng,
        )

    def _put_events(self, entries: int, cursor: float, rng: random.Random) -> float:
        return self._succeeded_aws_call(
            "events",
            "PutEvents",
            {"Entries": [{}] * entries},
            lambda: {"FailedEntryCount": 0},
            0.012,
            cursor,
            rng,
        )

    def _succeeded_aws_call(
        self,
        service: str,
        operation: str,
        params: dict[str, Any],
        result: Callable[[], dict[str, Any]],
        typical_s: float,
        cursor: float,
        rng: random.Random,
    ) -> float:
        """A successful AWS SDK call recorded by the SDK's botocore processor; returns its end."""
        recorder = self.recorder
        sub = recorder.begin_subsegment(service, "aws")
        sub.id = f"{rng.getrandbits(64):016x}"
        sub.start_time = cursor
        body = result()  # drawn after the subsegment id, as the ids always were
        aws_meta_processor(
            wrapped=None,
            instance=self.client,
            args=(operation, params),
            kwargs={},
            return_value={
                **body,
                "ResponseMetadata": {
                    "RequestId": _request_id(rng.getrandbits),
                    "HTTPStatusCode": 200,
                    "RetryAttempts": 0,
                },
            },
            exception=None,
            subsegment=sub,
            stack=[],
        )
        sub.aws["retries"] = 0
        end = cursor + typical_s * math.exp(_LATENCY_SIGMA * rng.gauss(0.0, 1.0))
        recorder.end_subsegment(end)
        return end

    def _breaker_state(self, breaker: str | None, minute: int) -> str:
        """The state a call that was let through saw: CLOSED, or HALF_OPEN after an OPEN."""
        timeline = self.result.breakers.get(breaker) if breaker is not None else None
        if timeline is None:
            return "CLOSED"
        before = int(timeline.state[minute - 1]) if minute > 0 else int(timeline.state[minute])
        now = int(timeline.state[minute])
        if before == BreakerState.CLOSED and now != BreakerState.HALF_OPEN:
            return "CLOSED"
        return "HALF_OPEN"

    @staticmethod
    def _seed_cause_id(entity: Any, exception: BaseException, rng: random.Random) -> None:
        """Redraw the id the SDK gave ``exception``'s record (os.urandom) from the seeded rng.

        The SDK records an exception once; entities it propagates through afterwards refer to
        it by that id (``cause`` = the id), so the exception's ``_cause_id`` follows too.
        """
        cause = entity.cause
        if isinstance(cause, dict) and cause.get("exceptions"):
            new_id = f"{rng.getrandbits(64):016x}"
            cause["exceptions"][-1].id = new_id
            exception._cause_id = new_id  # type: ignore[attr-defined]

    def _record_exception(self, entity: Any, exception: Exception, rng: random.Random) -> None:
        """``entity.add_exception`` as the SDK's context managers call it (no stack)."""
        recorded = hasattr(exception, "_recorded")
        entity.add_exception(exception, [], False)
        if not recorded:
            self._seed_cause_id(entity, exception, rng)


def _calls_per_invocation(plan: _CallPlan, minutes: FunctionMinutes, minute: int) -> float:
    """Logical calls per invocation this minute: the edge's requests over the invocations.

    An SQS consumer calls once per record, so this follows the minute's batch sizes; without
    the edge, the topology's ``per_invocation``.
    """
    if plan.edge is not None:
        invocations = float(minutes.invocations[minute])
        requests = float(plan.edge.requests[minute])
        if invocations > 0 and requests >= 0:
            return requests / invocations
    return plan.call.per_invocation


def _duration_sigma(minutes: FunctionMinutes, minute: int) -> float:
    p50 = float(minutes.duration_p50_ms[minute])
    p99 = float(minutes.duration_p99_ms[minute])
    if p50 > 0 and p99 > p50:
        return min(1.0, max(0.1, math.log(p99 / p50) / _Z99))
    return _OWN_WORK_SIGMA


def _uuid(bits: Any) -> str:
    h = f"{bits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _request_id(bits: Any) -> str:
    """A DynamoDB-style request id: 52 upper-case alphanumerics."""
    return f"{bits(208):052X}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _worker_main()
    else:
        sys.exit("usage: python -m sandbox.world.traces --worker  (used by emit_traces)")
