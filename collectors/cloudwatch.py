"""CloudWatch metrics: what to read (catalog, plan), how to pack it (batches, windows), reading it.

The pure core decides everything:

- :data:`CATALOG` declares, per kind of discovered resource, the metrics and statistics a
  resilience review needs, plus how application namespaces found with ``ListMetrics`` are read.
- :func:`plan_queries` turns an :class:`~collectors.discovery.Inventory` (and the listed
  application metrics) into :class:`MetricQuery` objects, one per series.
- :func:`metric_window` computes each series' half-open window ``[start, end)`` from its
  watermark, with an overlap that re-reads recent datapoints CloudWatch may still revise.
- :func:`batches` packs the queries 500 to a ``GetMetricData`` call (the API's maximum), by
  period, and gives each query the id ``q<index>`` that maps its result back.

The thin shell calls AWS: :func:`list_app_metrics` (``ListMetrics``, paginated) and
:func:`fetch` (one ``GetMetricData`` per batch, following ``NextToken``). :func:`collect_metrics`
glues a cycle together and reports its API calls, which sit at the floor
``⌈queries ⁄ 500⌉`` per period plus the pages ``NextToken`` adds.

Times are aware UTC datetimes; windows are half-open and aligned to the period.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from collectors._frame import to_frame
from collectors.aws import classify
from collectors.discovery import KINDS, Inventory
from collectors.errors import SourceError
from collectors.schema import METRICS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

MAX_QUERIES_PER_CALL = 500  # GetMetricData's MetricDataQueries limit
DEFAULT_PERIOD = 60
DEFAULT_OVERLAP = timedelta(minutes=10)
DEFAULT_MAX_LOOKBACK = timedelta(hours=3)
DEFAULT_APP_NAMESPACES: tuple[str, ...] = ("OrderPipeline/Resilience",)
# Rows handed to a sink at a time (see collect_metrics): a steady cycle at 10,000 series (~160k
# rows) is one hand-over; a first read of 3 hours (~1.8 M rows) is seven.
DEFAULT_FLUSH_ROWS = 250_000
GET_METRIC_DATA = "cloudwatch:GetMetricData"  # calls are counted by IAM action
LIST_METRICS = "cloudwatch:ListMetrics"

SeriesKey = tuple[str, str, str, str, int]  # (namespace, metric, dimensions, stat, period_s)


# -- the catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of a resource kind, read with each of ``stats`` at ``period`` seconds.

    ``only_if`` names a boolean attribute of the resource record (e.g. ``is_async``): the metric
    is requested only for resources where it is true, since every query is billed.
    """

    metric: str
    stats: tuple[str, ...]
    period: int = DEFAULT_PERIOD
    only_if: str | None = None


@dataclass(frozen=True, slots=True)
class KindSpec:
    """The metrics of one inventory kind (``lambda``, ``sqs``, ...) in its AWS namespace."""

    kind: str
    namespace: str
    resource_prefix: str  # the ``resource`` column: "<prefix>:<name>"
    dimensions: Callable[[Any], dict[str, str]]
    metrics: tuple[MetricSpec, ...]
    resource_name: Callable[[Any], str] = lambda record: str(record.name)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What to read: AWS namespaces per resource kind, and how to read application metrics.

    Application metrics are found with ``ListMetrics`` (their dimensions are the application's
    choice); each is read with ``app_stats[metric]`` or, failing that, ``app_default_stats``.
    """

    kinds: tuple[KindSpec, ...]
    app_stats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    app_default_stats: tuple[str, ...] = ("Sum",)
    app_period: int = DEFAULT_PERIOD


def _rule_dimensions(rule: Any) -> dict[str, str]:
    # AWS/Events adds EventBusName for rules on a custom bus.
    dims = {"RuleName": rule.name}
    if rule.event_bus != "default":
        dims["EventBusName"] = rule.event_bus
    return dims


_SUM = ("Sum",)
_MAX = ("Maximum",)

CATALOG = Catalog(
    kinds=(
        KindSpec(
            "lambda",
            "AWS/Lambda",
            "lambda",
            lambda f: {"FunctionName": f.name},
            (
                MetricSpec("Invocations", _SUM),
                MetricSpec("Errors", _SUM),
                MetricSpec("Throttles", _SUM),
                MetricSpec("Duration", ("p50", "p99", "Average")),
                MetricSpec("ConcurrentExecutions", _MAX),
                MetricSpec("AsyncEventsReceived", _SUM, only_if="is_async"),
                MetricSpec("AsyncEventAge", ("Maximum", "Average"), only_if="is_async"),
                MetricSpec("AsyncEventsDropped", _SUM, only_if="is_async"),
                MetricSpec("DeadLetterErrors", _SUM, only_if="is_async"),
                MetricSpec("DestinationDeliveryFailures", _SUM, only_if="is_async"),
            ),
        ),
        KindSpec(
            "sqs",
            "AWS/SQS",
            "sqs",
            lambda q: {"QueueName": q.name},
            (
                MetricSpec("NumberOfMessagesSent", _SUM),
                MetricSpec("NumberOfMessagesReceived", _SUM),
                MetricSpec("NumberOfMessagesDeleted", _SUM),
                MetricSpec("ApproximateNumberOfMessagesVisible", _MAX),
                MetricSpec("ApproximateNumberOfMessagesNotVisible", _MAX),
                MetricSpec("ApproximateAgeOfOldestMessage", _MAX),
            ),
        ),
        KindSpec(
            "events-rule",
            "AWS/Events",
            "events",
            _rule_dimensions,
            (
                MetricSpec("Invocations", _SUM),
                MetricSpec("FailedInvocations", _SUM),
                MetricSpec("RetryInvocationAttempts", _SUM),
                MetricSpec("InvocationsSentToDlq", _SUM),
            ),
            resource_name=lambda r: str(r.qualified_name),
        ),
        KindSpec(
            "state-machine",
            "AWS/States",
            "states",
            lambda m: {"StateMachineArn": m.arn},
            (
                MetricSpec("ExecutionsStarted", _SUM),
                MetricSpec("ExecutionsSucceeded", _SUM),
                MetricSpec("ExecutionsFailed", _SUM),
                MetricSpec("ExecutionsTimedOut", _SUM),
                MetricSpec("ExecutionThrottled", _SUM),
            ),
        ),
        KindSpec(
            "dynamodb-table",
            "AWS/DynamoDB",
            "dynamodb",
            lambda t: {"TableName": t.name},
            # ThrottledRequests is published per TableName *and* Operation on AWS, so it is not
            # read here; the two throttle-event metrics carry TableName alone.
            (
                MetricSpec("ReadThrottleEvents", _SUM),
                MetricSpec("WriteThrottleEvents", _SUM),
            ),
        ),
    ),
    app_stats={"CircuitBreakerState": _MAX},
)


# -- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One series to read: a metric, its dimensions (sorted by name), a statistic, a period."""

    account: str
    region: str
    resource: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int

    @property
    def dimensions_text(self) -> str:
        """The store's canonical form: ``Name=Value,...`` sorted by name."""
        return ",".join(f"{k}={v}" for k, v in self.dimensions)

    @property
    def key(self) -> SeriesKey:
        """The series' identity within an account and region (the store's key minus ``ts``)."""
        return (self.namespace, self.metric, self.dimensions_text, self.stat, self.period)

    @property
    def id(self) -> str:
        """A stable id, valid as a GetMetricData query id (``^[a-z][a-zA-Z0-9_]*$``)."""
        digest = hashlib.blake2b("\x1f".join(map(str, self.key)).encode(), digest_size=10)
        return f"s{digest.hexdigest()}"

    def metric_stat(self) -> dict[str, Any]:
        return {
            "Metric": {
                "Namespace": self.namespace,
                "MetricName": self.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            },
            "Period": self.period,
            "Stat": self.stat,
        }


def _sorted_dimensions(dims: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in dims.items()))


def app_resource(namespace: str, dims: Mapping[str, str]) -> str:
    """The ``resource`` of an application metric: ``breaker:<name>`` for a breaker,
    ``app:<Function>-><Dependency>`` for a call edge, ``app:<Function>``, else ``app:<ns>``."""
    if "Breaker" in dims:
        return f"breaker:{dims['Breaker']}"
    if "Function" in dims and "Dependency" in dims:
        return f"app:{dims['Function']}->{dims['Dependency']}"
    if "Function" in dims:
        return f"app:{dims['Function']}"
    if dims:
        return "app:" + ",".join(f"{k}={v}" for k, v in sorted(dims.items()))
    return f"app:{namespace}"


def plan_queries(
    inventory: Inventory,
    catalog: Catalog = CATALOG,
    listed_app_metrics: Iterable[Mapping[str, Any]] = (),
) -> list[MetricQuery]:
    """Every series to read for ``inventory``: the catalog's metrics of each discovered resource,
    then each listed application metric (``ListMetrics`` entries) with its catalog statistics.

    Pure and deterministic: the same inventory and listing give the same queries in the same
    order, each series once.
    """
    queries: dict[SeriesKey, MetricQuery] = {}

    def add(
        resource: str, namespace: str, metric: str, dims: Mapping[str, str], stat: str, period: int
    ) -> None:
        query = MetricQuery(
            inventory.account,
            inventory.region,
            resource,
            namespace,
            metric,
            _sorted_dimensions(dims),
            stat,
            period,
        )
        queries.setdefault(query.key, query)

    for spec in catalog.kinds:
        records = getattr(inventory, KINDS[spec.kind])
        for record in records:
            resource = f"{spec.resource_prefix}:{spec.resource_name(record)}"
            dims = spec.dimensions(record)
            for metric in spec.metrics:
                if metric.only_if is not None and not getattr(record, metric.only_if):
                    continue
                for stat in metric.stats:
                    add(resource, spec.namespace, metric.metric, dims, stat, metric.period)
    listed = sorted(
        (
            str(m["Namespace"]),
            str(m["MetricName"]),
            _sorted_dimensions({d["Name"]: d["Value"] for d in m.get("Dimensions") or ()}),
        )
        for m in listed_app_metrics
    )
    for namespace, name, pairs in listed:
        mapping = dict(pairs)
        for stat in catalog.app_stats.get(name, catalog.app_default_stats):
            add(
                app_resource(namespace, mapping), namespace, name, mapping, stat, catalog.app_period
            )
    return list(queries.values())


# -- windows -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A half-open time range ``[start, end)``, aware UTC."""

    start: datetime
    end: datetime


def _floor(moment: datetime, period: int) -> datetime:
    seconds = math.floor(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % period, UTC)


def retention(period: int) -> timedelta:
    """How long CloudWatch keeps datapoints of ``period`` seconds (then it aggregates them):
    under 60 s for 3 hours, 60 s for 15 days, 300 s for 63 days, 3600 s for 455 days.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#metrics-retention
    """
    if period < 60:
        return timedelta(hours=3)
    if period % 3600 == 0:
        return timedelta(days=455)
    if period % 300 == 0:
        return timedelta(days=63)
    return timedelta(days=15)


def metric_window(
    now: datetime,
    period: int,
    watermark: datetime | None,
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    max_lookback: timedelta = DEFAULT_MAX_LOOKBACK,
) -> Window | None:
    """The window to read for one series, or None when there is nothing to read yet.

    ``end`` is ``now`` rounded down to the period: the current period is still filling, and
    CloudWatch would return a partial aggregate for it. ``start`` is the watermark (the
    timestamp of the newest stored datapoint) minus ``overlap``, rounded down to the period:
    CloudWatch revises recent datapoints (late PutMetricData, AWS services publishing minutes
    late), and a re-read value replaces the stored one. Without a watermark, or with one older
    than the lookback, ``start`` is ``end - max_lookback``, itself capped by CloudWatch's
    retention for the period. Aligned starts also match CloudWatch's own rounding of StartTime
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
    """
    if now.tzinfo is None or (watermark is not None and watermark.tzinfo is None):
        raise ValueError("now and watermark must be timezone-aware (UTC)")
    end = _floor(now, period)
    earliest = _floor(end - min(max_lookback, retention(period)), period)
    start = earliest if watermark is None else max(_floor(watermark - overlap, period), earliest)
    if start >= end:
        return None
    return Window(start, end)


def watermarks_from(frame: pd.DataFrame, account: str, region: str) -> dict[SeriesKey, datetime]:
    """Latest stored ``ts`` per series of one account and region, from a ``metrics`` frame."""
    if frame.empty:
        return {}
    mine = frame[(frame["account"] == account) & (frame["region"] == region)]
    latest = mine.groupby(["namespace", "metric", "dimensions", "stat", "period_s"])["ts"].max()
    return {
        (str(ns), str(m), str(d), str(s), int(p)): pd.Timestamp(ts).to_pydatetime()
        for (ns, m, d, s, p), ts in latest.items()
    }


# -- batches -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """Up to 500 queries of one period for one GetMetricData call.

    Query ``i`` is sent with the id ``q<i>``, so each result maps back by position. ``windows``
    holds each query's own window when the batch mixes windows; the call reads their union
    (:attr:`window`) and each query keeps only the datapoints inside its own.
    """

    period: int
    queries: tuple[MetricQuery, ...]
    windows: tuple[Window, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.queries) <= MAX_QUERIES_PER_CALL:
            raise ValueError(
                f"a batch holds 1 to {MAX_QUERIES_PER_CALL} queries, got {len(self.queries)}"
            )
        if self.windows is not None and len(self.windows) != len(self.queries):
            raise ValueError("a batch needs one window per query")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f"q{i}" for i in range(len(self.queries)))

    @property
    def window(self) -> Window | None:
        """The union of the queries' windows (None when the batch carries none)."""
        if not self.windows:
            return None
        return Window(min(w.start for w in self.windows), max(w.end for w in self.windows))

    def query_for(self, query_id: str) -> MetricQuery:
        """The query sent as ``query_id`` (``q<i>``); KeyError for an id this batch never sent."""
        if not query_id.startswith("q") or not query_id[1:].isdigit():
            raise KeyError(query_id)
        index = int(query_id[1:])
        if index >= len(self.queries) or query_id != f"q{index}":
            raise KeyError(query_id)
        return self.queries[index]

    def request(self) -> list[dict[str, Any]]:
        """The ``MetricDataQueries`` parameter."""
        return [
            {"Id": qid, "MetricStat": q.metric_stat(), "ReturnData": True}
            for qid, q in zip(self.ids, self.queries, strict=True)
        ]


def batches(
    queries: Sequence[MetricQuery],
    max_per_call: int = MAX_QUERIES_PER_CALL,
    *,
    windows: Mapping[SeriesKey, Window] | None = None,
) -> list[Batch]:
    """Pack ``queries`` into batches of at most ``max_per_call``, one period per batch.

    With ``windows`` (per series key; a query without one is left out, it has nothing to read)
    the queries of a period are ordered by window start before slicing, so each batch holds
    series of similar age and its union window stays tight; the number of batches is still
    ``⌈queries ⁄ max_per_call⌉`` per period, the floor.
    """
    if not 0 < max_per_call <= MAX_QUERIES_PER_CALL:
        raise ValueError(f"max_per_call must be 1 to {MAX_QUERIES_PER_CALL}, got {max_per_call}")
    by_period: dict[int, list[MetricQuery]] = {}
    for query in queries:
        if windows is not None and query.key not in windows:
            continue
        by_period.setdefault(query.period, []).append(query)
    out: list[Batch] = []
    for period in sorted(by_period):
        group = by_period[period]
        if windows is not None:
            group = sorted(group, key=lambda q: windows[q.key].start)
        for first in range(0, len(group), max_per_call):
            chunk = tuple(group[first : first + max_per_call])
            chunk_windows = tuple(windows[q.key] for q in chunk) if windows is not None else None
            out.append(Batch(period, chunk, chunk_windows))
    return out


# -- the shell: AWS calls ------------------------------------------------------------------------


def _empty_metrics() -> pd.DataFrame:
    return _metrics_frame([], [], [], [])


def _metrics_frame(
    queries: list[MetricQuery],
    counts: list[int],
    stamps: list[np.ndarray],
    values: list[np.ndarray],
) -> pd.DataFrame:
    """Rows in :data:`~collectors.schema.METRICS` order and types; ``counts[i]`` rows of
    ``queries[i]``, their epoch-second ``stamps`` and ``values`` concatenated."""
    repeat = np.asarray(counts, dtype=np.int64)

    def column(attr: str) -> np.ndarray:
        return np.repeat(np.array([getattr(q, attr) for q in queries], dtype=object), repeat)

    ts = np.concatenate(stamps) if stamps else np.array([], dtype=np.int64)
    frame = pd.DataFrame(
        {
            "account": column("account"),
            "region": column("region"),
            "namespace": column("namespace"),
            "metric": column("metric"),
            "dimensions": column("dimensions_text"),
            "stat": column("stat"),
            "period_s": np.repeat(np.array([q.period for q in queries], dtype=np.int32), repeat),
            "ts": pd.to_datetime(ts.astype(np.int64) * 1000, unit="ms", utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            "resource": column("resource"),
            "value": np.concatenate(values).astype(np.float64) if values else np.array([]),
        }
    )
    return frame[METRICS.columns].astype(_metrics_dtypes())


@functools.cache
def _metrics_dtypes() -> dict[str, Any]:
    """The dtypes every source's frames carry (:func:`collectors._frame.to_frame`)."""
    return dict(to_frame(METRICS, []).dtypes)


def fetch(
    client: Any,
    batch: Batch,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    max_datapoints: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """Read one batch with GetMetricData, following ``NextToken``; returns rows and calls made.

    ``[start, end)`` defaults to the batch's union window. Results are mapped back to queries
    by id and merged across pages (each page continues each result where the last stopped);
    ``ScanBy=TimestampAscending``. With per-query windows, each query keeps only datapoints in
    its own window. ``max_datapoints`` is GetMetricData's page size (None: AWS's default,
    100,800); a smaller one only adds pages. A result that is ``Forbidden`` or
    ``InternalError`` raises :class:`SourceError`: a failed series is never stored as empty.
    """
    window = batch.window
    start = start or (window.start if window else None)
    end = end or (window.end if window else None)
    if start is None or end is None:
        raise ValueError("fetch needs start and end, or a batch carrying windows")
    account, region = batch.queries[0].account, batch.queries[0].region
    params: dict[str, Any] = {
        "MetricDataQueries": batch.request(),
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    if max_datapoints is not None:
        params["MaxDatapoints"] = max_datapoints
    stamps: dict[str, list[Any]] = {qid: [] for qid in batch.ids}
    values: dict[str, list[Any]] = {qid: [] for qid in batch.ids}
    calls = 0
    token: str | None = None
    while True:
        calls += 1
        try:
            page = client.get_metric_data(**params, **({"NextToken": token} if token else {}))
        except (ClientError, BotoCoreError) as exc:
            raise classify(
                exc,
                service="cloudwatch",
                operation="GetMetricData",
                account=account,
                region=region,
            ) from exc
        for result in page.get("MetricDataResults", []):
            qid = result["Id"]
            try:
                query = batch.query_for(qid)
            except KeyError:
                raise SourceError(
                    f"cloudwatch ({account}, {region}): GetMetricData answered id {qid!r}, "
                    f"which the batch of {len(batch.queries)} never sent",
                    kind="invalid",
                ) from None
            status = result.get("StatusCode", "Complete")
            if status in ("Forbidden", "InternalError"):
                messages = "; ".join(m.get("Value", "") for m in result.get("Messages") or ())
                raise SourceError(
                    f"cloudwatch ({account}, {region}): {query.namespace} {query.metric} "
                    f"{query.dimensions_text} {query.stat}: {status} {messages}".rstrip(),
                    kind="access-denied" if status == "Forbidden" else "other",
                )
            stamps[qid].extend(result.get("Timestamps") or ())
            values[qid].extend(result.get("Values") or ())
        token = page.get("NextToken")
        if not token:
            break
    frame_queries: list[MetricQuery] = []
    counts: list[int] = []
    all_stamps: list[np.ndarray] = []
    all_values: list[np.ndarray] = []
    for index, qid in enumerate(batch.ids):
        ts = _epochs(stamps[qid])
        vs = np.asarray(values[qid], dtype=np.float64)
        if batch.windows is not None:
            own = batch.windows[index]
            keep = (ts >= _epoch(own.start)) & (ts < _epoch(own.end))
            ts, vs = ts[keep], vs[keep]
        if ts.size:
            frame_queries.append(batch.queries[index])
            counts.append(int(ts.size))
            all_stamps.append(ts)
            all_values.append(vs)
    return _metrics_frame(frame_queries, counts, all_stamps, all_values), calls


def _epoch(moment: Any) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return math.floor(float(moment.timestamp()))
    return math.floor(float(moment))


def _epochs(stamps: Sequence[Any]) -> np.ndarray:
    """GetMetricData timestamps as int epoch seconds.

    botocore parses them into aware datetimes by default; a client whose session sets
    ``timestamp_parser`` to pass raw values through (much faster for large reads: botocore's
    default spends most of a big GetMetricData call building ``tzlocal`` datetimes) hands over
    epoch numbers (JSON, CBOR) or ISO 8601 strings (query protocol). All are accepted.
    """
    if not stamps:
        return np.array([], dtype=np.int64)
    first = stamps[0]
    if isinstance(first, datetime):
        if first.tzinfo is None:
            return np.array([_epoch(t) for t in stamps], dtype=np.int64)
        seconds = np.fromiter((t.timestamp() for t in stamps), np.float64, len(stamps))
    elif isinstance(first, int | float):
        seconds = np.asarray(stamps, dtype=np.float64)
    else:
        parsed = pd.to_datetime(pd.Series(stamps), utc=True, format="ISO8601")
        return np.asarray(parsed.astype("datetime64[s, UTC]").astype("int64"), dtype=np.int64)
    return np.floor(seconds).astype(np.int64)


def list_app_metrics(
    client: Any, namespaces: Iterable[str], *, account: str = "?", region: str = "?"
) -> tuple[list[dict[str, Any]], int]:
    """Every metric of each namespace (``ListMetrics``, paginated); returns them and the calls.

    ListMetrics returns metrics with datapoints in the past two weeks.
    """
    metrics: list[dict[str, Any]] = []
    calls = 0
    for namespace in namespaces:
        try:
            for page in client.get_paginator("list_metrics").paginate(Namespace=namespace):
                calls += 1
                metrics.extend(page.get("Metrics", []))
        except (ClientError, BotoCoreError) as exc:
            calls += 1
            raise classify(
                exc,
                service="cloudwatch",
                operation="ListMetrics",
                account=account,
                region=region,
            ) from exc
    return metrics, calls


# -- a cycle -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStats:
    """What a collection cycle cost and read."""

    calls: Mapping[str, int]  # API calls by IAM action ("cloudwatch:GetMetricData")
    queries: int  # series planned
    read: int  # series with something to read this cycle (the rest are up to date)
    batches: int
    datapoints: int  # rows returned (after each series' own window)

    @property
    def floor(self) -> int:
        """GetMetricData calls without pagination: one per batch."""
        return self.batches

    @property
    def pages(self) -> int:
        """GetMetricData calls beyond the floor, made by following NextToken."""
        return self.calls.get(GET_METRIC_DATA, 0) - self.batches


def collect_metrics(
    client: Any,
    inventory: Inventory,
    *,
    watermarks: Mapping[SeriesKey, datetime],
    now: datetime,
    overlap: timedelta = DEFAULT_OVERLAP,
    max_lookback: timedelta = DEFAULT_MAX_LOOKBACK,
    catalog: Catalog = CATALOG,
    app_namespaces: Sequence[str] = DEFAULT_APP_NAMESPACES,
    max_per_call: int = MAX_QUERIES_PER_CALL,
    max_datapoints: int | None = None,
    sink: Callable[[pd.DataFrame], None] | None = None,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
) -> tuple[pd.DataFrame, CallStats]:
    """One incremental CloudWatch cycle for ``inventory``'s account and region.

    ``client`` is a CloudWatch client in that account and region. Lists ``app_namespaces``
    (any namespaces; the default is the sandbox application's), plans the queries, computes
    each series' window from ``watermarks`` (see :func:`metric_window`), packs the series 500 to
    a call and reads them. Returns rows of :data:`~collectors.schema.METRICS` (a re-read
    datapoint is meant to replace the stored one, by the table's key) and the call counts.

    Windows: series in one call share StartTime/EndTime. Rather than one call per distinct
    window (which would multiply calls whenever watermarks differ, e.g. for sparse Lambda
    series), each call reads the union of its series' windows and each series keeps only its
    own; series are sorted by window start before packing so the unions stay tight. The number
    of GetMetricData calls is therefore ``⌈series ⁄ 500⌉`` per period (the floor) plus the pages
    ``NextToken`` adds, and no datapoint outside a series' window is returned.

    With ``sink``, rows are handed over as they are read instead of returned: whenever at least
    ``flush_rows`` have been read since the last hand-over (and once at the end), so a large
    first read never sits in memory whole. Every series' rows go in one hand-over (a series
    lives in one batch, and a batch in one hand-over), so a caller that stores each hand-over
    atomically advances a series' watermark only with all of its rows. When a batch fails, the
    rows read before it are handed over, then the error is raised. The returned frame is then
    empty; ``CallStats.datapoints`` still counts every row.
    """
    listed, list_calls = list_app_metrics(
        client, app_namespaces, account=inventory.account, region=inventory.region
    )
    queries = plan_queries(inventory, catalog, listed)
    windows: dict[SeriesKey, Window] = {}
    for query in queries:
        window = metric_window(
            now,
            query.period,
            watermarks.get(query.key),
            overlap=overlap,
            max_lookback=max_lookback,
        )
        if window is not None:
            windows[query.key] = window
    plan = batches(queries, max_per_call, windows=windows)
    frames: list[pd.DataFrame] = []
    pending = datapoints = 0
    calls: Counter[str] = Counter({LIST_METRICS: list_calls})

    def hand_over() -> None:
        nonlocal frames, pending
        if sink is not None and frames:
            ready, frames, pending = _concat(frames), [], 0
            sink(ready)

    for batch in plan:
        try:
            frame, made = fetch(client, batch, max_datapoints=max_datapoints)
        except SourceError:
            try:
                hand_over()  # what was read before the failure is good: keep it
            except Exception:  # the batch's own error is the one to report
                log.warning("metrics read before a failed batch were not stored", exc_info=True)
            raise
        calls[GET_METRIC_DATA] += made
        if frame.empty:
            continue
        frames.append(frame)
        pending += len(frame)
        datapoints += len(frame)
        if pending >= flush_rows:
            hand_over()
    hand_over()
    stats = CallStats(
        calls=dict(calls),
        queries=len(queries),
        read=len(windows),
        batches=len(plan),
        datapoints=datapoints,
    )
    return _concat(frames), stats


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return _empty_metrics()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
