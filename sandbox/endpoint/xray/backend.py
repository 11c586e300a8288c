"""The sandbox's X-Ray backend: one per (account, region), operations in boto3's shapes.

Each operation takes ``params`` shaped like the boto3 client kwargs (botocore input shape,
timestamps as aware UTC datetimes) and returns a dict in the botocore output shape; errors are
:class:`~sandbox.endpoint.errors.AwsError` subclasses. Nothing here reads the wall clock: the
request's ``ctx.now`` is the time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.endpoint.xray.exceptions import InvalidRequestException, constraint_error
from sandbox.endpoint.xray.filter_expressions import (
    Expression,
    parse_entity_selector,
    parse_filter_expression,
)
from sandbox.endpoint.xray.segments import TRACE_ID_RE, SegmentStore
from sandbox.endpoint.xray.service_graph import (
    build_service_graph,
    time_series,
    to_datetime,
    visits_in_window,
)
from sandbox.endpoint.xray.traces import NodeId, TraceView, full_trace_segments

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sandbox.endpoint.context import RequestContext

# BatchGetTraces "TraceIds ... Array Members: Minimum number of 1 item. Maximum number of 5 items."
MAX_BATCH_TRACE_IDS = 5
# GetTraceSummaries answers at most one day per call. The API reference does not state it;
# X-Ray rejects longer ranges with InvalidRequestException (collectors split by day).
MAX_SUMMARY_RANGE_SECONDS = 24 * 3600
SUMMARIES_PAGE_SIZE = 100
TIME_RANGE_TYPES = ("TraceId", "Event", "Service")
# Sampling=True without a SamplingStrategy: the fraction of traces returned (our choice).
DEFAULT_SAMPLING_RATE = 0.1
DEFAULT_GROUP = "Default"

XRAY_OPERATIONS = {
    "PutTraceSegments": "put_trace_segments",
    "BatchGetTraces": "batch_get_traces",
    "GetTraceSummaries": "get_trace_summaries",
    "GetServiceGraph": "get_service_graph",
    "GetTraceGraph": "get_trace_graph",
    "GetTimeSeriesServiceStatistics": "get_time_series_service_statistics",
}


class XRayBackend:
    """Segments, traces, service graph and statistics of one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.store = SegmentStore(account_id)
        self._groups: dict[str, Expression] = {}
        self._groups_lock = threading.Lock()

    # --- writes -------------------------------------------------------------------------------

    def put_trace_segments(self, params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Store documents; malformed ones come back in ``UnprocessedTraceSegments``."""
        documents = params.get("TraceSegmentDocuments")
        if not isinstance(documents, list):
            raise InvalidRequestException("TraceSegmentDocuments is required and must be a list")
        _stored, unprocessed = self.store.put(documents, received_at=ctx.now.timestamp())
        return {"UnprocessedTraceSegments": unprocessed}

    def add_segment_documents(self, docs: Iterable[dict[str, Any] | str]) -> int:
        """Direct write for the simulated world's backfill → number of entities stored.

        Malformed documents are skipped (compare the count with what was sent); each document
        counts as received when it ended.
        """
        stored, _unprocessed = self.store.put(docs)
        return stored

    def set_group(self, name: str, filter_expression: str | None) -> None:
        """Register (None: remove) a group's filter expression for ``GroupName``/``GroupARN``."""
        with self._groups_lock:
            if filter_expression is None:
                self._groups.pop(name, None)
            else:
                self._groups[name] = parse_filter_expression(filter_expression)

    # --- reads --------------------------------------------------------------------------------

    def batch_get_traces(self, params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Full traces: merged segment documents plus inferred segments, as JSON strings.

        Trace ids that are well formed but unknown are left out of ``Traces`` (X-Ray returns
        no trace for them); malformed ids are listed in ``UnprocessedTraceIds``.
        """
        trace_ids = params.get("TraceIds")
        if not isinstance(trace_ids, list) or not trace_ids:
            raise constraint_error(
                trace_ids, "traceIds", "Member must have length greater than or equal to 1"
            )
        if len(trace_ids) > MAX_BATCH_TRACE_IDS:
            raise constraint_error(
                trace_ids,
                "traceIds",
                f"Member must have length less than or equal to {MAX_BATCH_TRACE_IDS}",
            )
        traces, unprocessed = [], []
        for trace_id in dict.fromkeys(trace_ids):
            if not isinstance(trace_id, str) or not TRACE_ID_RE.match(trace_id):
                unprocessed.append(str(trace_id))
                continue
            view = self.store.view(trace_id)
            documents = self.store.documents(trace_id)
            if view is None or documents is None:
                continue
            segments = full_trace_segments(trace_id, documents, account_id=self.account_id)
            trace: dict[str, Any] = {
                "Id": trace_id,
                "LimitExceeded": False,
                "Segments": [
                    {"Id": str(doc["id"]), "Document": json.dumps(doc, separators=(",", ":"))}
                    for doc in segments
                ],
            }
            if view.duration is not None:
                trace["Duration"] = round(view.duration, 3)
            traces.append(trace)
        return {"Traces": traces, "UnprocessedTraceIds": unprocessed}

    def get_trace_summaries(self, params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Trace summaries in a time range, filtered, 100 per page (``NextToken``).

        ``TimeRangeType``: ``TraceId`` (default) selects by the request time in the trace id,
        ``Event`` by when the trace was last updated, ``Service`` by segment end times.
        Summaries are ordered by trace start time, then id.
        """
        start, end = _window(params)
        if end - start > MAX_SUMMARY_RANGE_SECONDS:
            raise InvalidRequestException(
                "Time range too long: GetTraceSummaries accepts at most 24 hours between StartTime "
                f"and EndTime (got {(end - start) / 3600:.1f} hours)"
            )
        range_type = params.get("TimeRangeType") or "TraceId"
        if range_type not in TIME_RANGE_TYPES:
            raise constraint_error(
                range_type,
                "timeRangeType",
                f"Member must satisfy enum value set: [{', '.join(TIME_RANGE_TYPES)}]",
            )
        expression = params.get("FilterExpression")
        matcher = parse_filter_expression(expression) if expression else None
        rate = _sampling_rate(params)
        query_hash = _fingerprint(start, end, range_type, expression, rate)
        after = _decode_token(params.get("NextToken"), query_hash)

        views = self._summary_candidates(range_type, start, end)
        scanned = len(views)
        selected = [
            view
            for view in views
            if (matcher is None or matcher.matches(view))
            and (rate >= 1.0 or _sampled(view.trace_id, rate))
        ]
        selected.sort(key=lambda view: (view.start, view.trace_id))
        if after is not None:
            selected = [view for view in selected if (view.start, view.trace_id) > after]
        page = selected[:SUMMARIES_PAGE_SIZE]
        result: dict[str, Any] = {
            "TraceSummaries": [self._summary(view) for view in page],
            "ApproximateTime": to_datetime(min(end, ctx.now.timestamp())),
            "TracesProcessedCount": scanned,
        }
        if len(selected) > SUMMARIES_PAGE_SIZE:
            last = page[-1]
            result["NextToken"] = _encode_token((last.start, last.trace_id), query_hash)
        return result

    def get_service_graph(self, params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Services and edges for requests that completed in ``[StartTime, EndTime)``."""
        start, end = _window(params)
        views = self._window_views(start, end, self._group(params))
        return {
            "StartTime": params["StartTime"],
            "EndTime": params["EndTime"],
            "Services": build_service_graph(visits_in_window(views, start, end)),
            "ContainsOldGroupVersions": False,
        }

    def get_trace_graph(self, params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """The service graph of the given traces (completed segments only)."""
        trace_ids = params.get("TraceIds")
        if not isinstance(trace_ids, list) or not trace_ids:
            raise constraint_error(
                trace_ids, "traceIds", "Member must have length greater than or equal to 1"
            )
        views = self.store.views(str(trace_id) for trace_id in dict.fromkeys(trace_ids))
        return {"Services": build_service_graph(visits_in_window(views, -math.inf, math.inf))}

    def get_time_series_service_statistics(
        self, params: Mapping[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        """Per-period statistics of one service or edge (or of every edge without a selector)."""
        start, end = _window(params)
        period = params.get("Period")
        period = 60 if period is None else period
        if not isinstance(period, int) or period <= 0 or period % 60:
            raise InvalidRequestException(
                f"Period must be a positive multiple of 60 seconds, got {period}"
            )
        expression = params.get("EntitySelectorExpression")
        selector = parse_entity_selector(expression) if expression else None
        views = self._window_views(start, end, self._group(params))
        return {
            "TimeSeriesServiceStatistics": time_series(
                visits_in_window(views, start, end), period, selector
            ),
            "ContainsOldGroupVersions": False,
        }

    # --- helpers ------------------------------------------------------------------------------

    def _group(self, params: Mapping[str, Any]) -> Expression | None:
        name = params.get("GroupName")
        arn = params.get("GroupARN")
        if name is None and isinstance(arn, str):
            # arn:aws:xray:<region>:<account>:group/<name>/<id>
            parts = arn.split(":", 5)[-1].split("/")
            name = parts[1] if len(parts) > 1 else None
        if name is None or name == DEFAULT_GROUP:
            return None
        with self._groups_lock:
            group = self._groups.get(name)
        if group is None:
            raise InvalidRequestException(f"Group not found: {name}")
        return group

    def _window_views(self, start: float, end: float, group: Expression | None) -> list[TraceView]:
        views = self.store.views(self.store.trace_ids_overlapping(start, end))
        return views if group is None else [view for view in views if group.matches(view)]

    def _summary_candidates(self, range_type: str, start: float, end: float) -> list[TraceView]:
        if range_type == "TraceId":
            return self.store.views(self.store.trace_ids_by_epoch(start, end))
        if range_type == "Event":
            return self.store.views(self.store.trace_ids_updated(start, end))
        candidates = self.store.views(self.store.trace_ids_overlapping(start, end))
        return [
            view
            for view in candidates
            if any(
                v.end is not None and not v.inferred and start <= v.end < end for v in view.visits
            )
        ]

    def _summary(self, view: TraceView) -> dict[str, Any]:
        """A ``TraceSummary`` (root causes are not computed)."""
        summary: dict[str, Any] = {
            "Id": view.trace_id,
            "StartTime": to_datetime(view.start),
            "HasFault": view.has_fault,
            "HasError": view.has_error,
            "HasThrottle": view.has_throttle,
            "IsPartial": view.partial,
            "Annotations": _annotations(view),
            "Users": _users(view),
            "ServiceIds": [node.service_id() for node in sorted(view.nodes, key=_node_order)],
            "ResourceARNs": [{"ARN": arn} for arn in view.resource_arns],
            "InstanceIds": [{"Id": instance} for instance in view.instance_ids],
            "AvailabilityZones": [{"Name": zone} for zone in view.availability_zones],
            "Revision": view.revision,
        }
        # X-Ray reports times to the millisecond (e.g. "ResponseTime": 0.084).
        if view.duration is not None:
            summary["Duration"] = round(view.duration, 3)
        if view.response_time is not None:
            summary["ResponseTime"] = round(view.response_time, 3)
        if view.root is not None:
            summary["EntryPoint"] = view.root.node.service_id()
            http = view.root.http
            fields = {
                "HttpURL": http.url,
                "HttpStatus": http.status,
                "HttpMethod": http.method,
                "UserAgent": http.user_agent,
                "ClientIp": http.client_ip,
            }
            http_summary = {key: value for key, value in fields.items() if value is not None}
            if http_summary:
                summary["Http"] = http_summary
        return summary


def _window(params: Mapping[str, Any]) -> tuple[float, float]:
    start, end = params.get("StartTime"), params.get("EndTime")
    for name, value in (("StartTime", start), ("EndTime", end)):
        if not isinstance(value, datetime):
            raise InvalidRequestException(f"{name} is required")
    assert isinstance(start, datetime) and isinstance(end, datetime)
    start_ts = _aware(start).timestamp()
    end_ts = _aware(end).timestamp()
    if start_ts > end_ts:
        raise InvalidRequestException("StartTime must be before EndTime")
    return start_ts, end_ts


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _annotations(view: TraceView) -> dict[str, list[dict[str, Any]]]:
    """``Annotations``: per key, each distinct value with the services that recorded it."""
    grouped: dict[str, dict[tuple[str, Any], list[NodeId]]] = {}
    for key, value, node in view.annotations:
        if isinstance(value, bool):
            typed: tuple[str, Any] = ("BooleanValue", value)
        elif isinstance(value, int | float):
            typed = ("NumberValue", float(value))
        elif isinstance(value, str):
            typed = ("StringValue", value)
        else:
            continue  # "Fields can have string, number, or Boolean values (no objects or arrays)"
        nodes = grouped.setdefault(key, {}).setdefault(typed, [])
        if node is not None and node not in nodes:
            nodes.append(node)
    return {
        key: [
            {"AnnotationValue": {kind: value}, "ServiceIds": [node.service_id() for node in nodes]}
            for (kind, value), nodes in values.items()
        ]
        for key, values in grouped.items()
    }


def _node_order(node: NodeId) -> tuple[str, str, str]:
    return node.name, node.type or "", node.account


def _users(view: TraceView) -> list[dict[str, Any]]:
    grouped: dict[str, list[NodeId]] = {}
    for user, node in view.users:
        nodes = grouped.setdefault(user, [])
        if node not in nodes:
            nodes.append(node)
    return [
        {"UserName": user, "ServiceIds": [node.service_id() for node in nodes]}
        for user, nodes in grouped.items()
    ]


def _sampling_rate(params: Mapping[str, Any]) -> float:
    if not params.get("Sampling"):
        return 1.0
    strategy = params.get("SamplingStrategy") or {}
    value = strategy.get("Value")
    if value is None:
        return DEFAULT_SAMPLING_RATE
    if not isinstance(value, int | float) or not 0 < value <= 1:
        raise InvalidRequestException(f"SamplingStrategy Value must be in (0, 1], got {value}")
    return float(value)


def _sampled(trace_id: str, rate: float) -> bool:
    """A deterministic subset: the same traces are sampled on every page and every call."""
    digest = hashlib.sha1(trace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


def _encode_token(after: tuple[float, str], query_hash: str) -> str:
    payload = json.dumps({"q": query_hash, "s": after[0], "t": after[1]}).encode()
    return base64.urlsafe_b64encode(payload).decode()


def _decode_token(token: Any, query_hash: str) -> tuple[float, str] | None:
    if token is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if payload["q"] != query_hash:
            raise ValueError("token belongs to another query")
        return float(payload["s"]), str(payload["t"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequestException(f"Invalid NextToken: {token}") from exc
