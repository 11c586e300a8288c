"""X-Ray's segment store: document validation, storage by trace id, and the time index.

A *document* is what PutTraceSegments receives (X-Ray developer guide, "Segment documents"): a
top-level segment, an independently sent subsegment (``"type": "subsegment"`` with
``trace_id`` and ``parent_id``), or a JSON array of such subsegments. Times are epoch seconds
(floats), as in the documents themselves.

Storage keeps each document as JSON text (as received; dicts are encoded) keyed by
``(trace id, entity id)``. Sending the same id again replaces the stored document, which is how
X-Ray lets a complete segment overwrite its in-progress version; an in-progress document never
replaces a complete one. Parsing into the merged, queryable form (:mod:`.traces`) happens
lazily per trace and is cached until the trace changes.

Time index: per trace, float64 columns hold the trace-id epoch, the first start, the last
end and the last update (ingest) time, in slots allocated in arrival order. A time-range query
is one vectorised interval test over those columns (about 3 ms per million traces)
followed by work on the matching traces only. Unlike a sorted index it needs no re-sorting when
documents arrive out of order or extend a trace that is already indexed.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np

from sandbox.endpoint.xray.traces import TraceView, compile_trace

# Trace ID format "1-58406520-a006649127e371903a2de979": version 1, the request time in 8 hex
# digits, 96 random bits in 24 hex digits (segment documents, "Trace ID format").
TRACE_ID_RE = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")
# "A 64-bit identifier for the segment ... in 16 hexadecimal digits."
ENTITY_ID_RE = re.compile(r"^[0-9a-fA-F]{16}$")
# "A segment document can be up to 64 kB."
MAX_DOCUMENT_BYTES = 64 * 1024
# "name – The logical name of the service that handled the request, up to 200 characters."
MAX_NAME_LENGTH = 200
# Compiled traces kept in memory; a one-hour service graph touches a few thousand at most.
VIEW_CACHE_SIZE = 50_000


class DocumentError(ValueError):
    """A malformed segment document: reported in ``UnprocessedTraceSegments``, never raised out."""

    def __init__(self, code: str, message: str, entity_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.entity_id = entity_id

    def as_unprocessed(self) -> dict[str, str]:
        item = {"ErrorCode": self.code, "Message": self.message}
        if self.entity_id is not None:
            item["Id"] = self.entity_id
        return item


@dataclass(frozen=True, slots=True)
class Entity:
    """One validated top-level document: a segment or an independent subsegment."""

    trace_id: str
    entity_id: str
    text: str
    start: float
    end: float | None
    is_subsegment: bool


def trace_epoch(trace_id: str) -> int:
    """The request time encoded in a trace id, epoch seconds."""
    return int(trace_id[2:10], 16)


def parse_documents(raw: str | Mapping[str, Any]) -> list[Entity]:
    """Validate one PutTraceSegments document (object, or array of subsegments) → entities.

    Raises :class:`DocumentError` naming the first problem; a document is stored whole or not
    at all.
    """
    if isinstance(raw, str):
        if len(raw.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            raise DocumentError(
                "DocumentTooLarge", f"Segment document exceeds {MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise DocumentError(
                "MalformedDocument", f"Segment document is not valid JSON: {exc}"
            ) from exc
        text: str | None = raw
    elif isinstance(raw, Mapping):
        parsed, text = dict(raw), None
    else:
        raise DocumentError(
            "MalformedDocument", f"Segment document must be a JSON object, got {type(raw).__name__}"
        )
    if isinstance(parsed, list):
        # "A segment document can be ... an array of subsegments."
        if not parsed:
            raise DocumentError("MalformedDocument", "Segment document is an empty array")
        return [_entity(item, None, array_member=True) for item in parsed]
    return [_entity(parsed, text, array_member=False)]


def _entity(doc: Any, text: str | None, *, array_member: bool) -> Entity:
    if not isinstance(doc, dict):
        raise DocumentError("MalformedDocument", "Segment document must be a JSON object")
    entity_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    is_subsegment = doc.get("type") == "subsegment"
    if array_member and not is_subsegment:
        raise DocumentError(
            "MalformedDocument",
            'An array document may only hold subsegments ("type": "subsegment")',
            entity_id,
        )
    _check_entity(doc, entity_id, top_level=True)
    trace_id = doc.get("trace_id")
    if not isinstance(trace_id, str):
        raise DocumentError("MissingRequiredField", "Missing required field: trace_id", entity_id)
    if not TRACE_ID_RE.match(trace_id):
        raise DocumentError(
            "InvalidTraceId",
            f"Invalid trace_id '{trace_id}': expected 1-<8 hex digits>-<24 hex digits>",
            entity_id,
        )
    parent_id = doc.get("parent_id")
    if is_subsegment and parent_id is None:
        raise DocumentError(
            "MissingRequiredField",
            "Missing required field for an independent subsegment: parent_id",
            entity_id,
        )
    if parent_id is not None and (
        not isinstance(parent_id, str) or not ENTITY_ID_RE.match(parent_id)
    ):
        raise DocumentError(
            "InvalidParentId", f"Invalid parent_id '{parent_id}': expected 16 hex digits", entity_id
        )
    if text is None:
        text = json.dumps(doc, separators=(",", ":"), default=str)
        if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            raise DocumentError(
                "DocumentTooLarge",
                f"Segment document exceeds {MAX_DOCUMENT_BYTES} bytes",
                entity_id,
            )
    end = doc.get("end_time")
    return Entity(
        trace_id=trace_id,
        entity_id=str(entity_id),
        text=text,
        start=float(doc["start_time"]),
        end=float(end) if _is_number(end) else None,
        is_subsegment=is_subsegment,
    )


def _check_entity(doc: dict[str, Any], entity_id: str | None, *, top_level: bool) -> None:
    """Required fields of a segment or subsegment, recursively through ``subsegments``."""
    what = "segment" if top_level and doc.get("type") != "subsegment" else "subsegment"
    if entity_id is None:
        raise DocumentError("MissingRequiredField", f"Missing required {what} field: id")
    if not ENTITY_ID_RE.match(entity_id):
        raise DocumentError(
            "InvalidSegmentId",
            f"Invalid {what} id '{entity_id}': expected 16 hex digits",
            entity_id,
        )
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise DocumentError(
            "MissingRequiredField", f"Missing required {what} field: name", entity_id
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DocumentError(
            "InvalidName", f"Name longer than {MAX_NAME_LENGTH} characters", entity_id
        )
    if not _is_number(doc.get("start_time")):
        raise DocumentError(
            "InvalidTimestamp", "start_time must be a number (epoch seconds)", entity_id
        )
    end = doc.get("end_time")
    # "Specify either an end_time or in_progress."
    if end is None:
        if doc.get("in_progress") is not True:
            raise DocumentError(
                "MissingRequiredField", "Either end_time or in_progress=true is required", entity_id
            )
    elif not _is_number(end):
        raise DocumentError(
            "InvalidTimestamp", "end_time must be a number (epoch seconds)", entity_id
        )
    elif end < doc["start_time"]:
        raise DocumentError("InvalidTimestamp", "end_time is before start_time", entity_id)
    children = doc.get("subsegments")
    if children is None:
        return
    if not isinstance(children, list):
        raise DocumentError("MalformedDocument", "subsegments must be an array", entity_id)
    for child in children:
        if not isinstance(child, dict):
            raise DocumentError("MalformedDocument", "subsegments must hold objects", entity_id)
        child_id = child.get("id") if isinstance(child.get("id"), str) else None
        try:
            _check_entity(child, child_id, top_level=False)
        except DocumentError as exc:
            # Report the top-level document's id: that is what was not stored.
            raise DocumentError(
                exc.code, f"In subsegment {child_id}: {exc.message}", entity_id
            ) from exc


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(slots=True)
class _Trace:
    slot: int
    trace_id: str
    docs: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id → (text, complete)
    revision: int = 0


class SegmentStore:
    """Documents by trace id, with per-trace time bounds for window queries; thread-safe."""

    def __init__(self, account_id: str, *, cache_size: int = VIEW_CACHE_SIZE) -> None:
        self._account_id = account_id
        self._lock = threading.RLock()
        self._traces: dict[str, _Trace] = {}
        self._slot_ids: list[str] = []
        capacity = 1024
        # Columns indexed by slot: trace-id epoch, first start, last end, last ingest time.
        self._epoch = np.zeros(capacity)
        self._tmin = np.full(capacity, np.inf)
        self._tmax = np.full(capacity, -np.inf)
        self._updated = np.full(capacity, -np.inf)
        self._views: OrderedDict[str, TraceView] = OrderedDict()
        self._cache_size = cache_size

    # --- writes -------------------------------------------------------------------------------

    def put(
        self, documents: Iterable[str | Mapping[str, Any]], *, received_at: float | None = None
    ) -> tuple[int, list[dict[str, str]]]:
        """Validate and store documents → (entities stored, unprocessed items).

        ``received_at`` is the ingest time (epoch seconds) that ``TimeRangeType=Event`` queries
        use; without it (backfill) a document counts as received when it ended (or started).
        """
        entities: list[Entity] = []
        unprocessed: list[dict[str, str]] = []
        for raw in documents:
            try:
                entities.extend(parse_documents(raw))
            except DocumentError as exc:
                unprocessed.append(exc.as_unprocessed())
        with self._lock:
            for entity in entities:
                self._store(entity, received_at)
        return len(entities), unprocessed

    def _store(self, entity: Entity, received_at: float | None) -> None:
        trace = self._traces.get(entity.trace_id)
        if trace is None:
            trace = self._new_trace(entity.trace_id)
        complete = entity.end is not None
        previous = trace.docs.get(entity.entity_id)
        if previous is not None and previous[1] and not complete:
            return  # a late in-progress fragment never hides the complete document
        trace.docs[entity.entity_id] = (entity.text, complete)
        trace.revision += 1
        slot = trace.slot
        last = entity.end if entity.end is not None else entity.start
        self._tmin[slot] = min(self._tmin[slot], entity.start)
        self._tmax[slot] = max(self._tmax[slot], last)
        self._updated[slot] = max(self._updated[slot], last if received_at is None else received_at)
        self._views.pop(entity.trace_id, None)

    def _new_trace(self, trace_id: str) -> _Trace:
        slot = len(self._slot_ids)
        if slot == len(self._epoch):
            self._grow()
        self._slot_ids.append(trace_id)
        self._epoch[slot] = trace_epoch(trace_id)
        trace = _Trace(slot=slot, trace_id=trace_id)
        self._traces[trace_id] = trace
        return trace

    def _grow(self) -> None:
        size = len(self._epoch) * 2
        for name, fill in (
            ("_epoch", 0.0),
            ("_tmin", np.inf),
            ("_tmax", -np.inf),
            ("_updated", -np.inf),
        ):
            old = getattr(self, name)
            new = np.full(size, fill)
            new[: len(old)] = old
            setattr(self, name, new)

    # --- reads --------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)

    def document_count(self) -> int:
        with self._lock:
            return sum(len(trace.docs) for trace in self._traces.values())

    def trace_ids_overlapping(self, start: float, end: float) -> list[str]:
        """Traces with segment times in ``[start, end)``: first start < end, last end >= start."""
        return self._select(
            lambda: (self._tmin[: self._n] < end) & (self._tmax[: self._n] >= start)
        )

    def trace_ids_by_epoch(self, start: float, end: float) -> list[str]:
        """Traces whose id encodes a request time in ``[start, end)`` (``TraceId`` range)."""
        return self._select(
            lambda: (self._epoch[: self._n] >= start) & (self._epoch[: self._n] < end)
        )

    def trace_ids_updated(self, start: float, end: float) -> list[str]:
        """Traces last updated in ``[start, end)`` (TimeRangeType ``Event``)."""
        return self._select(
            lambda: (self._updated[: self._n] >= start) & (self._updated[: self._n] < end)
        )

    @property
    def _n(self) -> int:
        return len(self._slot_ids)

    def _select(self, mask: Callable[[], np.ndarray]) -> list[str]:
        with self._lock:
            slots = np.flatnonzero(mask())
            return [self._slot_ids[i] for i in slots]

    def view(self, trace_id: str) -> TraceView | None:
        """The compiled trace (cached until a document of the trace changes), or None."""
        with self._lock:
            cached = self._views.get(trace_id)
            if cached is not None:
                self._views.move_to_end(trace_id)
                return cached
            trace = self._traces.get(trace_id)
            if trace is None:
                return None
            view = compile_trace(
                trace_id,
                [json.loads(text) for text, _ in trace.docs.values()],
                account_id=self._account_id,
                revision=trace.revision,
                updated_at=float(self._updated[trace.slot]),
            )
            self._views[trace_id] = view
            if len(self._views) > self._cache_size:
                self._views.popitem(last=False)
            return view

    def views(self, trace_ids: Iterable[str]) -> list[TraceView]:
        found = (self.view(trace_id) for trace_id in trace_ids)
        return [view for view in found if view is not None]

    def documents(self, trace_id: str) -> list[dict[str, Any]] | None:
        """Freshly parsed documents of one trace (callers may mutate them), or None."""
        with self._lock:
            trace = self._traces.get(trace_id)
            if trace is None:
                return None
            texts = [text for text, _ in trace.docs.values()]
        return [json.loads(text) for text in texts]
