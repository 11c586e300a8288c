"""The store's tables: their columns, types and keys, declared once.

Every table is long ("tidy"), one Parquet dataset each, Hive-partitioned by ``date``
(``YYYY-MM-DD``, UTC, derived from the table's time column). Timestamps are UTC with
millisecond precision. ``key`` columns identify a row: writing a row whose key exists replaces
it (a re-read CloudWatch datapoint replaces the stored value), so writes are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    time_column: str  # partitions by its UTC date; reads filter on it

    @property
    def columns(self) -> list[str]:
        return self.schema.names


def _table(
    name: str, key: tuple[str, ...], time_column: str, *fields: tuple[str, pa.DataType]
) -> Table:
    schema = pa.schema([pa.field(n, t, nullable=n not in key) for n, t in fields])
    missing = set(key) - set(schema.names)
    if missing or time_column not in schema.names:
        raise ValueError(f"table {name}: key/time columns {missing or time_column} not declared")
    return Table(name, schema, key, time_column)


METRICS = _table(
    "metrics",
    ("account", "region", "namespace", "metric", "dimensions", "stat", "period_s", "ts"),
    "ts",
    ("account", pa.string()),
    ("region", pa.string()),
    ("namespace", pa.string()),
    ("metric", pa.string()),
    ("dimensions", pa.string()),  # canonical "Name=Value,..." sorted by name
    ("stat", pa.string()),
    ("period_s", pa.int32()),
    ("ts", TIMESTAMP),
    ("resource", pa.string()),  # e.g. "lambda:checkout", "sqs:orders-dlq"
    ("value", pa.float64()),
)

BREAKERS = _table(
    "breakers",
    ("account", "region", "table", "breaker", "observed_at"),
    "observed_at",
    ("account", pa.string()),
    ("region", pa.string()),
    ("table", pa.string()),
    ("breaker", pa.string()),
    ("observed_at", TIMESTAMP),
    ("state", pa.string()),  # CLOSED | OPEN | HALF_OPEN | UNKNOWN
    ("raw_state", pa.string()),
    ("failure_count", pa.int64()),
    ("success_count", pa.int64()),
    ("last_transition", TIMESTAMP),
    ("updated_at", TIMESTAMP),
    ("problem", pa.string()),  # why the item could not be read fully; null when fine
)

QUEUES = _table(
    "queues",
    ("account", "region", "queue", "observed_at"),
    "observed_at",
    ("account", pa.string()),
    ("region", pa.string()),
    ("queue", pa.string()),
    ("observed_at", TIMESTAMP),
    ("arn", pa.string()),
    ("is_dlq", pa.bool_()),
    ("sources", pa.list_(pa.string())),  # source queue names feeding this DLQ
    ("dlq", pa.string()),  # this queue's own DLQ, if any
    ("max_receive_count", pa.int32()),
    ("visible", pa.int64()),
    ("in_flight", pa.int64()),
    ("delayed", pa.int64()),
    (
        "oldest_age_s",
        pa.float64(),
    ),  # from CloudWatch's ApproximateAgeOfOldestMessage; null if unknown
    ("retention_s", pa.int64()),
    ("visibility_timeout_s", pa.int64()),
)

EDGES = _table(
    "edges",
    ("account", "region", "source", "target", "window_start"),
    "window_start",
    ("account", pa.string()),
    ("region", pa.string()),
    ("source", pa.string()),
    ("target", pa.string()),
    ("window_start", TIMESTAMP),
    ("window_end", TIMESTAMP),
    ("target_type", pa.string()),
    ("requests", pa.int64()),
    ("ok", pa.int64()),
    ("errors", pa.int64()),
    ("throttles", pa.int64()),
    ("faults", pa.int64()),
    ("retries", pa.int64()),  # from sampled traces (the service graph does not carry retries)
    ("latency_mean_ms", pa.float64()),
    ("latency_p50_ms", pa.float64()),
    ("latency_p99_ms", pa.float64()),
)

TRACES = _table(
    "traces",
    ("account", "region", "trace_id"),
    "start",
    ("account", pa.string()),
    ("region", pa.string()),
    ("trace_id", pa.string()),
    ("start", TIMESTAMP),
    ("duration_ms", pa.float64()),
    ("root", pa.string()),
    ("status", pa.int32()),  # root HTTP status, when known
    ("has_error", pa.bool_()),
    ("has_fault", pa.bool_()),
    ("has_throttle", pa.bool_()),
    ("retries", pa.int64()),
    ("retried_edges", pa.list_(pa.string())),  # "source->target"
)

INVENTORY = _table(
    "inventory",
    ("account", "region", "kind", "name", "collected_at"),
    "collected_at",
    ("account", pa.string()),
    ("region", pa.string()),
    ("kind", pa.string()),  # lambda | sqs | events-rule | state-machine | breaker-table
    ("name", pa.string()),
    ("collected_at", TIMESTAMP),
    ("arn", pa.string()),
    ("config", pa.string()),  # JSON
)

INCIDENTS = _table(
    "incidents",
    ("id",),
    "start",
    ("id", pa.string()),
    ("kind", pa.string()),
    ("account", pa.string()),
    ("region", pa.string()),
    ("resource", pa.string()),
    ("downstream", pa.string()),
    ("start", TIMESTAMP),
    ("end", TIMESTAMP),  # null while ongoing
    ("detected_at", TIMESTAMP),  # when the first finding could have been raised
    ("severity", pa.string()),  # low | medium | high | critical (the peak)
    ("summary", pa.string()),
    ("evidence", pa.string()),  # JSON
)

COLLECTOR_RUNS = _table(
    "collector_runs",
    ("run_id", "source", "account", "region"),
    "started",
    ("run_id", pa.string()),
    ("source", pa.string()),
    ("account", pa.string()),
    ("region", pa.string()),
    ("started", TIMESTAMP),
    ("ended", TIMESTAMP),
    ("api_calls", pa.string()),  # JSON {"GetMetricData": 3, ...}
    ("rows", pa.int64()),
    ("error", pa.string()),  # null when the source completed
    (
        "error_kind",
        pa.string(),
    ),  # access-denied | throttled | timeout | connection | invalid | other
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (METRICS, BREAKERS, QUEUES, EDGES, TRACES, INVENTORY, INCIDENTS, COLLECTOR_RUNS)
}
