"""X-Ray filter expressions: tokenizer, recursive-descent parser and evaluator over a trace.

Grammar, from the developer guide's "Use filter expressions" (keywords and operators are
case-insensitive; string values are double-quoted)::

    expression := or
    or         := and (("OR" | "||") and)*
    and        := unary (("AND" | "&&")? unary)*      # juxtaposition: "ok !partial duration <3"
    unary      := ("NOT" | "!") unary | "(" or ")" | keyword
    keyword    := ok | error | throttle | fault | partial   [("=" | "!=") (true | false)]
                | (responsetime | duration | http.status) ("=" | "!=" | "<" | "<=" | ">" | ">=")
                      number
                | (http.url | http.method | http.useragent | http.clientip | user)
                      ("=" | "!=" | CONTAINS | BEGINSWITH | ENDSWITH) string
                | annotation.KEY [operator (string | number | true | false)]
                | service "(" [node] ")" ["{" or "}"]
                | edge "(" node "," node ")" ["{" or "}"]
    node       := string | id "(" (name | type) ":" string ["," (name | type) ":" string] ")"

Semantics follow the guide. Simple keywords describe the trace as the client saw it ("Simple
keywords and operators only find issues at the trace level"): the root segment's status,
``responsetime`` of the root segment, ``duration`` of the whole trace, the root segment's
``http``; ``user`` and ``annotation.KEY`` match any segment of the trace. ``service(…)`` is true
when the trace visited a matching node (inferred nodes included), and with ``{…}`` when one of
that node's segments satisfies the inner expression; ``edge(a, b) {…}`` applies the inner
expression to the callee's segments on that edge. For a multi-valued field, ``!=`` holds when no
value is equal and every other operator when some value matches; a missing field matches
nothing.

Errors raise ``InvalidRequestException`` quoting the expression, the offending position (a
0-based character offset) and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from sandbox.endpoint.errors import InvalidRequestException
from sandbox.endpoint.xray.traces import NodeId, Status, TraceView, Visit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

BOOLEAN_KEYWORDS = ("ok", "error", "throttle", "fault", "partial")
NUMBER_KEYWORDS = ("responsetime", "duration", "http.status")
STRING_KEYWORDS = ("http.url", "http.method", "http.useragent", "http.clientip", "user")
NUMBER_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPERATORS = ("=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH")

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op>>=|<=|!=|&&|\|\||[=<>!(){},:])
    """,
    re.VERBOSE,
)
_T = TypeVar("_T")
_WORD_OPERATORS = {"AND", "OR", "NOT", "CONTAINS", "BEGINSWITH", "ENDSWITH"}


class Token(NamedTuple):
    kind: str  # "string", "number", "word", "op" or "end"
    value: str
    pos: int


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(expression):
        match = _TOKEN_RE.match(expression, pos)
        if match is None:
            raise _error(expression, pos, f"unexpected character {expression[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            text = match.group()
            if kind == "string":
                text = re.sub(r"\\(.)", r"\1", text[1:-1])
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(expression)))
    return tokens


def _error(expression: str, pos: int, problem: str) -> InvalidRequestException:
    return InvalidRequestException(
        f'Invalid filter expression "{expression}": {problem} at position {pos}'
    )


# --- evaluation subjects ------------------------------------------------------------------------


class _TraceSubject:
    """The trace as the client saw it (simple keywords), plus its visits for service()/edge()."""

    def __init__(self, view: TraceView) -> None:
        self.view = view

    @property
    def status(self) -> Status | None:
        """The root's response; None while it is in progress (no response yet, so not ``ok``)."""
        root = self.view.root
        return None if root is None or root.end is None else root.status

    @property
    def partial(self) -> bool:
        return self.view.partial

    def number(self, field: str) -> float | None:
        if field == "responsetime":
            return self.view.response_time
        if field == "duration":
            return self.view.duration
        root = self.view.root
        return None if root is None or root.http.status is None else float(root.http.status)

    def strings(self, field: str) -> list[str]:
        if field == "user":
            return [user for user, _node in self.view.users]
        root = self.view.root
        return [] if root is None else _http_strings(root, field)

    def annotation_values(self, key: str) -> list[Any]:
        return [value for name, value, _node in self.view.annotations if name == key]


class _VisitSubject:
    """One segment (or inferred segment) of a node, for the inner expression of service()/edge()."""

    def __init__(self, visit: Visit) -> None:
        self.visit = visit

    @property
    def status(self) -> Status | None:
        return None if self.visit.end is None else self.visit.status

    @property
    def partial(self) -> bool:
        return self.visit.end is None

    def number(self, field: str) -> float | None:
        if field == "http.status":
            status = self.visit.http.status
            return None if status is None else float(status)
        return self.visit.duration

    def strings(self, field: str) -> list[str]:
        if field == "user":
            return [] if self.visit.user is None else [self.visit.user]
        return _http_strings(self.visit, field)

    def annotation_values(self, key: str) -> list[Any]:
        return [self.visit.annotations[key]] if key in self.visit.annotations else []


Subject = _TraceSubject | _VisitSubject


def _http_strings(visit: Visit, field: str) -> list[str]:
    value = {
        "http.url": visit.http.url,
        "http.method": visit.http.method,
        "http.useragent": visit.http.user_agent,
        "http.clientip": visit.http.client_ip,
    }[field]
    return [] if value is None else [value]


# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """``"name"`` or ``id(name: "…", type: "…")``; a missing part matches anything."""

    name: str | None = None
    type: str | None = None

    def matches(self, node: NodeId) -> bool:
        return (self.name is None or node.name == self.name) and (
            self.type is None or node.type == self.type
        )


class Expression:
    def evaluate(self, subject: Subject) -> bool:
        raise NotImplementedError

    def matches(self, view: TraceView) -> bool:
        """True when the trace satisfies the expression."""
        return self.evaluate(_TraceSubject(view))


@dataclass(frozen=True, slots=True)
class And(Expression):
    items: tuple[Expression, ...]

    def evaluate(self, subject: Subject) -> bool:
        return all(item.evaluate(subject) for item in self.items)


@dataclass(frozen=True, slots=True)
class Or(Expression):
    items: tuple[Expression, ...]

    def evaluate(self, subject: Subject) -> bool:
        return any(item.evaluate(subject) for item in self.items)


@dataclass(frozen=True, slots=True)
class Not(Expression):
    item: Expression

    def evaluate(self, subject: Subject) -> bool:
        return not self.item.evaluate(subject)


_STATUS_KEYWORDS: dict[str, Callable[[Status], bool]] = {
    "ok": lambda status: status is Status.OK,
    "error": lambda status: status in (Status.ERROR, Status.THROTTLE),  # 4XX, 429 included
    "throttle": lambda status: status is Status.THROTTLE,
    "fault": lambda status: status is Status.FAULT,
}


@dataclass(frozen=True, slots=True)
class BooleanKeyword(Expression):
    keyword: str
    expected: bool = True

    def evaluate(self, subject: Subject) -> bool:
        if self.keyword == "partial":
            value = subject.partial
        else:
            status = subject.status
            value = status is not None and _STATUS_KEYWORDS[self.keyword](status)
        return value is self.expected


def _compare(values: Iterable[Any], operator: str, literal: Any) -> bool:
    values = list(values)
    if not values:
        return False
    if operator == "!=":
        return all(value != literal for value in values)
    test = _OPERATORS[operator]
    return any(test(value, literal) for value in values)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "CONTAINS": lambda a, b: b in a,
    "BEGINSWITH": lambda a, b: a.startswith(b),
    "ENDSWITH": lambda a, b: a.endswith(b),
}


@dataclass(frozen=True, slots=True)
class NumberComparison(Expression):
    keyword: str
    operator: str
    value: float

    def evaluate(self, subject: Subject) -> bool:
        number = subject.number(self.keyword)
        return _compare([] if number is None else [number], self.operator, self.value)


@dataclass(frozen=True, slots=True)
class StringComparison(Expression):
    keyword: str
    operator: str
    value: str

    def evaluate(self, subject: Subject) -> bool:
        return _compare(subject.strings(self.keyword), self.operator, self.value)


@dataclass(frozen=True, slots=True)
class AnnotationComparison(Expression):
    """``annotation.KEY op value``; bare ``annotation.KEY`` is true for a ``true`` annotation."""

    key: str
    operator: str = "="
    value: Any = True

    def evaluate(self, subject: Subject) -> bool:
        kind = _value_kind(self.value)
        values = [v for v in subject.annotation_values(self.key) if _value_kind(v) == kind]
        return _compare(values, self.operator, self.value)


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "other"


@dataclass(frozen=True, slots=True)
class ServiceFunction(Expression):
    node: NodeSelector
    inner: Expression | None = None

    def evaluate(self, subject: Subject) -> bool:
        assert isinstance(subject, _TraceSubject)  # the parser forbids nesting
        return any(
            self.node.matches(visit.node)
            and (self.inner is None or self.inner.evaluate(_VisitSubject(visit)))
            for visit in subject.view.visits
        )


@dataclass(frozen=True, slots=True)
class EdgeFunction(Expression):
    source: NodeSelector
    target: NodeSelector
    inner: Expression | None = None

    def on_edge(self, visit: Visit) -> bool:
        return (
            visit.caller is not None
            and not visit.root
            and self.source.matches(visit.caller)
            and self.target.matches(visit.node)
        )

    def evaluate(self, subject: Subject) -> bool:
        assert isinstance(subject, _TraceSubject)
        return any(
            self.on_edge(visit)
            and (self.inner is None or self.inner.evaluate(_VisitSubject(visit)))
            for visit in subject.view.visits
        )


@dataclass(frozen=True, slots=True)
class EntitySelector:
    """GetTimeSeriesServiceStatistics' ``EntitySelectorExpression``: one service or one edge."""

    function: ServiceFunction | EdgeFunction

    @property
    def is_service(self) -> bool:
        return isinstance(self.function, ServiceFunction)

    def selects(self, visit: Visit) -> bool:
        if isinstance(self.function, ServiceFunction):
            return self.function.node.matches(visit.node)
        return self.function.on_edge(visit)


# --- parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, problem: str, token: Token | None = None) -> InvalidRequestException:
        return _error(self.expression, (token or self.token).pos, problem)

    def describe(self, token: Token) -> str:
        return "end of expression" if token.kind == "end" else f"'{token.value}'"

    def is_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.value.upper() in words

    def is_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.value in ops

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.fail(f"expected '{op}' but found {self.describe(self.token)}")
        return self.advance()

    def finish(self, result: _T) -> _T:
        if self.token.kind != "end":
            raise self.fail(f"unexpected {self.describe(self.token)}")
        return result

    # expression := or
    def parse_or(self, nested: bool) -> Expression:
        items = [self.parse_and(nested)]
        while self.is_word("OR") or self.is_op("||"):
            self.advance()
            items.append(self.parse_and(nested))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def starts_unary(self) -> bool:
        token = self.token
        if token.kind == "op":
            return token.value in ("!", "(")
        return token.kind == "word" and (
            token.value.upper() == "NOT" or token.value.upper() not in _WORD_OPERATORS
        )

    def parse_and(self, nested: bool) -> Expression:
        items = [self.parse_unary(nested)]
        while True:
            if self.is_word("AND") or self.is_op("&&"):
                self.advance()
            elif not self.starts_unary():
                break
            items.append(self.parse_unary(nested))
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self, nested: bool) -> Expression:
        if self.is_word("NOT") or self.is_op("!"):
            self.advance()
            return Not(self.parse_unary(nested))
        if self.is_op("("):
            self.advance()
            inner = self.parse_or(nested)
            self.expect_op(")")
            return inner
        return self.parse_keyword(nested)

    def parse_keyword(self, nested: bool) -> Expression:
        token = self.token
        if token.kind != "word":
            raise self.fail(f"expected a keyword but found {self.describe(token)}")
        word = token.value.lower()
        self.advance()
        if word in BOOLEAN_KEYWORDS:
            return self.parse_boolean(word)
        if word in NUMBER_KEYWORDS:
            operator = self.parse_operator(NUMBER_OPERATORS, word)
            return NumberComparison(word, operator, self.parse_number())
        if word in STRING_KEYWORDS:
            operator = self.parse_operator(STRING_OPERATORS, word)
            return StringComparison(word, operator, self.parse_string())
        if word.startswith("annotation."):
            return self.parse_annotation(token)
        if word in ("service", "edge"):
            if nested:
                raise self.fail(f"{word}() cannot be used inside service() or edge() braces", token)
            return self.parse_service(token) if word == "service" else self.parse_edge(token)
        raise self.fail(f"unknown keyword '{token.value}'", token)

    def parse_boolean(self, keyword: str) -> Expression:
        if not self.is_op("=", "!="):
            return BooleanKeyword(keyword)
        negate = self.advance().value == "!="
        value = self.parse_literal_boolean()
        return BooleanKeyword(keyword, value is not negate)

    def parse_literal_boolean(self) -> bool:
        if not self.is_word("TRUE", "FALSE"):
            raise self.fail(f"expected true or false but found {self.describe(self.token)}")
        return self.advance().value.upper() == "TRUE"

    def parse_operator(self, allowed: tuple[str, ...], keyword: str) -> str:
        token = self.token
        value = token.value.upper() if token.kind == "word" else token.value
        if token.kind in ("op", "word") and value in allowed:
            self.advance()
            return value
        if token.kind in ("op", "word") and value in (*NUMBER_OPERATORS, *STRING_OPERATORS):
            raise self.fail(f"operator {value} cannot be used with {keyword}")
        raise self.fail(
            f"expected one of {', '.join(allowed)} after {keyword} but found {self.describe(token)}"
        )

    def parse_number(self) -> float:
        if self.token.kind != "number":
            raise self.fail(f"expected a number but found {self.describe(self.token)}")
        return float(self.advance().value)

    def parse_string(self) -> str:
        if self.token.kind != "string":
            raise self.fail(
                f"expected a double-quoted string but found {self.describe(self.token)}"
            )
        return self.advance().value

    def parse_annotation(self, token: Token) -> Expression:
        key = token.value[len("annotation.") :]
        # "Keys must be alphanumeric in order to work with filters. Underscore is allowed."
        if not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise self.fail(f"invalid annotation key '{key}'", token)
        operators = (*NUMBER_OPERATORS, "CONTAINS", "BEGINSWITH", "ENDSWITH")
        operator_token = self.token
        value = (
            operator_token.value.upper() if operator_token.kind == "word" else operator_token.value
        )
        if operator_token.kind not in ("op", "word") or value not in operators:
            return AnnotationComparison(key)
        self.advance()
        literal = self.token
        allowed: tuple[str, ...]
        if literal.kind == "string":
            allowed = STRING_OPERATORS
            parsed: Any = self.advance().value
        elif literal.kind == "number":
            allowed = NUMBER_OPERATORS
            parsed = float(self.advance().value)
        elif self.is_word("TRUE", "FALSE"):
            allowed = ("=", "!=")
            parsed = self.parse_literal_boolean()
        else:
            raise self.fail(
                f"expected a string, number, true or false but found {self.describe(literal)}"
            )
        if value not in allowed:
            raise self.fail(
                f"operator {value} cannot compare annotation.{key} with {literal.kind} values",
                operator_token,
            )
        return AnnotationComparison(key, value, parsed)

    def parse_node(self) -> NodeSelector:
        if self.token.kind == "string":
            return NodeSelector(name=self.advance().value)
        if not self.is_word("ID"):
            raise self.fail(
                f'expected a service name ("name") or id(...) but found {self.describe(self.token)}'
            )
        self.advance()
        self.expect_op("(")
        parts: dict[str, str] = {}
        while True:
            if not self.is_word("NAME", "TYPE"):
                raise self.fail(
                    f"expected name: or type: in id() but found {self.describe(self.token)}"
                )
            part = self.advance().value.lower()
            if part in parts:
                raise self.fail(f"{part} given twice in id()")
            self.expect_op(":")
            parts[part] = self.parse_string()
            if not self.is_op(","):
                break
            self.advance()
        self.expect_op(")")
        return NodeSelector(name=parts.get("name"), type=parts.get("type"))

    def parse_braces(self) -> Expression | None:
        if not self.is_op("{"):
            return None
        self.advance()
        inner = self.parse_or(nested=True)
        self.expect_op("}")
        return inner

    def parse_service(self, token: Token) -> ServiceFunction:
        self.expect_op("(")
        node = NodeSelector() if self.is_op(")") else self.parse_node()
        self.expect_op(")")
        return ServiceFunction(node, self.parse_braces())

    def parse_edge(self, token: Token) -> EdgeFunction:
        self.expect_op("(")
        source = self.parse_node()
        self.expect_op(",")
        target = self.parse_node()
        self.expect_op(")")
        return EdgeFunction(source, target, self.parse_braces())


def parse_filter_expression(expression: str) -> Expression:
    """Parse a GetTraceSummaries ``FilterExpression``; raises InvalidRequestException."""
    parser = _Parser(expression)
    if parser.token.kind == "end":
        raise parser.fail("empty filter expression")
    return parser.finish(parser.parse_or(nested=False))


def parse_entity_selector(expression: str) -> EntitySelector:
    """Parse an ``EntitySelectorExpression``: ``service(…)``, ``edge(…, …)`` or ``id(…)``."""
    parser = _Parser(expression)
    token = parser.token
    function: ServiceFunction | EdgeFunction
    if parser.is_word("SERVICE"):
        parser.advance()
        function = parser.parse_service(token)
    elif parser.is_word("EDGE"):
        parser.advance()
        function = parser.parse_edge(token)
    elif parser.is_word("ID"):
        function = ServiceFunction(parser.parse_node())
    else:
        raise parser.fail(
            f"expected service(...), edge(...) or id(...) but found {parser.describe(token)}"
        )
    if function.inner is not None:
        raise parser.fail("an entity selector cannot have a filter in braces", token)
    return parser.finish(EntitySelector(function))
