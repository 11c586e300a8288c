"""One trace compiled from its segment documents: merged documents, service visits, summary.

X-Ray "compiles and processes segment documents to generate queryable trace summaries and full
traces" and "uses information in subsegments to generate inferred segments" for downstream
services that send no segments (developer guide, "Segment documents"). This module does that
for one trace:

- **Merging.** Independently sent subsegments (``"type": "subsegment"``) are attached under
  the segment or subsegment named by their ``parent_id``; ones whose parent has not arrived
  stay aside (orphans) and are attached once it does.
- **Visits.** Every top-level segment is a visit to the service ``(name, origin, account)``.
  Its caller is the segment owning the subsegment (or segment) its ``parent_id`` names; a
  segment without ``parent_id`` is a root, called by the client. Every outermost subsegment
  with ``namespace`` ``aws`` or ``remote`` whose id no segment names as ``parent_id`` becomes
  an *inferred* visit to the downstream it called, as X-Ray's inferred segments do.
- **Status.** Each visit is classified once: ok, error (4xx), throttle (429, also an error) or
  fault (5xx), see :func:`classify`.

Times are epoch seconds (floats), as in the documents.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# Compiled documents come from json.loads, so numbers are exactly int or float (never bool).
_NUMBER_TYPES = (int, float)


class Status(IntEnum):
    """How X-Ray counts a request: ErrorStatistics has ERROR and THROTTLE, FaultStatistics FAULT."""

    OK = 0
    ERROR = 1
    THROTTLE = 2
    FAULT = 3


class NodeId(NamedTuple):
    """A service-graph node: X-Ray keys services by name and type within an account."""

    name: str
    type: str | None
    account: str

    def service_id(self) -> dict[str, Any]:
        """The API's ``ServiceId`` structure."""
        item: dict[str, Any] = {"Name": self.name, "Names": [self.name], "AccountId": self.account}
        if self.type is not None:
            item["Type"] = self.type
        return item


class Http(NamedTuple):
    url: str | None = None
    method: str | None = None
    user_agent: str | None = None
    client_ip: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """One request handled by a node: a segment, or an inferred segment built from a subsegment.

    ``caller`` is None for roots (called by the client, ``root`` True) and for segments whose
    parent has not arrived. ``end`` is None while in progress.
    """

    node: NodeId
    caller: NodeId | None
    root: bool
    inferred: bool
    entity_id: str
    start: float
    end: float | None
    status: Status
    http: Http
    annotations: Mapping[str, Any]
    user: str | None
    duration: float | None  # end - start, seconds; None while in progress


@dataclass(frozen=True, slots=True)
class TraceView:
    """Everything the queries need from one trace, without the documents themselves."""

    trace_id: str
    start: float
    end: float | None
    duration: float | None
    response_time: float | None
    root: Visit | None
    visits: tuple[Visit, ...]
    has_error: bool
    has_throttle: bool
    has_fault: bool
    partial: bool
    annotations: tuple[tuple[str, Any, NodeId | None], ...]
    users: tuple[tuple[str, NodeId], ...]
    resource_arns: tuple[str, ...]
    instance_ids: tuple[str, ...]
    availability_zones: tuple[str, ...]
    revision: int
    updated_at: float

    @property
    def nodes(self) -> set[NodeId]:
        return {visit.node for visit in self.visits}


# Subsegment names the X-Ray SDKs use for AWS calls (the Python SDK uses botocore's endpoint
# prefix, e.g. "dynamodb"; Java and Node use "DynamoDB") → the service part of the node type.
_AWS_SERVICES = {
    "dynamodb": "DynamoDB",
    "sqs": "SQS",
    "sns": "SNS",
    "s3": "S3",
    "lambda": "Lambda",
    "states": "StepFunctions",
    "stepfunctions": "StepFunctions",
    "events": "Events",
    "kinesis": "Kinesis",
    "firehose": "Firehose",
    "ssm": "SimpleSystemsManagement",
    "simplesystemsmanagement": "SimpleSystemsManagement",
    "secretsmanager": "SecretsManager",
    "sts": "STS",
    "ec2": "EC2",
}
# Resource-level node types when the subsegment names the resource ("AWS::DynamoDB::Table"
# for a call with aws.table_name, as in the developer guide's inferred-segment examples).
_AWS_RESOURCE_TYPES = {
    "DynamoDB": ("table_name", "AWS::DynamoDB::Table"),
    "SQS": ("queue_url", "AWS::SQS::Queue"),
    "S3": ("bucket_name", "AWS::S3::Bucket"),
    "StepFunctions": ("state_machine_arn", "AWS::StepFunctions::StateMachine"),
}


def inferred_type(subsegment: Mapping[str, Any]) -> str:
    """Node type X-Ray gives the downstream of an ``aws`` or ``remote`` subsegment."""
    if subsegment.get("namespace") == "remote":
        return "Database::SQL" if isinstance(subsegment.get("sql"), dict) else "remote"
    name = str(subsegment.get("name", ""))
    service = _AWS_SERVICES.get(name.lower().replace(" ", ""), name)
    aws = _dict(subsegment.get("aws"))
    resource = _AWS_RESOURCE_TYPES.get(service)
    if resource is not None and aws.get(resource[0]):
        return resource[1]
    return f"AWS::{service}"


def http_of(entity: Mapping[str, Any]) -> Http:
    http = entity.get("http")
    if not isinstance(http, dict):
        return Http()
    request = _dict(http.get("request"))
    response = _dict(http.get("response"))
    status = response.get("status")
    return Http(
        url=_str_or_none(request.get("url")),
        method=_str_or_none(request.get("method")),
        user_agent=_str_or_none(request.get("user_agent")),
        client_ip=_str_or_none(request.get("client_ip")),
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
    )


def classify(error: bool, throttle: bool, fault: bool, http_status: int | None) -> Status:
    """One status per request, from the ``error``/``throttle``/``fault`` flags.

    The flags are the documented source ("error – client error (4XX)", "throttle – throttled
    (429)", "fault – server error (5XX)"). Flags can compound ("a 429 from a downstream call may
    cause your application to return 500, in which case all three types would apply"), and the
    X-Ray SDKs set ``fault`` on every recorded exception, so a throttled AWS call recorded by
    the Python SDK carries throttle, error *and* fault. When fault is set together with error
    or throttle, the HTTP status names the response (5xx fault, 429 throttle, other 4xx error);
    otherwise throttle takes precedence over error, and error over fault.
    """
    if fault and (error or throttle) and http_status is not None:
        if http_status >= 500:
            return Status.FAULT
        if http_status == 429:
            return Status.THROTTLE
        if http_status >= 400:
            return Status.ERROR
    if throttle:
        return Status.THROTTLE
    if error:
        return Status.ERROR
    if fault:
        return Status.FAULT
    return Status.OK


def classify_entity(entity: Mapping[str, Any], *, with_descendants: bool = False) -> Status:
    """Status of a segment or subsegment; ``with_descendants`` ORs in nested subsegments' flags."""
    if with_descendants:
        error = throttle = fault = False
        for node in _walk(entity):
            error |= node.get("error") is True
            throttle |= node.get("throttle") is True
            fault |= node.get("fault") is True
    else:
        error = entity.get("error") is True
        throttle = entity.get("throttle") is True
        fault = entity.get("fault") is True
    if not (error or throttle or fault):
        return Status.OK
    status = _status_code(entity) if fault and (error or throttle) else None
    return classify(error, throttle, fault, status)


def _status_code(entity: Mapping[str, Any]) -> int | None:
    http = entity.get("http")
    response = http.get("response") if isinstance(http, dict) else None
    status = response.get("status") if isinstance(response, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def inferred_segment_id(trace_id: str, subsegment_id: str) -> str:
    """A stable 16-hex-digit id for the inferred segment generated from a subsegment."""
    return hashlib.sha1(f"{trace_id}/{subsegment_id}".encode()).hexdigest()[:16]


def _walk(entity: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [entity]
    while stack:
        node = stack.pop()
        yield node
        children = node.get("subsegments")
        if isinstance(children, list):
            stack.extend(child for child in reversed(children) if isinstance(child, dict))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if type(value) in _NUMBER_TYPES else None


def merge_documents(
    documents: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Attach independent subsegments under their parents → (segments, orphan subsegments).

    Mutates the given documents. A subsegment whose id is already present replaces it only if
    the present one is in progress and the new one is complete.
    """
    segments = sorted(
        (doc for doc in documents if doc.get("type") != "subsegment"),
        key=lambda doc: (_number(doc.get("start_time")) or 0.0, str(doc.get("id"))),
    )
    pending = sorted(
        (doc for doc in documents if doc.get("type") == "subsegment"),
        key=lambda doc: (_number(doc.get("start_time")) or 0.0, str(doc.get("id"))),
    )
    index: dict[str, dict[str, Any]] = {}
    for segment in segments:
        for entity in _walk(segment):
            index.setdefault(str(entity.get("id")), cast("dict[str, Any]", entity))
    progress = True
    while pending and progress:
        progress, waiting = False, []
        for sub in pending:
            parent = index.get(str(sub.get("parent_id")))
            if parent is None or parent is sub:
                waiting.append(sub)
                continue
            progress = True
            present = index.get(str(sub.get("id")))
            if present is not None:
                if present.get("end_time") is None and sub.get("end_time") is not None:
                    present.clear()
                    present.update(sub)
                continue
            parent.setdefault("subsegments", []).append(sub)
            for entity in _walk(sub):
                index.setdefault(str(entity.get("id")), cast("dict[str, Any]", entity))
        pending = waiting
    return segments, pending


@dataclass(slots=True)
class _Builder:
    trace_id: str
    account_id: str
    visits: list[Visit] = field(default_factory=list)
    owner: dict[str, NodeId] = field(default_factory=dict)  # entity id → node of its segment
    outbound: list[tuple[dict[str, Any], NodeId]] = field(default_factory=list)
    partial: bool = False

    def account(self, entity: Mapping[str, Any], default: str | None = None) -> str:
        aws = entity.get("aws")
        if isinstance(aws, dict) and isinstance(aws.get("account_id"), str):
            return str(aws["account_id"])
        return default or self.account_id

    def scan_segment(self, segment: dict[str, Any]) -> NodeId:
        origin = segment.get("origin")
        node = NodeId(
            str(segment["name"]), origin if isinstance(origin, str) else None, self.account(segment)
        )
        # Outermost aws/remote subsegments are calls to downstream services; whatever they
        # contain belongs to that call, not to further downstream nodes.
        stack: list[dict[str, Any]] = [segment]
        while stack:
            entity = stack.pop()
            self.owner[str(entity.get("id"))] = node
            if entity is not segment and entity.get("namespace") in ("aws", "remote"):
                self.outbound.append((entity, node))
            children = entity.get("subsegments")
            if isinstance(children, list):
                stack.extend(child for child in children if isinstance(child, dict))
        return node


def compile_trace(
    trace_id: str,
    documents: list[dict[str, Any]],
    *,
    account_id: str,
    revision: int = 0,
    updated_at: float = 0.0,
) -> TraceView:
    """Compile one trace's stored documents (freshly parsed; they are mutated) into a view."""
    segments, orphans = merge_documents(documents)
    builder = _Builder(trace_id, account_id)
    nodes = [builder.scan_segment(segment) for segment in segments]
    for segment, node in zip(segments, nodes, strict=True):
        parent_id = segment.get("parent_id")
        caller = builder.owner.get(parent_id) if isinstance(parent_id, str) else None
        builder.visits.append(_visit(segment, node, caller, root=parent_id is None, inferred=False))

    for sub, caller in _inferred_calls(builder, segments):
        node = NodeId(str(sub["name"]), inferred_type(sub), builder.account(sub, caller.account))
        builder.visits.append(_visit(sub, node, caller, root=False, inferred=True))

    return _summarise(builder, segments, orphans, revision, updated_at)


def _inferred_calls(
    builder: _Builder, segments: list[dict[str, Any]]
) -> Iterator[tuple[dict[str, Any], NodeId]]:
    """Outbound aws/remote subsegments that get an inferred node → (subsegment, caller node)."""
    called = {str(seg["parent_id"]) for seg in segments if isinstance(seg.get("parent_id"), str)}
    for sub, caller in builder.outbound:
        if str(sub.get("id")) in called:
            continue  # an instrumented downstream sent its own segment
        request = _dict(sub.get("http")).get("request")
        if isinstance(request, dict) and request.get("traced") is True:
            # "If this field is set to true, X-Ray considers the trace to be broken until the
            # downstream service uploads a segment with a parent_id that matches".
            builder.partial = True
            continue
        yield sub, caller


def _visit(
    entity: dict[str, Any], node: NodeId, caller: NodeId | None, *, root: bool, inferred: bool
) -> Visit:
    annotations = entity.get("annotations")
    user = entity.get("user")
    start = float(entity["start_time"])
    end = _number(entity.get("end_time"))
    return Visit(
        node=node,
        caller=caller,
        root=root,
        inferred=inferred,
        entity_id=str(entity["id"]),
        start=start,
        end=end,
        status=classify_entity(entity, with_descendants=inferred),
        http=http_of(entity),
        annotations=annotations if isinstance(annotations, dict) else {},
        user=user if isinstance(user, str) else None,
        duration=None if end is None else end - start,
    )


def _summarise(
    builder: _Builder,
    segments: list[dict[str, Any]],
    orphans: list[dict[str, Any]],
    revision: int,
    updated_at: float,
) -> TraceView:
    statuses: set[Status] = set()
    partial = builder.partial
    annotations: list[tuple[str, Any, NodeId | None]] = []
    users: list[tuple[str, NodeId]] = []
    arns: list[str] = []
    instances: list[str] = []
    zones: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    orphan_ids = {id(orphan) for orphan in orphans}
    for top in [*segments, *orphans]:
        starts.append(float(top["start_time"]))
        if _number(top.get("end_time")) is not None:
            ends.append(float(top["end_time"]))
        for entity in _walk(top):
            # HasError/HasFault/HasThrottle reflect every segment and subsegment of the trace.
            statuses.add(classify_entity(entity))
            partial |= entity.get("in_progress") is True or entity.get("end_time") is None
            node = builder.owner.get(str(entity.get("id")))
            if isinstance(entity.get("annotations"), dict):
                annotations.extend(
                    (key, value, node) for key, value in entity["annotations"].items()
                )
        if id(top) in orphan_ids:
            continue
        node = builder.owner[str(top["id"])]
        if isinstance(top.get("user"), str):
            users.append((top["user"], node))
        if isinstance(top.get("resource_arn"), str):
            arns.append(top["resource_arn"])
        ec2 = _dict(top.get("aws")).get("ec2")
        if isinstance(ec2, dict):
            if isinstance(ec2.get("instance_id"), str):
                instances.append(ec2["instance_id"])
            if isinstance(ec2.get("availability_zone"), str):
                zones.append(ec2["availability_zone"])
    roots = [visit for visit in builder.visits if visit.root]
    root = min(roots, key=lambda visit: (visit.start, visit.entity_id)) if roots else None
    start = min(starts)
    end = max(ends) if ends else None
    return TraceView(
        trace_id=builder.trace_id,
        start=start,
        end=end,
        duration=None if end is None else end - start,
        response_time=None if root is None else root.duration,
        root=root,
        visits=tuple(builder.visits),
        has_error=bool(statuses & {Status.ERROR, Status.THROTTLE}),
        has_throttle=Status.THROTTLE in statuses,
        has_fault=Status.FAULT in statuses,
        partial=partial,
        annotations=tuple(annotations),
        users=tuple(users),
        resource_arns=tuple(dict.fromkeys(arns)),
        instance_ids=tuple(dict.fromkeys(instances)),
        availability_zones=tuple(dict.fromkeys(zones)),
        revision=revision,
        updated_at=updated_at,
    )


def full_trace_segments(
    trace_id: str, documents: list[dict[str, Any]], *, account_id: str
) -> list[dict[str, Any]]:
    """BatchGetTraces' segment documents: merged segments, then the inferred segments.

    Inferred segments follow the developer guide's example: the subsegment's name, times, http,
    aws and error flags, ``parent_id`` = the subsegment id, ``"inferred": true`` and the node
    type as ``origin``.
    """
    segments, _orphans = merge_documents(documents)
    builder = _Builder(trace_id, account_id)
    for segment in segments:
        builder.scan_segment(segment)
    inferred = []
    for sub, _caller in _inferred_calls(builder, segments):
        doc: dict[str, Any] = {
            "id": inferred_segment_id(trace_id, str(sub["id"])),
            "name": sub["name"],
            "start_time": sub["start_time"],
            "trace_id": trace_id,
            "parent_id": sub["id"],
            "inferred": True,
            "origin": inferred_type(sub),
        }
        if sub.get("end_time") is not None:
            doc["end_time"] = sub["end_time"]
        else:
            doc["in_progress"] = True
        for key in ("http", "aws", "sql"):
            if key in sub:
                doc[key] = sub[key]
        # The inferred segment carries the status the service graph counts for this call.
        status = classify_entity(sub, with_descendants=True)
        if status is not Status.OK:
            doc["error"] = status in (Status.ERROR, Status.THROTTLE)
            doc["throttle"] = status is Status.THROTTLE
            doc["fault"] = status is Status.FAULT
        inferred.append(doc)
    return [*segments, *inferred]
