"""AWS wire protocols, server side: botocore's serializers and parsers in reverse.

The sandbox's own backends speak in boto3-shaped dicts. This module turns an HTTP request in any
protocol botocore may use (``smithy-rpc-v2-cbor``, ``json``, ``query``, ``rest-json``,
``rest-xml``) into the operation's input dict, and an output dict (or an :class:`AwsError`) into
the bytes and headers that botocore's parser for that protocol expects. Everything is driven by
botocore's own service model, so a shape added by AWS needs no code here.

Large numeric lists (GetMetricData's ``Timestamps``/``Values``) may arrive as numpy arrays; the
CBOR and JSON encoders write those without a per-element Python loop.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
import cbor2
import numpy as np

from sandbox.endpoint.errors import AwsError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.model import OperationModel, ServiceModel, Shape

CBOR = "smithy-rpc-v2-cbor"
JSON = "json"
QUERY = "query"
REST_JSON = "rest-json"
REST_XML = "rest-xml"

# SigV4 signing names that differ from botocore's service names.
_SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "states": "stepfunctions",
    "execute-api": "apigateway",
    "email": "ses",
    "iam": "iam",
}

_session = botocore.session.get_session()


@lru_cache(maxsize=64)
def service_model(service_name: str) -> ServiceModel:
    """botocore's model of a service (``cloudwatch``, ``xray``, ...), loaded once."""
    return _session.get_service_model(service_name)


def service_from_signing_name(signing_name: str) -> str:
    return _SIGNING_TO_SERVICE.get(signing_name, signing_name)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """The parts of an HTTP request the protocols look at; header names are lower-case."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes


# --------------------------------------------------------------------------- protocol detection


def detect_protocol(model: ServiceModel, request: HttpRequest) -> str:
    """The protocol a request was sent in, among those the service's model allows."""
    supported = model.metadata.get("protocols") or [model.protocol]
    headers = request.headers
    if headers.get("smithy-protocol") == "rpc-v2-cbor" and CBOR in supported:
        return CBOR
    if "x-amz-target" in headers and JSON in supported:
        return JSON
    content_type = headers.get("content-type", "")
    if QUERY in supported and (
        content_type.startswith("application/x-www-form-urlencoded")
        or "Action=" in request.query_string
    ):
        return QUERY
    for protocol in (REST_JSON, REST_XML, JSON, QUERY, CBOR):
        if protocol in supported:
            return protocol
    return model.protocol


def identify_operation(model: ServiceModel, protocol: str, request: HttpRequest) -> str | None:
    """The operation name a request asks for, or None when it matches none of the model's."""
    if protocol == CBOR:
        match = re.fullmatch(r"/service/[^/]+/operation/([A-Za-z0-9]+)", request.path)
        name = match.group(1) if match else None
    elif protocol == JSON:
        target = request.headers.get("x-amz-target", "")
        name = target.rsplit(".", 1)[-1] if target else None
    elif protocol == QUERY:
        name = _query_params(request).get("Action")
    else:
        name = _match_rest_operation(model.service_name, request)
    return name if name in model.operation_names else None


@lru_cache(maxsize=64)
def _rest_routes(service_name: str) -> list[tuple[str, str, re.Pattern[str], tuple[str, ...], int]]:
    """(method, operation, path regex, required query keys, literal length) per REST operation."""
    model = service_model(service_name)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http.get("requestUri", "/").partition("?")
        pattern = ""
        literal = 0
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{"):
                pattern += "(.+)" if part.endswith("+}") else "([^/]+)"
            else:
                pattern += re.escape(part)
                literal += len(part)
        keys = tuple(k.split("=")[0] for k in query.split("&") if k)
        regex = re.compile(pattern.rstrip("/") + "/?")
        routes.append((http.get("method", "POST"), name, regex, keys, literal))
    return routes


def _match_rest_operation(service_name: str, request: HttpRequest) -> str | None:
    query_keys = set(parse_qs(request.query_string, keep_blank_values=True))
    best: tuple[int, str] | None = None
    for method, name, regex, keys, literal in _rest_routes(service_name):
        if method != request.method or not regex.fullmatch(request.path):
            continue
        if not set(keys) <= query_keys:
            continue
        score = literal * 10 + len(keys)
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


# --------------------------------------------------------------------------- request decoding


def decode_request(
    operation: OperationModel, protocol: str, request: HttpRequest
) -> dict[str, Any]:
    """The operation's input as boto3 kwargs: aware UTC datetimes, bytes for blobs.

    A body that is not valid for its protocol raises :class:`ValidationError` (AWS answers
    such requests with a 400 as well, never a 500).
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    try:
        if protocol == QUERY:
            flat = _query_params(request)
            return _from_query(flat, "", shape) or {}
        if protocol == CBOR:
            raw = cbor2.loads(request.body) if request.body else {}
        else:
            raw = json.loads(request.body) if request.body else {}
    except (ValueError, cbor2.CBORDecodeError) as exc:
        raise ValidationError(f"Could not parse the request body as {protocol}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValidationError(f"The request body must be a {protocol} object")
    value = _from_document(raw, shape)
    if protocol == REST_JSON:
        value.update(_rest_location_params(operation, request))
    return value


def _query_params(request: HttpRequest) -> dict[str, str]:
    pairs = parse_qs(request.query_string, keep_blank_values=True)
    if request.body:
        pairs.update(parse_qs(request.body.decode("utf-8"), keep_blank_values=True))
    return {k: v[-1] for k, v in pairs.items()}


def _from_document(value: Any, shape: Shape) -> Any:
    """Walk a JSON/CBOR-decoded value along its shape, converting scalars."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            raise ValidationError(f"Expected an object for {shape.name}, got {value!r}")
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = _from_document(value[name], member)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise ValidationError(f"Expected a list for {shape.name}, got {value!r}")
        return [_from_document(v, shape.member) for v in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise ValidationError(f"Expected a map for {shape.name}, got {value!r}")
        return {k: _from_document(v, shape.value) for k, v in value.items()}
    return _scalar(value, shape)


def _scalar(value: Any, shape: Shape) -> Any:
    kind = shape.type_name
    try:
        if kind == "timestamp":
            return parse_timestamp(value)
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("double", "float"):
            return float(value)
        if kind == "boolean":
            return value if isinstance(value, bool) else str(value).lower() == "true"
        if kind == "blob":
            return value if isinstance(value, bytes) else base64.b64decode(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"Invalid value {value!r} for {shape.name} ({kind})") from exc
    return value


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from epoch seconds, a datetime or an ISO 8601 string."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_query(flat: dict[str, str], prefix: str, shape: Shape) -> Any:
    """Rebuild a nested value from query's flattened keys (``A.member.1.B``, ``M.entry.1.key``)."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            full = f"{prefix}.{key}" if prefix else key
            value = _from_query(flat, full, member)
            if value is not None:
                out[name] = value
        return out if out or not prefix else None
    if kind == "list":
        flattened = shape.serialization.get("flattened")
        item = shape.member.serialization.get("name", "member")
        base = prefix if flattened else f"{prefix}.{item}"
        if not flattened and flat.get(prefix) == "":
            return []  # botocore sends an empty list as "Name=" for query
        items = []
        index = 1
        while True:
            value = _from_query(flat, f"{base}.{index}", shape.member)
            if value is None:
                break
            items.append(value)
            index += 1
        return items or None
    if kind == "map":
        flattened = shape.serialization.get("flattened")
        base = prefix if flattened else f"{prefix}.entry"
        out = {}
        index = 1
        while f"{base}.{index}.key" in flat:
            value = _from_query(flat, f"{base}.{index}.value", shape.value)
            out[flat[f"{base}.{index}.key"]] = value
            index += 1
        return out or None
    if prefix not in flat:
        return None
    return _scalar(flat[prefix], shape)


def _rest_location_params(operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
    """Members bound to the URI, query string or headers in a rest-json request."""
    shape = operation.input_shape
    out: dict[str, Any] = {}
    if shape is None:
        return out
    query = parse_qs(request.query_string, keep_blank_values=True)
    uri = operation.http.get("requestUri", "/").partition("?")[0]
    names = re.findall(r"\{([^}+]+)\+?\}", uri)
    pattern = re.sub(r"\\\{[^}]+\\\+\\\}", "(.+)", re.escape(uri))
    pattern = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", pattern)
    match = re.fullmatch(pattern.rstrip("/") + "/?", request.path)
    uri_values = dict(zip(names, match.groups(), strict=False)) if match else {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in uri_values:
            out[name] = _scalar(uri_values[wire], member)
        elif location == "querystring" and wire in query:
            values = query[wire]
            out[name] = (
                [_scalar(v, member.member) for v in values]
                if member.type_name == "list"
                else _scalar(values[-1], member)
            )
        elif location == "header" and wire.lower() in request.headers:
            out[name] = _scalar(request.headers[wire.lower()], member)
    return out


# --------------------------------------------------------------------------- response encoding


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def encode_response(
    operation: OperationModel, protocol: str, output: Mapping[str, Any], request_id: str
) -> HttpResponse:
    """Serialise an operation's output dict the way AWS answers in ``protocol``."""
    shape = operation.output_shape
    headers = {"x-amzn-RequestId": request_id}
    if protocol == CBOR:
        body = bytearray()
        if shape is None:
            _cbor_map_header(body, 0)
        else:
            _cbor_encode(body, output, shape)
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        return HttpResponse(200, headers, bytes(body))
    if protocol in (JSON, REST_JSON):
        document = _to_json(output, shape) if shape is not None else {}
        content_type = "application/json"
        if protocol == JSON:
            version = operation.service_model.metadata.get("jsonVersion", "1.0")
            content_type = f"application/x-amz-json-{version}"
        headers["Content-Type"] = content_type
        return HttpResponse(200, headers, _dumps(document))
    if protocol == QUERY:
        return HttpResponse(
            200, {**headers, "Content-Type": "text/xml"}, _query_xml(operation, output, request_id)
        )
    raise ValidationError(f"The sandbox does not serialise {protocol} responses")


def encode_error(
    model: ServiceModel, protocol: str, error: AwsError, request_id: str
) -> HttpResponse:
    """An AWS error response in ``protocol`` that botocore maps back to ``error.code``."""
    headers = {"x-amzn-RequestId": request_id}
    fault = "Sender" if error.sender_fault else "Receiver"
    if protocol in (JSON, CBOR):
        type_name = _error_shape_name(model, error.code)
        if model.metadata.get("awsQueryCompatible") is not None:
            # Services moved off the query protocol keep their old error codes in this header.
            headers["x-amzn-query-error"] = f"{error.code};{fault}"
        document = {"__type": type_name, "message": error.message}
        if protocol == CBOR:
            headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
            return HttpResponse(error.http_status, headers, cbor2.dumps(document))
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return HttpResponse(error.http_status, headers, _dumps(document))
    if protocol == REST_JSON:
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": error.code})
        return HttpResponse(error.http_status, headers, _dumps({"message": error.message}))
    body = (
        f'<ErrorResponse xmlns="{_xml_namespace(model)}"><Error><Type>{fault}</Type>'
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    if protocol == REST_XML:
        body = (
            f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    return HttpResponse(error.http_status, {**headers, "Content-Type": "text/xml"}, body.encode())


def _error_shape_name(model: ServiceModel, code: str) -> str:
    # A shape named exactly like the code wins: CloudWatch's DashboardNotFoundError and
    # ResourceNotFound share the code "ResourceNotFound", and the alarm operations declare the
    # latter.
    names = {shape.name for shape in model.error_shapes}
    if code in names:
        return code
    for shape in model.error_shapes:
        if shape.metadata.get("error", {}).get("code") == code:
            return shape.name
    return code


def _xml_namespace(model: ServiceModel) -> str:
    api_version = model.api_version
    prefix = model.metadata.get("endpointPrefix", model.service_name)
    return f"http://{prefix}.amazonaws.com/doc/{api_version}/"


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def _to_json(value: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            name: _to_json(value[name], member)
            for name, member in shape.members.items()
            if value.get(name) is not None and member.serialization.get("location") is None
        }
    if kind == "list":
        if isinstance(value, np.ndarray):
            return _array_to_list(value, shape.member)
        return [_to_json(v, shape.member) for v in value]
    if kind == "map":
        return {k: _to_json(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob":
        return base64.b64encode(value).decode()
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    return value


def _array_to_list(array: np.ndarray, member: Shape) -> list[Any]:
    if member.type_name == "timestamp":
        return _epoch_array(array).tolist()
    return array.astype(float).tolist()


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _epoch_array(array: np.ndarray) -> np.ndarray:
    """Epoch seconds (float64) from int/float epoch seconds or numpy datetime64."""
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ms]").astype(np.int64) / 1000.0
    return array.astype(np.float64)


# CBOR (RFC 8949), the subset smithy-rpc-v2-cbor uses. Hand-written for the numpy fast path.


def _cbor_head(out: bytearray, major: int, length: int) -> None:
    if length < 24:
        out.append(major << 5 | length)
    elif length < 0x100:
        out += bytes((major << 5 | 24, length))
    elif length < 0x10000:
        out.append(major << 5 | 25)
        out += length.to_bytes(2, "big")
    elif length < 0x100000000:
        out.append(major << 5 | 26)
        out += length.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += length.to_bytes(8, "big")


def _cbor_map_header(out: bytearray, size: int) -> None:
    _cbor_head(out, 5, size)


def _cbor_text(out: bytearray, text: str) -> None:
    data = text.encode()
    _cbor_head(out, 3, len(data))
    out += data


_F64 = np.dtype([("head", "u1"), ("value", ">f8")])
_TAGGED_F64 = np.dtype([("tag", "u1"), ("head", "u1"), ("value", ">f8")])


def _cbor_float_array(out: bytearray, values: np.ndarray, *, timestamps: bool) -> None:
    """An array of float64 items (tag 1 + float64 for timestamps), built in one numpy pass."""
    _cbor_head(out, 4, len(values))
    if timestamps:
        items = np.empty(len(values), dtype=_TAGGED_F64)
        items["tag"] = 0xC1  # tag 1: epoch-based date/time
        items["head"] = 0xFB
        items["value"] = _epoch_array(values)
    else:
        items = np.empty(len(values), dtype=_F64)
        items["head"] = 0xFB
        items["value"] = values.astype(np.float64)
    out += items.tobytes()


def _cbor_encode(out: bytearray, value: Any, shape: Shape) -> None:
    kind = shape.type_name
    if kind == "structure":
        present = [
            (name, member) for name, member in shape.members.items() if value.get(name) is not None
        ]
        _cbor_map_header(out, len(present))
        for name, member in present:
            _cbor_text(out, name)
            _cbor_encode(out, value[name], member)
    elif kind == "list":
        member = shape.member
        if isinstance(value, np.ndarray) and member.type_name in ("timestamp", "double", "float"):
            _cbor_float_array(out, value, timestamps=member.type_name == "timestamp")
            return
        _cbor_head(out, 4, len(value))
        for item in value:
            _cbor_encode(out, item, member)
    elif kind == "map":
        _cbor_map_header(out, len(value))
        for key, item in value.items():
            _cbor_text(out, str(key))
            _cbor_encode(out, item, shape.value)
    elif kind == "string":
        _cbor_text(out, str(value))
    elif kind == "boolean":
        out.append(0xF5 if value else 0xF4)
    elif kind in ("integer", "long"):
        number = int(value)
        if number >= 0:
            _cbor_head(out, 0, number)
        else:
            _cbor_head(out, 1, -1 - number)
    elif kind in ("double", "float"):
        out.append(0xFB)
        out += struct.pack(">d", float(value))
    elif kind == "timestamp":
        out.append(0xC1)
        out.append(0xFB)
        out += struct.pack(">d", _epoch(value))
    elif kind == "blob":
        data = bytes(value)
        _cbor_head(out, 2, len(data))
        out += data
    else:
        raise ValidationError(f"Cannot serialise a {kind} as CBOR")


# Query protocol responses: <OpResponse><OpResult>...</OpResult><ResponseMetadata/></OpResponse>


def _query_xml(operation: OperationModel, output: Mapping[str, Any], request_id: str) -> bytes:
    name = operation.name
    namespace = _xml_namespace(operation.service_model)
    parts = [f'<{name}Response xmlns="{namespace}">']
    shape = operation.output_shape
    if shape is not None:
        result = shape.serialization.get("resultWrapper", f"{name}Result")
        parts.append(f"<{result}>")
        _xml_members(parts, output, shape)
        parts.append(f"</{result}>")
    parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
    parts.append(f"</{name}Response>")
    return "".join(parts).encode()


def _xml_members(parts: list[str], value: Mapping[str, Any], shape: Shape) -> None:
    for name, member in shape.members.items():
        if value.get(name) is None:
            continue
        _xml_value(parts, member.serialization.get("name", name), value[name], member)


def _xml_value(parts: list[str], tag: str, value: Any, shape: Shape) -> None:
    kind = shape.type_name
    if kind == "list":
        item_tag = shape.member.serialization.get("name", "member")
        items = _array_to_list(value, shape.member) if isinstance(value, np.ndarray) else value
        if shape.serialization.get("flattened"):
            for item in items:
                _xml_value(parts, tag, item, shape.member)
            return
        parts.append(f"<{tag}>")
        for item in items:
            _xml_value(parts, item_tag, item, shape.member)
        parts.append(f"</{tag}>")
        return
    parts.append(f"<{tag}>")
    if kind == "structure":
        _xml_members(parts, value, shape)
    elif kind == "map":
        for key, item in value.items():
            parts.append(f"<entry><key>{escape(str(key))}</key>")
            _xml_value(parts, "value", item, shape.value)
            parts.append("</entry>")
    elif kind == "timestamp":
        stamp = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
        parts.append(stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    elif kind == "boolean":
        parts.append("true" if value else "false")
    elif kind == "blob":
        parts.append(base64.b64encode(value).decode())
    elif kind in ("double", "float"):
        parts.append(repr(float(value)))
    else:
        parts.append(escape(str(value)))
    parts.append(f"</{tag}>")
