"""Builders for X-Ray segment documents, hand-made or from the real aws-xray-sdk recorder.

The SDK builders drive ``aws_xray_sdk.core.AWSXRayRecorder`` (sampling off, context missing →
LOG_ERROR, a capturing emitter instead of the UDP daemon client) and record AWS calls through
the SDK's own ``boto_utils.aws_meta_processor`` and HTTP calls through
``ext.requests.patch.requests_processor``, so the documents are exactly what the SDK sends.
The tests at the bottom check the builders themselves.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import botocore.session
import pytest
from aws_xray_sdk.core import AWSXRayRecorder
from aws_xray_sdk.ext.boto_utils import aws_meta_processor
from aws_xray_sdk.ext.requests.patch import requests_processor
from botocore.exceptions import ClientError

from sandbox.endpoint.context import RequestContext
from sandbox.endpoint.xray.segments import parse_documents

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def at(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def ctx(now: float = T0 + 3600) -> RequestContext:
    return RequestContext(ACCOUNT, REGION, at(now), "req-1")


def trace_id(n: int, epoch: float = T0) -> str:
    return f"1-{int(epoch):08x}-{n:024x}"


def entity_id(n: int) -> str:
    return f"{n:016x}"


# --- hand-built documents -------------------------------------------------------------------


def segment(
    name: str, seg_id: str, trace: str, start: float, end: float | None, **fields: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "id": seg_id, "trace_id": trace, "start_time": start}
    if end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = end
    doc.update(fields)
    return doc


def subsegment(
    name: str, sub_id: str, start: float, end: float | None, **fields: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "id": sub_id, "start_time": start}
    if end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = end
    doc.update(fields)
    return doc


def independent(
    name: str, sub_id: str, trace: str, parent_id: str, start: float, end: float, **fields: Any
) -> dict[str, Any]:
    return subsegment(
        name, sub_id, start, end, type="subsegment", trace_id=trace, parent_id=parent_id, **fields
    )


def flags_for(status: int) -> dict[str, Any]:
    """What the X-Ray SDKs record for an HTTP status (Entity.apply_status_code)."""
    fields: dict[str, Any] = {"http": {"response": {"status": status}}}
    if status >= 500:
        fields["fault"] = True
    elif status == 429:
        fields.update(throttle=True, error=True)
    elif status >= 400:
        fields["error"] = True
    return fields


# --- the real SDK ---------------------------------------------------------------------------


class CapturingEmitter:
    """Stands in for the UDP emitter: keeps each ``entity.serialize()`` the SDK would send."""

    def __init__(self) -> None:
        self.documents: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(entity.serialize())

    def set_daemon_address(self, address: str) -> None:
        pass


def sdk_recorder(streaming_threshold: int = 100) -> tuple[AWSXRayRecorder, CapturingEmitter]:
    """A recorder that samples everything and streams subsegments past ``streaming_threshold``."""
    emitter = CapturingEmitter()
    recorder = AWSXRayRecorder()
    recorder.configure(
        sampling=False,
        context_missing="LOG_ERROR",
        emitter=emitter,
        plugins=(),
        service="stormwatch-tests",
        streaming_threshold=streaming_threshold,
    )
    return recorder, emitter


@contextmanager
def sdk_segment(
    recorder: AWSXRayRecorder,
    name: str,
    trace: str,
    start: float,
    end: float,
    *,
    origin: str | None = None,
    parent_id: str | None = None,
    http_status: int | None = None,
    user: str | None = None,
) -> Iterator[Any]:
    seg = recorder.begin_segment(name, traceid=trace, parent_id=parent_id)
    seg.start_time = start
    if origin is not None:
        seg.origin = origin
    if user is not None:
        seg.set_user(user)
    yield seg
    if http_status is not None:
        seg.put_http_meta("status", http_status)
    recorder.end_segment(end_time=end)


@contextmanager
def sdk_local(recorder: AWSXRayRecorder, name: str, start: float, end: float) -> Iterator[Any]:
    sub = recorder.begin_subsegment(name, "local")
    sub.start_time = start
    yield sub
    recorder.end_subsegment(end_time=end)


class _FakeBotoClient:
    class meta:
        region_name = REGION


def sdk_aws_call(
    recorder: AWSXRayRecorder,
    service: str,
    operation: str,
    params: dict[str, Any],
    start: float,
    end: float,
    *,
    status: int = 200,
    error_code: str = "ThrottlingException",
) -> Any:
    """An AWS SDK call as the botocore patch records it (subsegment named by endpoint prefix)."""
    sub = recorder.begin_subsegment(service, "aws")
    sub.start_time = start
    metadata = {"RequestId": f"req-{start}", "HTTPStatusCode": status}
    if status < 400:
        return_value, exception = {"ResponseMetadata": metadata}, None
    else:
        error = {"Error": {"Code": error_code, "Message": "m"}, "ResponseMetadata": metadata}
        return_value, exception = None, ClientError(error, operation)
    aws_meta_processor(
        wrapped=None,
        instance=_FakeBotoClient(),
        args=(operation, params),
        kwargs={},
        return_value=return_value,
        exception=exception,
        subsegment=sub,
        stack=[],
    )
    recorder.end_subsegment(end_time=end)
    return sub


class _FakeResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def sdk_http_call(
    recorder: AWSXRayRecorder, host: str, start: float, end: float, *, status: int = 200
) -> Any:
    """An outgoing ``requests`` call as the requests patch records it (namespace remote)."""
    sub = recorder.begin_subsegment(host, "remote")
    sub.start_time = start
    requests_processor(
        wrapped=None,
        instance=None,
        args=("GET", f"https://{host}/v1/items"),
        kwargs={},
        return_value=_FakeResponse(status),
        exception=None,
        subsegment=sub,
        stack=[],
    )
    recorder.end_subsegment(end_time=end)
    return sub


# --- output shape check ---------------------------------------------------------------------

_XRAY_MODEL = botocore.session.get_session().get_service_model("xray")


def assert_output_shape(operation: str, result: dict[str, Any]) -> None:
    """Every key is a member of botocore's output shape and every value has the member's type."""
    _check(result, _XRAY_MODEL.operation_model(operation).output_shape, operation)


def _check(value: Any, shape: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        for key, item in value.items():
            assert key in shape.members, f"{path}.{key} is not in {shape.name}"
            _check(item, shape.members[key], f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), path
        for index, item in enumerate(value):
            _check(item, shape.member, f"{path}[{index}]")
    elif kind == "map":
        assert isinstance(value, dict), path
        for key, item in value.items():
            assert isinstance(key, str), path
            _check(item, shape.value, f"{path}[{key}]")
    elif kind == "string":
        assert isinstance(value, str), path
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif kind in ("double", "float"):
        assert isinstance(value, int | float) and not isinstance(value, bool), path
    elif kind == "boolean":
        assert isinstance(value, bool), path
    elif kind == "timestamp":
        assert isinstance(value, datetime) and value.tzinfo is not None, path
    else:  # pragma: no cover - X-Ray outputs use no other types
        raise AssertionError(f"{path}: unexpected shape type {kind}")


# --- the builders themselves ----------------------------------------------------------------


def test_sdk_segment_documents_are_what_the_sdk_serialises() -> None:
    recorder, emitter = sdk_recorder()
    with sdk_segment(
        recorder, "checkout", trace_id(1), T0, T0 + 0.2, origin="AWS::Lambda::Function"
    ):
        sdk_aws_call(
            recorder,
            "dynamodb",
            "PutItem",
            {"TableName": "orders"},
            T0 + 0.01,
            T0 + 0.05,
            status=429,
        )

    (document,) = emitter.documents
    doc = json.loads(document)
    (call,) = doc["subsegments"]
    assert doc["origin"] == "AWS::Lambda::Function"
    assert call["namespace"] == "aws"
    assert call["aws"]["table_name"] == "orders"
    # The SDK flags a 429 as throttle + error and, for the recorded exception, fault as well.
    assert (call["throttle"], call["error"], call["fault"]) == (True, True, True)
    assert parse_documents(document)[0].trace_id == trace_id(1)


def test_sdk_streams_subsegments_past_the_threshold() -> None:
    recorder, emitter = sdk_recorder(streaming_threshold=1)
    with sdk_segment(recorder, "checkout", trace_id(2), T0, T0 + 0.2):
        sdk_aws_call(recorder, "dynamodb", "GetItem", {"TableName": "orders"}, T0 + 0.01, T0 + 0.02)
        sdk_aws_call(
            recorder, "sqs", "SendMessage", {"QueueUrl": "https://q"}, T0 + 0.03, T0 + 0.04
        )

    kinds = [json.loads(document).get("type", "segment") for document in emitter.documents]
    assert kinds.count("subsegment") >= 1
    assert kinds[-1] == "segment"
