"""GetServiceGraph and GetTimeSeriesServiceStatistics: statistics over compiled traces.

Counting follows X-Ray's statistics structures: each completed request is exactly one of ok,
error (4xx, ``ErrorStatistics.OtherCount``), throttle (429, ``ErrorStatistics.ThrottleCount``,
also in ``ErrorStatistics.TotalCount``) or fault (5xx, ``FaultStatistics``); ``TotalCount`` is
their sum and ``TotalResponseTime`` the sum of their durations in seconds.

- A **service** node counts the visits it handled: its segments, or for an inferred node the
  subsegments that called it.
- An **edge** caller → callee counts the callee's visits on that edge: the callee segment for
  an instrumented callee, the caller's subsegment (flags of nested subsegments included) for
  an inferred one. Root segments get an edge from a ``client`` node named after the service.

**Time window.** A visit belongs to ``[StartTime, EndTime)`` when it *ended* in it: the
statistics describe completed requests ("TotalCount – the total number of completed
requests"), so in-progress segments are never counted, and a request is counted once, in the
window (or time-series bucket) where it completed.

Histogram values are response times rounded to the millisecond, with their counts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.endpoint.xray.traces import NodeId, Status, TraceView, Visit

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sandbox.endpoint.xray.filter_expressions import EntitySelector


def to_datetime(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


@dataclass(slots=True)
class Stats:
    """Running statistics of a set of visits (a node, an edge, or a time-series bucket)."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # indexed by Status
    total_response_time: float = 0.0
    first_start: float = math.inf
    last_end: float = -math.inf
    histogram: Counter[float] = field(default_factory=Counter)

    def add(self, visit: Visit) -> None:
        duration = visit.duration or 0.0
        self.counts[visit.status] += 1
        self.total_response_time += duration
        self.first_start = min(self.first_start, visit.start)
        self.last_end = max(self.last_end, visit.end if visit.end is not None else visit.start)
        self.histogram[round(duration, 3)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts)

    def summary(self) -> dict[str, Any]:
        """``EdgeStatistics`` / ``ServiceStatistics`` (the two shapes are identical)."""
        ok, error, throttle, fault = (self.counts[status] for status in Status)
        return {
            "OkCount": ok,
            "ErrorStatistics": {
                "ThrottleCount": throttle,
                "OtherCount": error,
                "TotalCount": error + throttle,
            },
            "FaultStatistics": {"OtherCount": fault, "TotalCount": fault},
            "TotalCount": self.total,
            "TotalResponseTime": round(self.total_response_time, 3),
        }

    def histogram_entries(self) -> list[dict[str, Any]]:
        return [{"Value": value, "Count": count} for value, count in sorted(self.histogram.items())]

    def merge_times(self, other: Stats) -> None:
        self.first_start = min(self.first_start, other.first_start)
        self.last_end = max(self.last_end, other.last_end)


def visits_in_window(views: Iterable[TraceView], start: float, end: float) -> Iterator[Visit]:
    """Completed visits that ended in ``[start, end)`` (epoch seconds)."""
    for view in views:
        for visit in view.visits:
            if visit.end is not None and start <= visit.end < end:
                yield visit


def build_service_graph(visits: Iterable[Visit]) -> list[dict[str, Any]]:
    """The ``Services`` list of GetServiceGraph / GetTraceGraph for the given visits."""
    nodes: dict[NodeId, Stats] = {}
    clients: dict[NodeId, Stats] = {}  # root service → statistics of the client's edge to it
    edges: dict[tuple[NodeId, NodeId], Stats] = {}
    for visit in visits:
        _stats(nodes, visit.node).add(visit)
        if visit.root:
            _stats(clients, visit.node).add(visit)
        elif visit.caller is not None:
            _stats(edges, (visit.caller, visit.node)).add(visit)
            _stats(nodes, visit.caller)

    # Reference ids in a stable order: by name, then type (a client sorts before its service).
    keyed: list[tuple[tuple[str, str, str, int], NodeId, bool]] = [
        ((node.name, node.type or "", node.account, 1), node, False) for node in nodes
    ]
    keyed += [((node.name, "client", node.account, 0), node, True) for node in clients]
    keyed.sort(key=lambda item: item[0])
    reference = {(node, is_client): ref for ref, (_key, node, is_client) in enumerate(keyed)}

    outgoing: dict[NodeId, list[tuple[NodeId, Stats]]] = {}
    for (caller, callee), stats in edges.items():
        outgoing.setdefault(caller, []).append((callee, stats))

    services = []
    for _key, node, is_client in keyed:
        if is_client:
            services.append(
                _client_node(reference[(node, True)], node, reference[(node, False)], clients[node])
            )
            continue
        stats = nodes[node]
        node_edges = sorted(outgoing.get(node, []), key=lambda item: reference[(item[0], False)])
        services.append(
            _service_node(
                reference[(node, False)], node, node in clients, stats, node_edges, reference
            )
        )
    return services


def _stats(table: dict[Any, Stats], key: Any) -> Stats:
    stats = table.get(key)
    if stats is None:
        stats = table[key] = Stats()
    return stats


def _edge(reference_id: int, stats: Stats) -> dict[str, Any]:
    return {
        "ReferenceId": reference_id,
        "StartTime": to_datetime(stats.first_start),
        "EndTime": to_datetime(stats.last_end),
        "SummaryStatistics": stats.summary(),
        "ResponseTimeHistogram": stats.histogram_entries(),
        "Aliases": [],
    }


def _client_node(reference_id: int, service: NodeId, target: int, stats: Stats) -> dict[str, Any]:
    # X-Ray draws one client per root service, named after it, with State "unknown" and no
    # statistics of its own: its single edge carries the root segments' statistics.
    return {
        "ReferenceId": reference_id,
        "Name": service.name,
        "Names": [service.name],
        "AccountId": service.account,
        "Type": "client",
        "State": "unknown",
        "StartTime": to_datetime(stats.first_start),
        "EndTime": to_datetime(stats.last_end),
        "Edges": [_edge(target, stats)],
    }


def _service_node(
    reference_id: int,
    node: NodeId,
    root: bool,
    stats: Stats,
    node_edges: list[tuple[NodeId, Stats]],
    reference: dict[tuple[NodeId, bool], int],
) -> dict[str, Any]:
    times = Stats(first_start=stats.first_start, last_end=stats.last_end)
    for _callee, edge_stats in node_edges:
        times.merge_times(edge_stats)  # a caller with no visit of its own in the window
    item: dict[str, Any] = {
        "ReferenceId": reference_id,
        "Name": node.name,
        "Names": [node.name],
        "Root": root,
        "AccountId": node.account,
        "State": "active",
        "StartTime": to_datetime(times.first_start),
        "EndTime": to_datetime(times.last_end),
        "Edges": [
            _edge(reference[(callee, False)], edge_stats) for callee, edge_stats in node_edges
        ],
        "SummaryStatistics": stats.summary(),
        "DurationHistogram": stats.histogram_entries(),
        "ResponseTimeHistogram": stats.histogram_entries(),
    }
    if node.type is not None:
        item["Type"] = node.type
    return item


def time_series(
    visits: Iterable[Visit], period: int, selector: EntitySelector | None
) -> list[dict[str, Any]]:
    """``TimeSeriesServiceStatistics``: one entry per ``period``-second bucket that has requests.

    Buckets are aligned to multiples of ``period`` since the epoch and a visit falls in the
    bucket where it ended. ``service(...)`` selects nodes (``ServiceSummaryStatistics``);
    ``edge(...)`` or no selector ("If no selector expression is specified, edge statistics are
    returned") selects edges (``EdgeSummaryStatistics``).
    """
    buckets: dict[int, Stats] = {}
    for visit in visits:
        if selector is None:
            selected = visit.root or visit.caller is not None
        else:
            selected = selector.selects(visit)
        if selected and visit.end is not None:
            bucket = int(visit.end // period) * period
            _stats(buckets, bucket).add(visit)
    key = (
        "ServiceSummaryStatistics"
        if selector is not None and selector.is_service
        else "EdgeSummaryStatistics"
    )
    return [
        {
            "Timestamp": to_datetime(bucket),
            key: stats.summary(),
            "ResponseTimeHistogram": stats.histogram_entries(),
        }
        for bucket, stats in sorted(buckets.items())
    ]
