"""CloudWatch metric math: tokenizer, parser and a vectorised evaluator.

Syntax and functions follow "Metric math syntax and functions":
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html

An expression is evaluated over a dense :class:`Grid` of period starts (epoch seconds, UTC):
every time series is a float64 array on that grid where NaN means "no datapoint". A value is a
scalar (``float``), a time series (:class:`Series`) or an array of time series (``list``).
As in CloudWatch:

- arithmetic ``+ - * / ^``, comparisons ``== != < <= > >=`` (1 or 0), ``AND``/``&&``,
  ``OR``/``||`` and ``NOT`` apply per timestamp and yield a value only where every operand has
  one; an operation whose result is not finite (e.g. division by zero) yields no value;
- a scalar combines with every datapoint; an array combines member by member
  (``METRICS() * 2`` is an array, returned as one result per member);
- ``MIN``/``MAX``/``SUM``/``AVG``/``STDDEV`` of one time series is a scalar (``m1 - AVG(m1)``),
  of an array it is a time series (per timestamp, over the members that have a value);
- ``RATE``/``DIFF``/``DIFF_TIME`` compare each datapoint with the previous datapoint that
  exists, ``RATE`` per second.

Errors (syntax, unknown function or id, wrong arity or argument type) raise
:class:`MathError`; the caller turns them into AWS's ``ValidationError``.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class MathError(Exception):
    """An expression that CloudWatch would reject; ``str(error)`` says why."""


# ---------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # NUM, STR, NAME, OP, END
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||>=|<=|==|!=|[-+*/^(),<>\[\]])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raise :class:`MathError` at the first invalid character."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise MathError(f"Syntax error: unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup
        if kind == "str":
            body = m.group()[1:-1]
            tokens.append(Token("STR", re.sub(r"\\(.)", r"\1", body), pos))
        elif kind == "num":
            tokens.append(Token("NUM", m.group(), pos))
        elif kind == "name":
            tokens.append(Token("NAME", m.group(), pos))
        elif kind == "op":
            tokens.append(Token("OP", m.group(), pos))
        pos = m.end()
    tokens.append(Token("END", "", len(text)))
    return tokens


# ---------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Str:
    value: str


@dataclass(frozen=True, slots=True)
class Name:
    """A query id (``m1``) or a keyword argument (``REPEAT``, ``LINEAR``)."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Node, ...]


Node: TypeAlias = Num | Str | Name | Call | Unary | Binary | ArrayLit

KEYWORDS = frozenset({"REPEAT", "LINEAR"})
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")


class _Parser:
    """Recursive descent, lowest precedence first: OR, AND, NOT, comparison, + -, * /, unary
    minus, ``^`` (right-associative, binds tighter than unary minus: ``-2^2`` is -4)."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is(self, *texts: str) -> bool:
        t = self.tok
        return (t.kind == "OP" and t.text in texts) or (
            t.kind == "NAME" and t.text.upper() in texts and t.text.isupper()
        )

    def _next(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def _expect(self, text: str) -> None:
        if not self._is(text):
            raise self._unexpected(f"expected {text!r}")
        self._next()

    def _unexpected(self, what: str = "") -> MathError:
        t = self.tok
        found = "end of expression" if t.kind == "END" else repr(t.text)
        more = f" ({what})" if what else ""
        return MathError(f"Syntax error: unexpected {found} at position {t.pos}{more}")

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise MathError("Syntax error: the expression is empty")
        node = self._or()
        if self.tok.kind != "END":
            raise self._unexpected()
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._is("OR", "||"):
            self._next()
            node = Binary("OR", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._is("AND", "&&"):
            self._next()
            node = Binary("AND", node, self._not())
        return node

    def _not(self) -> Node:
        if self._is("NOT"):
            self._next()
            return Unary("NOT", self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        node = self._additive()
        while self.tok.kind == "OP" and self.tok.text in _COMPARISONS:
            op = self._next().text
            node = Binary(op, node, self._additive())
        return node

    def _additive(self) -> Node:
        node = self._term()
        while self._is("+", "-"):
            op = self._next().text
            node = Binary(op, node, self._term())
        return node

    def _term(self) -> Node:
        node = self._unary()
        while self._is("*", "/"):
            op = self._next().text
            node = Binary(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._is("-", "+"):
            op = self._next().text
            operand = self._unary()
            return operand if op == "+" else Unary("-", operand)
        return self._power()

    def _power(self) -> Node:
        node = self._primary()
        if self._is("^"):
            self._next()
            node = Binary("^", node, self._unary())
        return node

    def _primary(self) -> Node:
        t = self.tok
        if t.kind == "NUM":
            self._next()
            return Num(float(t.text))
        if t.kind == "STR":
            self._next()
            return Str(t.text)
        if t.kind == "NAME":
            self._next()
            if self._is("("):
                self._next()
                args: list[Node] = []
                if not self._is(")"):
                    args.append(self._or())
                    while self._is(","):
                        self._next()
                        args.append(self._or())
                self._expect(")")
                return Call(t.text, tuple(args), t.pos)
            return Name(t.text, t.pos)
        if self._is("("):
            self._next()
            node = self._or()
            self._expect(")")
            return node
        if self._is("["):
            self._next()
            items = [self._or()]
            while self._is(","):
                self._next()
                items.append(self._or())
            self._expect("]")
            return ArrayLit(tuple(items))
        raise self._unexpected()


MAX_DEPTH = 200  # nesting levels; far beyond real expressions, well within Python's stack


def parse(text: str) -> Node:
    """The syntax tree of ``text``; :class:`MathError` on a syntax error."""
    try:
        node = _Parser(text).parse()
    except RecursionError:
        raise MathError("The expression is nested too deeply") from None
    if depth(node) > MAX_DEPTH:
        raise MathError(f"The expression is nested too deeply (more than {MAX_DEPTH} levels)")
    return node


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ArrayLit):
        return node.items
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, depth first (without recursion)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(_children(n)))
    return out


def depth(node: Node) -> int:
    """Levels in the tree (a number is 1), without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in _children(n))
    return deepest


def references(node: Node) -> list[str]:
    """Query ids named in the expression, in order of appearance, without repeats."""
    seen: dict[str, None] = {}
    for n in walk(node):
        if isinstance(n, Name) and n.name not in KEYWORDS:
            seen.setdefault(n.name, None)
    return list(seen)


def uses_metrics_function(node: Node) -> bool:
    return any(isinstance(n, Call) and n.name == "METRICS" for n in walk(node))


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Grid:
    """Period starts ``start + k * period`` for k in ``range(size)`` (epoch seconds, UTC)."""

    start: int
    period: int
    size: int

    @classmethod
    def covering(cls, start: int, end: int, period: int) -> Grid:
        """The periods starting in ``[start, end)``."""
        return cls(start, period, max(0, -(-(end - start) // period)))

    @property
    def timestamps(self) -> np.ndarray:
        return self.start + np.arange(self.size, dtype=np.int64) * self.period


@dataclass(slots=True)
class Series:
    """A time series on a grid (NaN = no datapoint), with the label and id it came from."""

    values: np.ndarray
    label: str = ""
    query_id: str = ""
    period: int = 60


Value: TypeAlias = float | Series | list[Series] | str


@dataclass(slots=True)
class Environment:
    """What an expression can see.

    ``resolve(id)`` returns the value of another query (already on ``grid``) or raises
    ``KeyError``; ``metrics()`` returns every MetricStat query's series in request order (for
    ``METRICS()``), also on ``grid``.
    """

    grid: Grid
    resolve: Callable[[str], Series | list[Series]]
    metrics: Callable[[], list[Series]]


# ---------------------------------------------------------------------------- evaluation


def evaluate(node: Node, env: Environment) -> Value:
    """The value of ``node``; :class:`MathError` on a type or arity problem."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Name):
        if node.name in KEYWORDS:
            return node.name
        try:
            return env.resolve(node.name)
        except KeyError:
            raise MathError(f"Unknown metric or expression id {node.name!r}") from None
    if isinstance(node, ArrayLit):
        members: list[Series] = []
        for item in node.items:
            value = evaluate(item, env)
            if isinstance(value, Series):
                members.append(value)
            elif isinstance(value, list):
                members.extend(value)
            else:
                raise MathError("An array [...] may only contain time series")
        return members
    if isinstance(node, Unary):
        operand = evaluate(node.operand, env)
        if node.op == "-":
            return _elementwise(operand, np.negative, "-")
        return _elementwise(operand, lambda v: (v == 0).astype(np.float64), "NOT")
    if isinstance(node, Binary):
        return _binary(node.op, evaluate(node.left, env), evaluate(node.right, env))
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        raise MathError(f"Unknown function {node.name}")
    lo, hi, impl = spec
    if not lo <= len(node.args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise MathError(
            f"Function {node.name} takes {want} argument{'s' if hi != 1 else ''}, "
            f"{len(node.args)} given"
        )
    return impl(env, [evaluate(a, env) for a in node.args])


def _finite(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    a[~np.isfinite(a)] = np.nan
    return a


def _elementwise(x: Value, fn: Callable[[np.ndarray], np.ndarray], what: str) -> Value:
    """Apply ``fn`` to a scalar, a series or each member of an array; NaN stays NaN."""
    if isinstance(x, str):
        raise MathError(f"{what} cannot take the string {x!r}")
    if isinstance(x, list):
        return [_elementwise(s, fn, what) for s in x]  # type: ignore[misc]
    with np.errstate(all="ignore"):
        if isinstance(x, Series):
            out = fn(x.values)
            return Series(_finite(np.where(np.isnan(x.values), np.nan, out)), x.label,
                          x.query_id, x.period)  # fmt: skip
        res = float(fn(np.array([x], dtype=np.float64))[0])
    return res if math.isfinite(res) else math.nan


def _arith(op: str, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "+":
            return np.add(a, b)
        if op == "-":
            return np.subtract(a, b)
        if op == "*":
            return np.multiply(a, b)
        if op == "/":
            return np.divide(a, b)
        if op == "^":
            return np.power(a, b)
        missing = np.isnan(a) | np.isnan(b)
        if op == "AND":
            r = (np.not_equal(a, 0) & np.not_equal(b, 0)).astype(np.float64)
        elif op == "OR":
            r = (np.not_equal(a, 0) | np.not_equal(b, 0)).astype(np.float64)
        else:
            r = _COMPARE[op](a, b).astype(np.float64)
        return np.where(missing, np.nan, r)


_COMPARE: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
}


def _binary(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, str) or isinstance(b, str):
        raise MathError(f"The operator {op} cannot take a string")
    if isinstance(a, list) and isinstance(b, list):
        raise MathError(f"The operator {op} cannot combine two arrays of time series")
    if isinstance(a, list):
        return [_binary(op, s, b) for s in a]  # type: ignore[misc]
    if isinstance(b, list):
        return [_binary(op, a, s) for s in b]  # type: ignore[misc]
    if isinstance(a, Series) or isinstance(b, Series):
        av = a.values if isinstance(a, Series) else a
        bv = b.values if isinstance(b, Series) else b
        ref = a if isinstance(a, Series) else b
        assert isinstance(ref, Series)
        return Series(_finite(_arith(op, av, bv)), ref.label, ref.query_id, ref.period)
    res = float(_arith(op, np.float64(a), np.float64(b)))
    return res if math.isfinite(res) else math.nan


# ---------------------------------------------------------------------------- functions


def _series_arg(fn: str, x: Value, position: int = 1) -> Series:
    if not isinstance(x, Series):
        raise MathError(f"Function {fn} expects a time series as argument {position}")
    return x


def _series_or_array(fn: str, x: Value) -> list[Series] | Series:
    if isinstance(x, Series | list):
        return x
    raise MathError(f"Function {fn} expects a time series or an array of time series")


def _each(fn: str, x: Value, f: Callable[[Series], Series]) -> Value:
    target = _series_or_array(fn, x)
    return [f(s) for s in target] if isinstance(target, list) else f(target)


def _like(s: Series, values: np.ndarray) -> Series:
    return Series(_finite(values), s.label, s.query_id, s.period)


def _previous_present(
    env: Environment, s: Series, f: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> Series:
    """``f(value deltas, time deltas)`` at each datapoint that has a previous datapoint."""
    v = s.values
    idx = np.flatnonzero(~np.isnan(v))
    out = np.full(v.size, np.nan)
    if idx.size > 1:
        t = env.grid.timestamps[idx].astype(np.float64)
        with np.errstate(all="ignore"):
            out[idx[1:]] = f(np.diff(v[idx]), np.diff(t))
    return _like(s, out)


def _fn_rate(env: Environment, args: list[Value]) -> Value:
    return _each("RATE", args[0], lambda s: _previous_present(env, s, lambda dv, dt: dv / dt))


def _fn_diff(env: Environment, args: list[Value]) -> Value:
    return _each("DIFF", args[0], lambda s: _previous_present(env, s, lambda dv, dt: dv))


def _fn_diff_time(env: Environment, args: list[Value]) -> Value:
    return _each("DIFF_TIME", args[0], lambda s: _previous_present(env, s, lambda dv, dt: dt))


def _fn_running_sum(env: Environment, args: list[Value]) -> Value:
    def run(s: Series) -> Series:
        out = np.full(s.values.size, np.nan)
        present = ~np.isnan(s.values)
        out[present] = np.cumsum(s.values[present])
        return _like(s, out)

    return _each("RUNNING_SUM", args[0], run)


def _fn_fill(env: Environment, args: list[Value]) -> Value:
    how = args[1]
    if isinstance(how, list):
        raise MathError("Function FILL expects a number, a time series, REPEAT or LINEAR")
    if isinstance(how, str) and how not in KEYWORDS:
        raise MathError(f"Function FILL does not accept {how!r}; use a number, REPEAT or LINEAR")

    def fill(s: Series) -> Series:
        v = s.values
        missing = np.isnan(v)
        if not missing.any():
            return s
        if how == "REPEAT":  # the most recent value before the gap
            last = np.maximum.accumulate(np.where(missing, -1, np.arange(v.size)))
            out = np.where(last >= 0, v[np.maximum(last, 0)], np.nan)
        elif how == "LINEAR":  # a straight line between the values either side of the gap
            present = np.flatnonzero(~missing)
            out = v.copy()
            if present.size:
                inside = np.arange(present[0], present[-1] + 1)
                out[inside] = np.interp(inside, present, v[present])
        else:
            fill_with = how.values if isinstance(how, Series) else float(how)
            out = np.where(missing, fill_with, v)
        return _like(s, out)

    return _each("FILL", args[0], fill)


def _truthy(c: np.ndarray | float) -> np.ndarray | float:
    return np.not_equal(c, 0)


def _fn_if(env: Environment, args: list[Value]) -> Value:
    cond, yes = args[0], args[1]
    no: Value = args[2] if len(args) > 2 else math.nan
    for a in (cond, yes, no):
        if isinstance(a, str):
            raise MathError("Function IF cannot take a string")
    arrays = [a for a in (cond, yes, no) if isinstance(a, list)]
    if arrays:
        if len(arrays) > 1:
            raise MathError("Function IF accepts at most one array of time series")
        out: list[Series] = []
        for member in arrays[0]:
            c, y, n = (member if isinstance(a, list) else a for a in (cond, yes, no))
            res = _if_one(c, y, n)  # type: ignore[arg-type]
            if not isinstance(res, Series):  # a scalar condition and scalar branches
                res = _like(member, np.full(member.values.size, res))
            out.append(res)
        return out
    return _if_one(cond, yes, no)  # type: ignore[arg-type]


def _if_one(cond: float | Series, yes: float | Series, no: float | Series) -> Value:
    ref = next((a for a in (cond, yes, no) if isinstance(a, Series)), None)
    cv = cond.values if isinstance(cond, Series) else cond
    yv = yes.values if isinstance(yes, Series) else yes
    nv = no.values if isinstance(no, Series) else no
    with np.errstate(all="ignore"):
        out = np.where(np.isnan(cv), np.nan, np.where(_truthy(cv), yv, nv))
    if ref is None:
        res = float(out)
        return res if math.isfinite(res) else math.nan
    return _like(ref, np.broadcast_to(out, ref.values.shape).copy())


def _reducer(
    name: str,
    over_series: Callable[[np.ndarray], float],
    over_array: Callable[[np.ndarray], np.ndarray],
) -> Callable[[Environment, list[Value]], Value]:
    def impl(env: Environment, args: list[Value]) -> Value:
        x = args[0]
        if isinstance(x, str):
            raise MathError(f"Function {name} cannot take a string")
        if isinstance(x, float | int):
            return float(x)
        if isinstance(x, Series):  # one series → one number (AWS: "returns a scalar")
            present = x.values[~np.isnan(x.values)]
            return float(over_series(present)) if present.size else math.nan
        if not x:
            return Series(np.full(env.grid.size, np.nan), "", "", env.grid.period)
        stack = np.vstack([s.values for s in x])
        present = ~np.isnan(stack)
        with np.errstate(all="ignore"):
            out = over_array(stack)
        out = np.where(present.any(axis=0), out, np.nan)
        return Series(_finite(out), "", x[0].query_id, x[0].period)

    return impl


def _nan_reduce(fn: Callable[..., np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def reduce(a: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(a, axis=0)

    return reduce


def _fn_metrics(env: Environment, args: list[Value]) -> Value:
    members = env.metrics()
    if args:
        needle = args[0]
        if not isinstance(needle, str) or needle in KEYWORDS:
            raise MathError('Function METRICS takes an optional string, e.g. METRICS("errors")')
        # AWS: "only the metrics that contain that string in their Id field"
        members = [s for s in members if needle in s.query_id]
    return list(members)


def _fn_period(env: Environment, args: list[Value]) -> Value:
    x = args[0]
    if isinstance(x, list):
        return float(x[0].period) if x else math.nan
    return float(_series_arg("PERIOD", x).period)


def _fn_datapoint_count(env: Environment, args: list[Value]) -> Value:
    x = args[0]
    if isinstance(x, list):
        if not x:
            return Series(np.full(env.grid.size, np.nan), "", "", env.grid.period)
        count = (~np.isnan(np.vstack([s.values for s in x]))).sum(axis=0).astype(np.float64)
        return Series(np.where(count > 0, count, np.nan), "", x[0].query_id, x[0].period)
    return float(np.count_nonzero(~np.isnan(_series_arg("DATAPOINT_COUNT", x).values)))


def _fn_time_series(env: Environment, args: list[Value]) -> Value:
    x = args[0]
    if not isinstance(x, float | int):
        raise MathError("Function TIME_SERIES expects a number")
    return Series(np.full(env.grid.size, float(x)), "", "", env.grid.period)


def _fn_remove_empty(env: Environment, args: list[Value]) -> Value:
    x = _series_or_array("REMOVE_EMPTY", args[0])
    members = x if isinstance(x, list) else [x]
    return [s for s in members if not np.isnan(s.values).all()]


def _time_part(name: str, part: Callable[[np.ndarray], np.ndarray]) -> Callable[..., Value]:
    def impl(env: Environment, args: list[Value]) -> Value:
        x = args[0]
        ref = x[0] if isinstance(x, list) and x else x
        if not isinstance(ref, Series):
            raise MathError(f"Function {name} expects a time series")
        # AWS: the function "takes the period and range from the metric passed"
        return Series(part(env.grid.timestamps).astype(np.float64), "", "", ref.period)

    return impl


def _dt64(ts: np.ndarray) -> np.ndarray:
    return np.asarray(ts.astype("datetime64[s]"))


def _day_of_month(ts: np.ndarray) -> np.ndarray:
    days = _dt64(ts) - _dt64(ts).astype("M8[M]")
    return np.asarray(days.astype("timedelta64[D]").astype(np.int64) + 1)


def _month(ts: np.ndarray) -> np.ndarray:
    return _dt64(ts).astype("M8[M]").astype(np.int64) % 12 + 1


def _weekday(ts: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday; AWS numbers Monday 1 … Sunday 7
    return (ts // 86400 + 3) % 7 + 1


FUNCTIONS: dict[str, tuple[int, int, Callable[[Environment, list[Value]], Value]]] = {
    "ABS": (1, 1, lambda env, a: _elementwise(a[0], np.abs, "ABS")),
    "CEIL": (1, 1, lambda env, a: _elementwise(a[0], np.ceil, "CEIL")),
    "FLOOR": (1, 1, lambda env, a: _elementwise(a[0], np.floor, "FLOOR")),
    "LOG": (1, 1, lambda env, a: _elementwise(a[0], np.log, "LOG")),
    "LOG10": (1, 1, lambda env, a: _elementwise(a[0], np.log10, "LOG10")),
    "FILL": (2, 2, _fn_fill),
    "IF": (2, 3, _fn_if),
    "RATE": (1, 1, _fn_rate),
    "DIFF": (1, 1, _fn_diff),
    "DIFF_TIME": (1, 1, _fn_diff_time),
    "RUNNING_SUM": (1, 1, _fn_running_sum),
    "MIN": (1, 1, _reducer("MIN", np.min, _nan_reduce(np.nanmin))),
    "MAX": (1, 1, _reducer("MAX", np.max, _nan_reduce(np.nanmax))),
    "SUM": (1, 1, _reducer("SUM", np.sum, _nan_reduce(np.nansum))),
    "AVG": (1, 1, _reducer("AVG", np.mean, _nan_reduce(np.nanmean))),
    "STDDEV": (1, 1, _reducer("STDDEV", np.std, _nan_reduce(np.nanstd))),
    "METRICS": (0, 1, _fn_metrics),
    "PERIOD": (1, 1, _fn_period),
    "DATAPOINT_COUNT": (1, 1, _fn_datapoint_count),
    "TIME_SERIES": (1, 1, _fn_time_series),
    "REMOVE_EMPTY": (1, 1, _fn_remove_empty),
    "MINUTE": (1, 1, _time_part("MINUTE", lambda t: (t // 60) % 60)),
    "HOUR": (1, 1, _time_part("HOUR", lambda t: (t // 3600) % 24)),
    "DAY": (1, 1, _time_part("DAY", _weekday)),
    "DATE": (1, 1, _time_part("DATE", _day_of_month)),
    "MONTH": (1, 1, _time_part("MONTH", _month)),
    "EPOCH": (1, 1, _time_part("EPOCH", lambda t: t)),
}

# Functions CloudWatch has that this sandbox does not compute: named so the error says so.
UNSUPPORTED = frozenset(
    {
        "SEARCH",
        "SORT",
        "SLICE",
        "FIRST",
        "LAST",
        "INSIGHT_RULE_METRIC",
        "ANOMALY_DETECTION_BAND",
        "SERVICE_QUOTA",
        "LAMBDA",
        "CONCAT",
    }
)


def check_functions(node: Node) -> None:
    """Reject unknown functions before anything is evaluated."""
    for n in walk(node):
        if isinstance(n, Call) and n.name not in FUNCTIONS:
            if n.name in UNSUPPORTED:
                raise MathError(f"Function {n.name} is not supported by this sandbox")
            raise MathError(f"Unknown function {n.name} at position {n.pos}")
        if isinstance(n, Call):
            lo, hi, _ = FUNCTIONS[n.name]
            if not lo <= len(n.args) <= hi:
                want = str(lo) if lo == hi else f"{lo} to {hi}"
                raise MathError(
                    f"Function {n.name} takes {want} argument{'s' if hi != 1 else ''}, "
                    f"{len(n.args)} given"
                )
        if isinstance(n, Name) and n.name not in KEYWORDS and not n.name[0].islower():
            raise MathError(f"Unknown name {n.name!r} at position {n.pos}")


def results(value: Value, grid: Grid) -> list[Series]:
    """An expression's value as the time series it returns (a scalar is drawn on every
    period of the grid, as CloudWatch graphs ``AVG(m1)``)."""
    if isinstance(value, str):
        raise MathError("The expression must produce a time series or a number, not a string")
    if isinstance(value, list):
        return value
    if isinstance(value, Series):
        return [value]
    return [Series(np.full(grid.size, value if math.isfinite(value) else np.nan))]


def regrid(values: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Move a dense series from ``source`` to ``target``: values land where timestamps match."""
    if source == target:
        return values
    out = np.full(target.size, np.nan)
    present = np.flatnonzero(~np.isnan(values))
    if present.size:
        offset = source.start + present * source.period - target.start
        ok = (offset % target.period == 0) & (offset >= 0)
        k = offset // target.period
        ok &= k < target.size
        out[k[ok]] = values[present[ok]]
    return out


def label_for(expression_label: str | None, member: Series, is_array: bool, query_id: str) -> str:
    """AWS: an array result is labelled "<expression label> <metric label>" (or the member's
    own label without an expression label); a single result takes the query's label or Id."""
    if is_array:
        if expression_label:
            return f"{expression_label} {member.label}".strip()
        return member.label or query_id
    return expression_label if expression_label is not None else query_id


def expression_ids(nodes: dict[str, Node], metric_ids: Sequence[str]) -> dict[str, list[str]]:
    """For each expression, the ids it depends on (``METRICS()`` depends on every metric)."""
    deps: dict[str, list[str]] = {}
    for qid, node in nodes.items():
        refs = references(node)
        if uses_metrics_function(node):
            refs = refs + [m for m in metric_ids if m not in refs]
        deps[qid] = refs
    return deps


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle among expressions, as a path ``[a, b, ..., a]``, or None.

    Iterative depth-first search (a chain of 500 expressions must not exhaust the stack).
    """
    done: set[str] = set()
    for root in deps:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        iters = [iter(deps.get(root, ()))]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:  # every dependency of path[-1] explored: it is cycle-free
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                iters.pop()
                continue
            if nxt not in deps or nxt in done:
                continue
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            path.append(nxt)
            on_path.add(nxt)
            iters.append(iter(deps.get(nxt, ())))
    return None
