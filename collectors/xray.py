"""X-Ray → the ``edges`` table (service graph per window) and the ``traces`` table (a sample).

**Edges.** :func:`collect_edges` calls GetServiceGraph once per window (following NextToken)
and turns every caller → callee edge into a row: requests, ok, errors, throttles, faults,
mean latency (TotalResponseTime ⁄ TotalCount) and p50/p99 from the edge's
ResponseTimeHistogram. Windows are aligned to multiples of ``window_s`` since the epoch, so
re-collecting a range gives the same keys, and only windows that ended by ``now`` are read
(a window still filling would be stored short). X-Ray counts a request in exactly one of
ok, error (4xx), throttle (429) and fault (5xx) — its ``ErrorStatistics.TotalCount``
includes throttles — so here ``errors`` is ``ErrorStatistics.OtherCount`` and
``ok + errors + throttles + faults == requests``.

Node names: the callee's ``Name`` (a function, a host such as ``api.example.com``, or the
SDK's subsegment name such as ``dynamodb``) with its ``Type`` in ``target_type``. The
``client`` node X-Ray draws in front of each root service is named after that service, so its
edges get ``source = "client"``; otherwise Lambda's ``client → fn`` and ``fn (AWS::Lambda) →
fn (AWS::Lambda::Function)`` edges would share a key. Should two edges of one window still
share (source, target), their targets are qualified as ``"name [Type]"``.

**Traces.** :func:`collect_traces` pages GetTraceSummaries over ≤ 24 h windows (the API's
limit), picks a sample (all, or ``limit`` chosen by the random part of the trace id, so the
choice is deterministic and spread over time) and fetches it with BatchGetTraces, five ids a
call (the API's maximum), so ⌈n ⁄ 5⌉ calls. Retries are read off the SDK's subsegments:

- an ``aws`` subsegment's ``aws.retries`` (botocore's retries inside one SDK call);
- repeated ``remote`` subsegments to one host under one parent: when they carry an integer
  ``attempt`` annotation, every attempt after the first; otherwise each call that follows a
  retryable failure (throttle, fault, 429 or 5xx) to that host.

A retry is attributed to the edge segment-name → subsegment-name (the service graph's names)
at the time the call ended (the service graph counts requests where they end). ``edge_retries``
holds one row per call that retried; passed to :func:`collect_edges` as ``retries`` it fills
each edge's ``retries`` with the retries seen in the *sampled* traces (a lower bound under
sampling; 0 when the sample shows none, null when no traces were given).

Trace flags (``has_error``/``has_fault``/``has_throttle``) are X-Ray's own, from the summary;
without one they are derived from the documents' ``error``/``throttle``/``fault`` flags the
way X-Ray classifies them. A document that is not JSON, not an object, or lacks ``id``,
``name`` or a numeric ``start_time`` is skipped and reported in ``problems`` with the reason;
the rest of its trace is still read. Traces asked for and not returned are reported too and
kept from their summary with ``retries`` null.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeGuard

import pandas as pd

from collectors._frame import as_utc, to_frame
from collectors.schema import EDGES, TRACES

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

# https://docs.aws.amazon.com/xray/latest/api/API_BatchGetTraces.html: 1 to 5 trace ids.
BATCH_TRACE_IDS = 5
# https://docs.aws.amazon.com/xray/latest/api/API_GetTraceSummaries.html: at most 24 hours.
SUMMARY_RANGE = timedelta(hours=24)
CLIENT = "client"
EDGE_RETRY_COLUMNS = ("trace_id", "source", "target", "at", "retries")


@dataclass(frozen=True, slots=True)
class TraceProblem:
    """A document or trace that could not be read, and why."""

    trace_id: str
    segment_id: str | None
    reason: str


class TraceSample(NamedTuple):
    """What :func:`collect_traces` returns."""

    traces: pd.DataFrame  # the TRACES schema
    edge_retries: pd.DataFrame  # EDGE_RETRY_COLUMNS: one row per call that retried
    problems: list[TraceProblem]


# --- the pure core: windows ----------------------------------------------------------------


def graph_windows(
    start: datetime, end: datetime, window_s: int, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Epoch-aligned ``[start, end)`` windows of ``window_s`` covering the range, ended by now."""
    if not isinstance(window_s, int) or window_s <= 0:
        raise ValueError(f"window_s must be a positive whole number of seconds, got {window_s!r}")
    first = math.floor(as_utc(start, "start").timestamp() / window_s) * window_s
    stop = as_utc(end, "end").timestamp()
    limit = as_utc(now).timestamp()
    windows = []
    t = first
    while t < stop and t + window_s <= limit:
        windows.append((datetime.fromtimestamp(t, UTC), datetime.fromtimestamp(t + window_s, UTC)))
        t += window_s
    return windows


def summary_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` split into consecutive windows of at most 24 hours."""
    start, end = as_utc(start, "start"), as_utc(end, "end")
    windows = []
    while start < end:
        stop = min(end, start + SUMMARY_RANGE)
        windows.append((start, stop))
        start = stop
    return windows


# --- the pure core: the service graph ------------------------------------------------------


def histogram_percentile(histogram: Iterable[Mapping[str, Any]], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q ≤ 1) of ``[{"Value": s, "Count": n}, …]``."""
    entries = sorted(
        (float(e["Value"]), int(e["Count"]))
        for e in histogram
        if _is_number(e.get("Value")) and _is_number(e.get("Count")) and e["Count"] > 0
    )
    total = sum(count for _value, count in entries)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, count in entries:
        seen += count
        if seen >= rank:
            return value
    return entries[-1][0]


def edges_from_graph(
    services: Sequence[Mapping[str, Any]],
    *,
    window_start: datetime,
    window_end: datetime,
    account: str | None = None,
    region: str = "",
) -> list[dict[str, Any]]:
    """``edges`` rows from GetServiceGraph's ``Services`` (one page or several, concatenated).

    ``account`` defaults to the calling node's ``AccountId``. Edges whose target is not in
    ``services`` are left out.
    """
    by_ref = {s.get("ReferenceId"): s for s in services}
    rows = []
    for node in services:
        source = CLIENT if node.get("Type") == CLIENT else _name(node)
        for edge in node.get("Edges") or []:
            target_node = by_ref.get(edge.get("ReferenceId"))
            if target_node is None:
                continue
            stats = edge.get("SummaryStatistics") or {}
            errors = stats.get("ErrorStatistics") or {}
            faults = stats.get("FaultStatistics") or {}
            requests = _count(stats.get("TotalCount"))
            throttles = _count(errors.get("ThrottleCount"))
            other = errors.get("OtherCount")
            error_count = (
                _count(other)
                if _is_number(other)
                else max(0, _count(errors.get("TotalCount")) - throttles)
            )
            histogram = edge.get("ResponseTimeHistogram") or []
            total_time = stats.get("TotalResponseTime")
            p50 = histogram_percentile(histogram, 0.50)
            p99 = histogram_percentile(histogram, 0.99)
            rows.append(
                {
                    "account": account or str(node.get("AccountId") or ""),
                    "region": region,
                    "source": source,
                    "target": _name(target_node),
                    "window_start": window_start,
                    "window_end": window_end,
                    "target_type": target_node.get("Type"),
                    "requests": requests,
                    "ok": _count(stats.get("OkCount")),
                    "errors": error_count,
                    "throttles": throttles,
                    "faults": _count(faults.get("TotalCount")),
                    "retries": None,
                    "latency_mean_ms": (
                        float(total_time) / requests * 1000.0
                        if requests and _is_number(total_time)
                        else None
                    ),
                    "latency_p50_ms": None if p50 is None else p50 * 1000.0,
                    "latency_p99_ms": None if p99 is None else p99 * 1000.0,
                }
            )
    return _distinct_targets(rows)


def _distinct_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = Counter((r["account"], r["source"], r["target"]) for r in rows)
    for row in rows:
        if keys[(row["account"], row["source"], row["target"])] > 1:
            row["target"] = f"{row['target']} [{row['target_type'] or '?'}]"
    return rows


def retries_by_window(
    edge_retries: pd.DataFrame, window_s: int
) -> dict[tuple[str, str, datetime], int]:
    """(source, target, window start) → retries, windows aligned as :func:`graph_windows`."""
    totals: dict[tuple[str, str, datetime], int] = {}
    for source, target, at, retries in zip(
        edge_retries["source"],
        edge_retries["target"],
        edge_retries["at"],
        edge_retries["retries"],
        strict=True,
    ):
        if pd.isna(at) or pd.isna(retries):
            continue
        moment = pd.Timestamp(at).to_pydatetime()
        slot = math.floor(moment.timestamp() / window_s) * window_s
        key = (str(source), str(target), datetime.fromtimestamp(slot, UTC))
        totals[key] = totals.get(key, 0) + int(retries)
    return totals


# --- the pure core: traces -----------------------------------------------------------------


def sample_ids(trace_ids: Iterable[str], limit: int | None) -> list[str]:
    """All ids (deduplicated, in order), or ``limit`` of them chosen by the id's random part."""
    ids = list(dict.fromkeys(trace_ids))
    if limit is None or limit >= len(ids):
        return ids
    if limit < 0:
        raise ValueError(f"limit must be None or ≥ 0, got {limit}")
    chosen = set(sorted(ids, key=lambda i: (i.rsplit("-", 1)[-1], i))[:limit])
    return [i for i in ids if i in chosen]


def parse_documents(
    trace_id: str, segments: Iterable[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[TraceProblem]]:
    """BatchGetTraces' ``Segments`` → the readable documents, and a problem per unreadable one."""
    documents: list[dict[str, Any]] = []
    problems: list[TraceProblem] = []
    for segment in segments:
        segment_id = segment.get("Id") if isinstance(segment, dict) else None
        raw = segment.get("Document") if isinstance(segment, dict) else None
        seg_id = None if segment_id is None else str(segment_id)
        try:
            document = json.loads(raw) if isinstance(raw, str | bytes) else raw
        except ValueError as error:
            problems.append(TraceProblem(trace_id, seg_id, f"document is not JSON: {error}"))
            continue
        reason = _document_problem(document)
        if reason is not None or not isinstance(document, dict):
            problems.append(TraceProblem(trace_id, seg_id, reason or "document is not an object"))
            continue
        documents.append(document)
    return documents, problems


def _document_problem(document: Any) -> str | None:
    if not isinstance(document, dict):
        return f"document is {type(document).__name__}, expected an object"
    for name in ("id", "name"):
        if not isinstance(document.get(name), str) or not document[name]:
            return f"document has no `{name}`"
    if not _is_number(document.get("start_time")):
        return "document has no numeric `start_time`"
    if "end_time" in document and not _is_number(document["end_time"]):
        return "document's `end_time` is not a number"
    bad = _bad_subsegments(document)
    if bad is not None:
        return bad
    return None


def _bad_subsegments(entity: Mapping[str, Any]) -> str | None:
    stack = [entity]
    while stack:
        node = stack.pop()
        children = node.get("subsegments")
        if children is None:
            continue
        if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
            return f"`subsegments` of {node.get('id', '?')} is not a list of objects"
        stack.extend(children)
    return None


def read_retries(trace_id: str, documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One observation per downstream call that retried: trace, source, target, at, retries."""
    owner: dict[str, str] = {}  # entity id → the segment name it belongs to
    for doc in documents:
        if doc.get("type") != "subsegment" and not doc.get("inferred"):
            for entity in _walk(doc):
                if isinstance(entity.get("id"), str):
                    owner[entity["id"]] = doc["name"]
    observations = []
    for doc in documents:
        if doc.get("inferred"):
            continue  # X-Ray's copy of a subsegment already read under its caller
        if doc.get("type") == "subsegment":
            source = owner.get(str(doc.get("parent_id")), "unknown")
        else:
            source = doc["name"]
        for entity in _walk(doc):
            observations += _retries_under(trace_id, source, entity)
    return observations


def _retries_under(trace_id: str, source: str, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
    children = [c for c in parent.get("subsegments") or [] if isinstance(c, dict)]
    found = []
    remote: dict[str, list[Mapping[str, Any]]] = {}
    for child in children:
        namespace = child.get("namespace")
        name = child.get("name")
        if not isinstance(name, str):
            continue
        if namespace == "aws":
            aws = child.get("aws")
            retries = aws.get("retries") if isinstance(aws, dict) else None
            if _is_number(retries) and retries > 0:
                found.append(_observation(trace_id, source, name, child, int(retries)))
        elif namespace == "remote":
            remote.setdefault(name, []).append(child)
    for host, attempts in remote.items():
        attempts.sort(key=lambda a: a["start_time"] if _is_number(a.get("start_time")) else 0)
        retries = _remote_retries(attempts)
        if retries:
            found.append(_observation(trace_id, source, host, attempts[-1], retries))
    return found


def _remote_retries(attempts: Sequence[Mapping[str, Any]]) -> int:
    numbers = [(a.get("annotations") or {}).get("attempt") for a in attempts]
    whole = [n for n in numbers if isinstance(n, int) and not isinstance(n, bool)]
    if len(whole) == len(numbers):
        return sum(1 for n in whole if n > 1)
    return sum(1 for before in attempts[:-1] if _retryable(before))


def _retryable(entity: Mapping[str, Any]) -> bool:
    status = _http_status(entity)
    return (
        entity.get("throttle") is True
        or entity.get("fault") is True
        or status == 429
        or (status is not None and status >= 500)
    )


def _observation(
    trace_id: str, source: str, target: str, call: Mapping[str, Any], retries: int
) -> dict[str, Any]:
    end = call.get("end_time")
    moment = end if _is_number(end) else call.get("start_time")
    return {
        "trace_id": trace_id,
        "source": source,
        "target": target,
        "at": datetime.fromtimestamp(float(moment), UTC) if _is_number(moment) else None,
        "retries": retries,
    }


def trace_row(
    trace_id: str,
    documents: Sequence[Mapping[str, Any]],
    observations: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None,
    *,
    account: str,
    region: str,
    read: bool = True,
) -> dict[str, Any] | None:
    """One ``traces`` row; ``read`` False when the trace's documents were not available.

    None when neither a summary nor a readable document gives the trace's start.
    """
    segments = [d for d in documents if d.get("type") != "subsegment" and not d.get("inferred")]
    roots = sorted(
        (d for d in segments if not d.get("parent_id")), key=lambda d: float(d["start_time"])
    )
    root = roots[0] if roots else None
    starts = [float(d["start_time"]) for d in documents]
    ends = [float(d["end_time"]) for d in documents if _is_number(d.get("end_time"))]
    summary = summary or {}
    start = summary.get("StartTime")
    if isinstance(start, datetime):
        start = as_utc(start, "StartTime")
    elif starts:
        start = datetime.fromtimestamp(min(starts), UTC)
    else:
        return None
    duration = summary.get("Duration")
    if _is_number(duration):
        duration_ms: float | None = float(duration) * 1000.0
    elif starts and ends:
        duration_ms = (max(ends) - min(starts)) * 1000.0
    else:
        duration_ms = None
    flags = _flags(documents)
    retried = sorted({f"{o['source']}->{o['target']}" for o in observations if o["retries"]})
    status = _http_status(root) if root is not None else None
    return {
        "account": account,
        "region": region,
        "trace_id": trace_id,
        "start": start,
        "duration_ms": duration_ms,
        "root": root["name"] if root is not None else _entry_point(summary),
        "status": status if status is not None else _summary_status(summary),
        "has_error": _flag(summary, "HasError", flags["error"]),
        "has_fault": _flag(summary, "HasFault", flags["fault"]),
        "has_throttle": _flag(summary, "HasThrottle", flags["throttle"]),
        "retries": sum(int(o["retries"]) for o in observations) if read and documents else None,
        "retried_edges": retried,
    }


def _flags(documents: Sequence[Mapping[str, Any]]) -> dict[str, bool]:
    """Which of X-Ray's outcomes any entity of the documents shows (see :func:`classify`)."""
    outcomes = {classify(entity) for doc in documents for entity in _walk(doc)}
    return {
        "error": bool(outcomes & {"error", "throttle"}),
        "throttle": "throttle" in outcomes,
        "fault": "fault" in outcomes,
    }


def classify(entity: Mapping[str, Any]) -> str:
    """ok, error, throttle or fault from an entity's flags, as X-Ray counts a request.

    The SDKs add ``fault`` to every recorded exception, so a throttled AWS call carries
    throttle, error *and* fault: with fault beside error or throttle, the HTTP status names
    the outcome (5xx fault, 429 throttle, other 4xx error). Otherwise throttle wins over
    error, and error over fault.
    """
    error = entity.get("error") is True
    throttle = entity.get("throttle") is True
    fault = entity.get("fault") is True
    status = _http_status(entity)
    if fault and (error or throttle) and status is not None:
        if status >= 500:
            return "fault"
        if status == 429:
            return "throttle"
        if status >= 400:
            return "error"
    if throttle:
        return "throttle"
    if error:
        return "error"
    return "fault" if fault else "ok"


def _flag(summary: Mapping[str, Any], key: str, derived: bool) -> bool:
    value = summary.get(key)
    return value if isinstance(value, bool) else derived


def _entry_point(summary: Mapping[str, Any]) -> str | None:
    entry = summary.get("EntryPoint")
    return entry.get("Name") if isinstance(entry, dict) else None


def _summary_status(summary: Mapping[str, Any]) -> int | None:
    http = summary.get("Http")
    status = http.get("HttpStatus") if isinstance(http, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def edge_retry_frame(observations: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Observations → a frame with :data:`EDGE_RETRY_COLUMNS` (``at`` UTC, ``retries`` Int64)."""
    frame = pd.DataFrame(list(observations), columns=list(EDGE_RETRY_COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], utc=True).astype("datetime64[ms, UTC]")
    frame["retries"] = frame["retries"].astype("Int64")
    for column in ("trace_id", "source", "target"):
        frame[column] = frame[column].astype(object)
    return frame


def _walk(entity: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [entity]
    while stack:
        node = stack.pop()
        yield node
        children = node.get("subsegments")
        if isinstance(children, list):
            stack.extend(c for c in reversed(children) if isinstance(c, dict))


def _http_status(entity: Mapping[str, Any]) -> int | None:
    http = entity.get("http")
    response = http.get("response") if isinstance(http, dict) else None
    status = response.get("status") if isinstance(response, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> int:
    return int(value) if _is_number(value) else 0


def _name(node: Mapping[str, Any]) -> str:
    name = node.get("Name")
    if isinstance(name, str) and name:
        return name
    names = node.get("Names")
    if isinstance(names, list) and names and isinstance(names[0], str):
        return names[0]
    return f"ref:{node.get('ReferenceId')}"


def _main_account(summaries: Iterable[Mapping[str, Any]]) -> str:
    counts: Counter[str] = Counter()
    for summary in summaries:
        for service in summary.get("ServiceIds") or []:
            if isinstance(service, dict) and isinstance(service.get("AccountId"), str):
                counts[service["AccountId"]] += 1
    return counts.most_common(1)[0][0] if counts else ""


# --- the I/O shell -------------------------------------------------------------------------


def service_graph(xray: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """GetServiceGraph's ``Services`` for ``[start, end)``, every page."""
    services: list[dict[str, Any]] = []
    request: dict[str, Any] = {"StartTime": start, "EndTime": end}
    while True:
        page = xray.get_service_graph(**request)
        services += page.get("Services", [])
        token = page.get("NextToken")
        if not token:
            return services
        request["NextToken"] = token


def trace_summaries(
    xray: Any, start: datetime, end: datetime, filter_expression: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every trace summary in ``[start, end)``, ≤ 24 h per query, every page."""
    for window_start, window_end in summary_windows(start, end):
        request: dict[str, Any] = {"StartTime": window_start, "EndTime": window_end}
        if filter_expression:
            request["FilterExpression"] = filter_expression
        while True:
            page = xray.get_trace_summaries(**request)
            yield from page.get("TraceSummaries", [])
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token


def batch_get_traces(xray: Any, trace_ids: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Full traces for ``trace_ids``, five a call: (traces, unprocessed ids)."""
    traces: list[dict[str, Any]] = []
    unprocessed: list[str] = []
    for i in range(0, len(trace_ids), BATCH_TRACE_IDS):
        request: dict[str, Any] = {"TraceIds": list(trace_ids[i : i + BATCH_TRACE_IDS])}
        while True:
            page = xray.batch_get_traces(**request)
            traces += page.get("Traces", [])
            unprocessed += page.get("UnprocessedTraceIds", [])
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
    return traces, unprocessed


def collect_edges(
    xray: Any,
    *,
    start: datetime,
    end: datetime,
    window_s: int = 300,
    now: datetime,
    retries: pd.DataFrame | None = None,
    account: str | None = None,
    region: str | None = None,
) -> pd.DataFrame:
    """``edges`` rows for every complete ``window_s`` window in ``[start, end)`` (UTC).

    ``retries`` is :func:`collect_traces`' ``edge_retries``; without it ``retries`` is null.
    ``account`` defaults to each calling node's AccountId, ``region`` to the client's.
    """
    region = region or xray.meta.region_name
    totals = None if retries is None else retries_by_window(retries, window_s)
    rows: list[dict[str, Any]] = []
    for window_start, window_end in graph_windows(start, end, window_s, now):
        services = service_graph(xray, window_start, window_end)
        for row in edges_from_graph(
            services,
            window_start=window_start,
            window_end=window_end,
            account=account,
            region=region,
        ):
            if totals is not None:
                row["retries"] = totals.get((row["source"], row["target"], window_start), 0)
            rows.append(row)
    return to_frame(EDGES, rows)


def collect_traces(
    xray: Any,
    *,
    start: datetime,
    end: datetime,
    limit: int | None = None,
    now: datetime,
    filter_expression: str | None = None,
    account: str | None = None,
    region: str | None = None,
) -> TraceSample:
    """Traces in ``[start, min(end, now))`` (UTC): all, or a sample of ``limit``.

    Returns the ``traces`` rows, the retried calls (``edge_retries``) and the problems met.
    ``account`` defaults to the AccountId most summaries name, ``region`` to the client's.
    """
    end = min(as_utc(end, "end"), as_utc(now))
    region = region or xray.meta.region_name
    summaries = {s["Id"]: s for s in trace_summaries(xray, start, end, filter_expression)}
    account = account or _main_account(summaries.values())
    chosen = sample_ids(summaries, limit)
    traces, unprocessed = batch_get_traces(xray, chosen)
    problems: list[TraceProblem] = []
    rows: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    returned = set()
    for trace in traces:
        trace_id = str(trace.get("Id"))
        returned.add(trace_id)
        documents, bad = parse_documents(trace_id, trace.get("Segments") or [])
        problems += bad
        seen = read_retries(trace_id, documents)
        observations += seen
        row = trace_row(
            trace_id, documents, seen, summaries.get(trace_id), account=account, region=region
        )
        if row is not None:
            rows.append(row)
    skipped = set(unprocessed)
    for trace_id in chosen:
        if trace_id in returned:
            continue
        reason = (
            "BatchGetTraces left it unprocessed"
            if trace_id in skipped
            else "not returned by BatchGetTraces (expired or still being processed)"
        )
        problems.append(TraceProblem(trace_id, None, reason))
        row = trace_row(
            trace_id, [], [], summaries.get(trace_id), account=account, region=region, read=False
        )
        if row is not None:
            rows.append(row)
    return TraceSample(to_frame(TRACES, rows), edge_retry_frame(observations), problems)
