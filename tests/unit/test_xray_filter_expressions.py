"""Filter expressions: every documented form over a small corpus, and the errors for bad ones."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.endpoint.errors import InvalidRequestException
from sandbox.endpoint.xray import XRayBackend
from sandbox.endpoint.xray.filter_expressions import parse_filter_expression, tokenize
from tests.unit.test_xray_builders import (
    ACCOUNT,
    REGION,
    T0,
    at,
    ctx,
    entity_id,
    flags_for,
    segment,
    subsegment,
    trace_id,
)

pytestmark = pytest.mark.unit

SHOP = "https://shop.example.com"
NAMES = ["ok", "hidden_throttle", "fault", "error", "throttle", "partial", "slow"]


def _http(
    path: str,
    status: int | None,
    method: str = "GET",
    agent: str = "Mozilla/5.0",
    ip: str = "10.0.0.1",
) -> dict[str, Any]:
    http: dict[str, Any] = {
        "request": {"url": SHOP + path, "method": method, "user_agent": agent, "client_ip": ip}
    }
    if status is not None:
        http["response"] = {"status": status}
    return http


def _trace(
    n: int,
    *,
    api_status: int | None,
    path: str,
    orders_status: int | None = None,
    dynamo_status: int | None = None,
    api_duration: float = 0.1,
    orders_end: float = 0.08,
    **api_fields: Any,
) -> list[dict[str, Any]]:
    trace, t = trace_id(n), T0 + 10 * n
    flags = flags_for(api_status) if api_status is not None else {}
    flags.pop("http", None)
    http = _http(
        path,
        api_status,
        **{k: api_fields.pop(k) for k in ("method", "agent", "ip") if k in api_fields},
    )
    subsegments = []
    documents = []
    if orders_status is not None:
        subsegments.append(
            subsegment("orders", entity_id(1000 + n), t + 0.01, t + orders_end, namespace="remote")
        )
        dynamo = []
        if dynamo_status is not None:
            dynamo.append(
                subsegment(
                    "DynamoDB",
                    entity_id(3000 + n),
                    t + 0.03,
                    t + 0.04,
                    namespace="aws",
                    aws={"table_name": "carts"},
                    **flags_for(dynamo_status),
                )
            )
        documents.append(
            segment(
                "orders",
                entity_id(2000 + n),
                trace,
                t + 0.02,
                t + orders_end,
                parent_id=entity_id(1000 + n),
                origin="AWS::ECS::Container",
                subsegments=dynamo,
                **flags_for(orders_status),
            )
        )
    end = None if api_status is None else t + api_duration
    documents.append(
        segment(
            "api",
            entity_id(n),
            trace,
            t,
            end,
            http=http,
            subsegments=subsegments,
            **flags,
            **api_fields,
        )
    )
    return documents


def corpus() -> list[dict[str, Any]]:
    return [
        *_trace(
            0,
            api_status=200,
            path="/api/cart",
            orders_status=200,
            dynamo_status=200,
            user="alice",
            annotations={"customer": "gold", "items": 3, "vip": True},
        ),
        *_trace(
            1, api_status=200, path="/api/cart", orders_status=200, dynamo_status=429, user="bob"
        ),
        *_trace(2, api_status=502, path="/api/checkout", orders_status=500, method="POST"),
        *_trace(
            3,
            api_status=404,
            path="/api/missing",
            agent="curl/8.0",
            annotations={"customer": "silver"},
        ),
        *_trace(4, api_status=429, path="/api/cart", ip="10.0.0.9"),
        *_trace(5, api_status=None, path="/api/cart"),
        *_trace(
            6,
            api_status=200,
            path="/api/report",
            orders_status=200,
            api_duration=3.0,
            orders_end=3.5,
            annotations={"vip": False, "items": 10},
        ),
    ]


@pytest.fixture(scope="module")
def views() -> dict[str, Any]:
    backend = XRayBackend(ACCOUNT, REGION)
    documents = corpus()
    assert backend.add_segment_documents(documents) == len(documents)
    return {name: backend.store.view(trace_id(n)) for n, name in enumerate(NAMES)}


CASES = [
    # boolean keywords: the trace as the client saw it (the root segment)
    ("ok", {"ok", "hidden_throttle", "slow"}),
    ("error", {"error", "throttle"}),
    ("throttle", {"throttle"}),
    ("fault", {"fault"}),
    ("partial", {"partial"}),
    ("!ok", {"fault", "error", "throttle", "partial"}),
    ("NOT ok", {"fault", "error", "throttle", "partial"}),
    ("ok = false", {"fault", "error", "throttle", "partial"}),
    ("ok != true", {"fault", "error", "throttle", "partial"}),
    ("fault = true", {"fault"}),
    # number keywords
    ("responsetime > 2", {"slow"}),
    ("duration > 3.2", {"slow"}),
    (
        "responsetime < 0.5 AND duration < 0.5",
        {"ok", "hidden_throttle", "fault", "error", "throttle"},
    ),
    ("duration >= 5 AND duration <= 8", set()),
    ("http.status != 200", {"fault", "error", "throttle"}),
    ("http.status = 404", {"error"}),
    ("http.status >= 500", {"fault"}),
    # string keywords
    ('http.url CONTAINS "/api/checkout"', {"fault"}),
    (
        'http.url BEGINSWITH "https://shop.example.com/api/c"',
        {"ok", "hidden_throttle", "fault", "throttle", "partial"},
    ),
    ('http.url ENDSWITH "/report"', {"slow"}),
    ('http.url = "https://shop.example.com/api/missing"', {"error"}),
    ('http.method = "POST"', {"fault"}),
    ('http.method != "GET"', {"fault"}),
    ('http.useragent CONTAINS "curl"', {"error"}),
    ('http.clientip = "10.0.0.9"', {"throttle"}),
    ('user = "alice"', {"ok"}),
    ('user CONTAINS ""', {"ok", "hidden_throttle"}),
    # annotations
    ('annotation.customer = "gold"', {"ok"}),
    ('annotation.customer != "gold"', {"error"}),
    ('annotation.customer BEGINSWITH "si"', {"error"}),
    ("annotation.items > 5", {"slow"}),
    ("annotation.items >= 3", {"ok", "slow"}),
    ("annotation.vip", {"ok"}),
    ("annotation.vip = false", {"slow"}),
    ("annotation.missing = 1", set()),
    # service() and edge(), with and without braces
    ('service("orders")', {"ok", "hidden_throttle", "fault", "slow"}),
    ('!service("orders")', {"error", "throttle", "partial"}),
    ('service("orders") { fault }', {"fault"}),
    ('service("DynamoDB") { throttle }', {"hidden_throttle"}),
    ("service() { throttle }", {"hidden_throttle", "throttle"}),
    ("service() { fault }", {"fault"}),
    ('service("orders") { responsetime > 3 }', {"slow"}),
    ('service("orders") { http.status = 500 }', {"fault"}),
    ('service(id(name: "orders", type: "AWS::ECS::Container")) { fault }', {"fault"}),
    ('service(id(name: "orders", type: "AWS::Lambda::Function"))', set()),
    ('service(id(type: "AWS::DynamoDB::Table"))', {"ok", "hidden_throttle"}),
    ('edge("orders", "DynamoDB") { throttle }', {"hidden_throttle"}),
    ('edge("api", "orders") { error OR fault }', {"fault"}),
    ('edge("api", "orders")', {"ok", "hidden_throttle", "fault", "slow"}),
    (
        'edge(id(name: "api"), id(name: "orders", type: "AWS::ECS::Container")) { ok }',
        {"ok", "hidden_throttle", "slow"},
    ),
    (
        'http.url BEGINSWITH "https://shop" AND http.url CONTAINS "/api/" AND !service("orders")',
        {"error", "throttle", "partial"},
    ),
    # combinators, implicit AND, case-insensitivity
    ("ok !partial duration < 3", {"ok", "hidden_throttle"}),
    ("error OR fault", {"fault", "error", "throttle"}),
    ("error || fault", {"fault", "error", "throttle"}),
    ("ok && !partial", {"ok", "hidden_throttle", "slow"}),
    ('(error OR fault) AND http.method = "POST"', {"fault"}),
    ("NOT (ok OR partial)", {"fault", "error", "throttle"}),
    ("error or fault and http.status >= 500", {"fault", "error", "throttle"}),
    ("OK", {"ok", "hidden_throttle", "slow"}),
    ('Service("orders") { FAULT }', {"fault"}),
    ('http.url contains "/api/checkout"', {"fault"}),
    ("HTTP.STATUS = 404", {"error"}),
]


@pytest.mark.parametrize(("expression", "expected"), [pytest.param(e, x, id=e) for e, x in CASES])
def test_expression_matches(views: dict[str, Any], expression: str, expected: set[str]) -> None:
    matcher = parse_filter_expression(expression)
    assert {name for name, view in views.items() if matcher.matches(view)} == expected


ERRORS = [
    ("responsetime >", 14, "expected a number but found end of expression"),
    ("bogus", 0, "unknown keyword 'bogus'"),
    ("ok AND bogus = 1", 7, "unknown keyword 'bogus'"),
    ('http.url > "x"', 9, "operator > cannot be used with http.url"),
    ("responsetime CONTAINS 3", 13, "operator CONTAINS cannot be used with responsetime"),
    ("http.url = x", 11, "expected a double-quoted string but found 'x'"),
    ("service(orders)", 8, "expected a service name (\"name\") or id(...) but found 'orders'"),
    (
        'service("a") { service("b") }',
        15,
        "service() cannot be used inside service() or edge() braces",
    ),
    ("(ok", 3, "expected ')' but found end of expression"),
    ("ok )", 3, "unexpected ')'"),
    ('edge("a")', 8, "expected ',' but found ')'"),
    ("ok AND", 6, "expected a keyword but found end of expression"),
    ('http.url = "unterminated', 11, "unexpected character '\"'"),
    ("ok = maybe", 5, "expected true or false but found 'maybe'"),
    ('annotation.n > "x"', 13, "operator > cannot compare annotation.n with string values"),
    ('service(id(colour: "red"))', 11, "expected name: or type: in id() but found 'colour'"),
    ("duration == 3", 10, "expected a number but found '='"),
    ("", 0, "empty filter expression"),
]


@pytest.mark.parametrize(
    ("expression", "position", "problem"),
    [pytest.param(*case, id=case[0] or "empty") for case in ERRORS],
)
def test_bad_expression_is_an_invalid_request(expression: str, position: int, problem: str) -> None:
    with pytest.raises(InvalidRequestException) as caught:
        parse_filter_expression(expression)
    error = caught.value
    assert (error.code, error.http_status) == ("InvalidRequestException", 400)
    assert (
        error.message
        == f'Invalid filter expression "{expression}": {problem} at position {position}'
    )


def test_tokenizer_keeps_positions_and_unescapes_strings() -> None:
    tokens = tokenize(r'annotation.k = "a \"b\"" && ok')
    assert [(t.kind, t.value, t.pos) for t in tokens] == [
        ("word", "annotation.k", 0),
        ("op", "=", 13),
        ("string", 'a "b"', 15),
        ("op", "&&", 25),
        ("word", "ok", 28),
        ("end", "", 30),
    ]


def test_get_trace_summaries_applies_the_filter() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(corpus())
    window = {"StartTime": at(T0), "EndTime": at(T0 + 3600)}

    def ids(expression: str) -> list[str]:
        result = backend.get_trace_summaries({**window, "FilterExpression": expression}, ctx())
        assert result["TracesProcessedCount"] == len(NAMES)
        return [summary["Id"] for summary in result["TraceSummaries"]]

    # A throttle hidden downstream sets HasThrottle, but only service()/edge() find it.
    assert ids('service("DynamoDB") { throttle }') == [trace_id(1)]
    assert ids("throttle") == [trace_id(4)]
    summaries = backend.get_trace_summaries(window, ctx())["TraceSummaries"]
    assert [s["Id"] for s in summaries if s["HasThrottle"]] == [trace_id(1), trace_id(4)]

    with pytest.raises(InvalidRequestException, match="unknown keyword 'bogus'"):
        backend.get_trace_summaries({**window, "FilterExpression": "bogus"}, ctx())
