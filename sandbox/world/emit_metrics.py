"""CloudWatch datapoints from a simulation run, with AWS's namespaces, names, dimensions and units.

AWS publishes its services' metrics itself (nobody calls PutMetricData for ``AWS/*``), so the
world writes them straight into the endpoint's metric store. What is published, and when,
follows AWS:

- ``AWS/Lambda`` (``FunctionName``): a datapoint only in minutes with activity. Count metrics
  are per-invocation samples (``Errors`` Average is the error rate, as on AWS). ``Duration``
  carries raw samples drawn from the minute's p50/p99, so percentiles are real.
- ``AWS/SQS`` (``QueueName``): every minute for every queue, zeros included. A message moved into
  a DLQ by its redrive policy is not in that DLQ's ``NumberOfMessagesSent``.
- ``AWS/Events`` (``RuleName``): ``FailedInvocations`` only for minutes where it is non-zero.
- ``AWS/States`` (``StateMachineArn``) and ``AWS/DynamoDB`` throttles (``TableName``; only
  minutes with throttling, as DynamoDB emits them).
- ``OrderPipeline/Resilience``: what the application itself publishes through EMF — retries and
  failures per dependency call, breaker state (0 closed, 1 open, 2 half-open) and
  short-circuited calls.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sandbox.endpoint.cloudwatch.metric_store import RawValues

if TYPE_CHECKING:
    from sandbox.endpoint.cloudwatch.metric_store import MetricStore
    from sandbox.world.model import SimulationResult

APP_NAMESPACE = "OrderPipeline/Resilience"
DURATION_SAMPLES = 16  # raw Duration samples kept per function-minute
_Z99 = 2.3263478740408408  # standard normal 99th percentile


@dataclass(frozen=True, slots=True)
class EmitStats:
    series: int
    datapoints: int


class _Writer:
    """Writes series into the store and counts them."""

    def __init__(self, store: MetricStore, timestamps: np.ndarray) -> None:
        self.store = store
        self.timestamps = timestamps
        self.series = 0
        self.datapoints = 0

    def gauge(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        unit: str,
        values: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> None:
        """One sample per minute (SQS, Events, States, DynamoDB publish this way)."""
        values = np.asarray(values, dtype=np.float64)
        stamps = self.timestamps
        if mask is not None:
            stamps, values = stamps[mask], values[mask]
        if values.size == 0:
            return
        ones = np.ones(values.size)
        self.store.put_aggregates(
            namespace, metric, dimensions, unit, stamps, values, ones, values, values
        )
        self.series += 1
        self.datapoints += values.size

    def per_sample(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        events: np.ndarray,
        samples: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        """``events`` of ``samples`` samples were 1 (the rest 0): Lambda's Errors, Throttles..."""
        events = np.asarray(events, dtype=np.float64)[mask]
        samples = np.maximum(np.asarray(samples, dtype=np.float64)[mask], events)
        samples = np.maximum(samples, 1.0)
        if events.size == 0:
            return
        lows = (events >= samples).astype(np.float64)
        highs = (events > 0).astype(np.float64)
        self.store.put_aggregates(
            namespace,
            metric,
            dimensions,
            "Count",
            self.timestamps[mask],
            events,
            samples,
            lows,
            highs,
        )
        self.series += 1
        self.datapoints += events.size


def _duration_samples(p50: np.ndarray, p99: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``DURATION_SAMPLES`` lognormal samples per minute matching its p50 and p99 (ascending)."""
    median = np.maximum(p50, 0.1)
    sigma = np.log(np.maximum(p99, median * 1.01) / median) / _Z99
    quantiles = (np.arange(DURATION_SAMPLES) + 0.5) / DURATION_SAMPLES
    normal = np.sqrt(2.0) * _erfinv(2.0 * quantiles - 1.0)
    jitter = rng.normal(0.0, 0.05, size=(median.size, DURATION_SAMPLES))
    grid = median[:, None] * np.exp(sigma[:, None] * (normal[None, :] + jitter))
    return np.sort(grid, axis=1)


def _erfinv(y: np.ndarray) -> np.ndarray:
    """Inverse error function (Giles' approximation; ample for sample placement)."""
    w = -np.log((1.0 - y) * (1.0 + y))
    small = w < 5.0
    ws = w - 2.5
    wl = np.sqrt(np.where(small, 5.0, w)) - 3.0
    ps = 2.81022636e-08
    for c in (
        3.43273939e-07,
        -3.5233877e-06,
        -4.39150654e-06,
        0.00021858087,
        -0.00125372503,
        -0.00417768164,
        0.246640727,
        1.50140941,
    ):
        ps = c + ps * ws
    pl = -0.000200214257
    for c in (
        0.000100950558,
        0.00134934322,
        -0.00367342844,
        0.00573950773,
        -0.0076224613,
        0.00943887047,
        1.00167406,
        2.83297682,
    ):
        pl = c + pl * wl
    return np.where(small, ps, pl) * y


def emit_metrics(result: SimulationResult, store: MetricStore) -> EmitStats:
    """Write every series of ``result`` into ``store`` (one account and region)."""
    account = result.account
    writer = _Writer(store, result.timestamps.astype(np.int64))
    seed = zlib.crc32(f"{account.account_id}:{result.seed}:{int(result.timestamps[0])}".encode())
    rng = np.random.default_rng(seed)

    for name, fn in result.functions.items():
        dims = {"FunctionName": name}
        active = (fn.invocations > 0) | (fn.throttles > 0)
        writer.per_sample("AWS/Lambda", "Invocations", dims, fn.invocations, fn.invocations, active)
        writer.per_sample("AWS/Lambda", "Errors", dims, fn.errors, fn.invocations, active)
        writer.per_sample(
            "AWS/Lambda", "Throttles", dims, fn.throttles, fn.invocations + fn.throttles, active
        )
        writer.gauge(
            "AWS/Lambda", "ConcurrentExecutions", dims, "Count", fn.concurrent_executions, active
        )
        ran = fn.invocations > 0
        if ran.any():
            samples = _duration_samples(fn.duration_p50_ms[ran], fn.duration_p99_ms[ran], rng)
            invocations = fn.invocations[ran].astype(np.float64)
            weights = np.repeat(invocations / DURATION_SAMPLES, DURATION_SAMPLES)
            offsets = np.arange(0, samples.size + 1, DURATION_SAMPLES, dtype=np.int64)
            store.put_aggregates(
                "AWS/Lambda",
                "Duration",
                dims,
                "Milliseconds",
                writer.timestamps[ran],
                samples.mean(axis=1) * invocations,
                invocations,
                samples[:, 0],
                samples[:, -1],
                RawValues(offsets, samples.reshape(-1), weights),
            )
            writer.series += 1
            writer.datapoints += int(ran.sum())
        if account.function(name).async_config is not None:
            received = fn.async_events_received
            seen = received > 0
            writer.gauge("AWS/Lambda", "AsyncEventsReceived", dims, "Count", received, seen)
            writer.gauge(
                "AWS/Lambda", "AsyncEventAge", dims, "Milliseconds", fn.async_event_age_ms, seen
            )
            writer.gauge(
                "AWS/Lambda", "AsyncEventsDropped", dims, "Count", fn.async_events_dropped, seen
            )
            writer.gauge(
                "AWS/Lambda", "DeadLetterErrors", dims, "Count", fn.dead_letter_errors, seen
            )
            writer.gauge(
                "AWS/Lambda",
                "DestinationDeliveryFailures",
                dims,
                "Count",
                fn.destination_delivery_failures,
                seen,
            )

    for name, queue in result.queues.items():
        dims = {"QueueName": name}
        for metric, values, unit in (
            ("NumberOfMessagesSent", queue.sent, "Count"),
            ("NumberOfMessagesReceived", queue.received, "Count"),
            ("NumberOfMessagesDeleted", queue.deleted, "Count"),
            ("ApproximateNumberOfMessagesVisible", queue.visible, "Count"),
            ("ApproximateNumberOfMessagesNotVisible", queue.not_visible, "Count"),
            ("ApproximateNumberOfMessagesDelayed", np.zeros_like(queue.visible), "Count"),
            ("ApproximateAgeOfOldestMessage", queue.oldest_age_s, "Seconds"),
            ("NumberOfEmptyReceives", np.zeros_like(queue.visible), "Count"),
        ):
            writer.gauge("AWS/SQS", metric, dims, unit, values)

    for name, rule in result.rules.items():
        dims = {"RuleName": name}
        writer.gauge(
            "AWS/Events",
            "TriggeredRules",
            dims,
            "Count",
            rule.matched_events,
            rule.matched_events > 0,
        )
        writer.gauge(
            "AWS/Events",
            "MatchedEvents",
            dims,
            "Count",
            rule.matched_events,
            rule.matched_events > 0,
        )
        writer.gauge(
            "AWS/Events", "Invocations", dims, "Count", rule.invocations, rule.invocations > 0
        )
        # AWS emits FailedInvocations only for periods where it is non-zero.
        writer.gauge(
            "AWS/Events",
            "FailedInvocations",
            dims,
            "Count",
            rule.failed_invocations,
            rule.failed_invocations > 0,
        )
        writer.gauge(
            "AWS/Events",
            "RetryInvocationAttempts",
            dims,
            "Count",
            rule.retry_invocation_attempts,
            rule.retry_invocation_attempts > 0,
        )
        writer.gauge(
            "AWS/Events",
            "InvocationsSentToDlq",
            dims,
            "Count",
            rule.invocations_sent_to_dlq,
            rule.invocations_sent_to_dlq > 0,
        )

    for name, machine in result.state_machines.items():
        arn = f"arn:aws:states:{account.region}:{account.account_id}:stateMachine:{name}"
        dims = {"StateMachineArn": arn}
        active = machine.started > 0
        for metric, values in (
            ("ExecutionsStarted", machine.started),
            ("ExecutionsSucceeded", machine.succeeded),
            ("ExecutionsFailed", machine.failed),
            ("ExecutionsTimedOut", machine.timed_out),
            ("ExecutionThrottled", machine.throttled),
        ):
            writer.gauge("AWS/States", metric, dims, "Count", values, active)

    for name, table in result.tables.items():
        dims = {"TableName": name}
        for metric, values in (
            ("ReadThrottleEvents", table.read_throttle_events),
            ("WriteThrottleEvents", table.write_throttle_events),
            ("ThrottledRequests", table.throttled_requests),
        ):
            writer.gauge("AWS/DynamoDB", metric, dims, "Count", values, values > 0)

    for (function, dependency), edge in result.edges.items():
        dims = {"Function": function, "Dependency": dependency}
        active = edge.requests > 0
        writer.gauge(APP_NAMESPACE, "DownstreamCalls", dims, "Count", edge.requests, active)
        writer.gauge(APP_NAMESPACE, "DownstreamAttempts", dims, "Count", edge.attempts, active)
        writer.gauge(APP_NAMESPACE, "DownstreamRetries", dims, "Count", edge.retries, active)
        writer.gauge(
            APP_NAMESPACE, "DownstreamFailures", dims, "Count", edge.failed_requests, active
        )
        writer.gauge(APP_NAMESPACE, "ShortCircuited", dims, "Count", edge.short_circuited, active)

    for breaker, timeline in result.breakers.items():
        writer.gauge(
            APP_NAMESPACE,
            "CircuitBreakerState",
            {"Breaker": breaker},
            "None",
            timeline.state.astype(np.float64),
        )
    return EmitStats(writer.series, writer.datapoints)
