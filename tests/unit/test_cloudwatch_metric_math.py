"""Metric math: tokenizer, parser precedence, every function, errors, helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.endpoint.cloudwatch import metric_math as mm

pytestmark = pytest.mark.unit

NAN = math.nan
GRID = mm.Grid(start=1_700_000_040, period=60, size=6)  # 6 one-minute periods


def series(values: list[float], qid: str = "m1", label: str | None = None) -> mm.Series:
    return mm.Series(np.array(values, dtype=np.float64), label or qid.upper(), qid, 60)


M1 = series([1, 2, NAN, 4, 8, NAN], "m1", "Errors")
M2 = series([10, NAN, 30, 40, 0, 60], "m2", "Invocations")
M3 = series([NAN, NAN, NAN, NAN, NAN, NAN], "other", "Empty")


def run(expression: str, **extra: mm.Series) -> mm.Value:
    ids = {"m1": M1, "m2": M2, "other": M3, **extra}

    def resolve(qid: str) -> mm.Series:
        return ids[qid]

    env = mm.Environment(GRID, resolve=resolve, metrics=lambda: [M1, M2, M3])
    node = mm.parse(expression)
    mm.check_functions(node)
    return mm.evaluate(node, env)


def values(v: mm.Value) -> list[float]:
    assert isinstance(v, mm.Series), v
    return v.values.tolist()


def same(a: list[float], b: list[float]) -> bool:
    return np.array_equal(np.array(a), np.array(b), equal_nan=True)


# ---------------------------------------------------------------------------- tokens and syntax


def test_tokenize_kinds_and_positions() -> None:
    tokens = mm.tokenize('FILL(m1, 0.5) >= 2e3 && METRICS("err")')
    assert [(t.kind, t.text) for t in tokens] == [
        ("NAME", "FILL"),
        ("OP", "("),
        ("NAME", "m1"),
        ("OP", ","),
        ("NUM", "0.5"),
        ("OP", ")"),
        ("OP", ">="),
        ("NUM", "2e3"),
        ("OP", "&&"),
        ("NAME", "METRICS"),
        ("OP", "("),
        ("STR", "err"),
        ("OP", ")"),
        ("END", ""),
    ]
    assert tokens[2].pos == 5


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 / 4", 2.5),
        ("2 ^ 3 ^ 2", 512.0),  # right-associative
        ("-2 ^ 2", -4.0),  # ^ binds tighter than unary minus
        ("5 - -1", 6.0),
        ("8 - 3 - 2", 3.0),  # left-associative
        ("3 >= 3", 1.0),
        ("1 == 2", 0.0),
        ("1 != 2", 1.0),
        ("2 < 1", 0.0),
        ("1 > 0 AND 0", 0.0),
        ("1 > 0 && 2", 1.0),
        ("0 OR 0", 0.0),
        ("0 || 3", 1.0),
        ("NOT 0", 1.0),
        ("NOT 1 + 1", 0.0),  # NOT binds looser than arithmetic
        ("1 + 1 == 2 AND 3 > 2", 1.0),
        ("1 / 0", NAN),  # not finite: no value
        (".5 + 1.", 1.5),
    ],
    ids=str,
)
def test_scalar_precedence(expression: str, expected: float) -> None:
    got = run(expression)
    assert isinstance(got, float)
    assert same([got], [expected])


@pytest.mark.parametrize(
    "expression",
    ["", "m1 +", "(m1", "m1 m2", "FILL(m1,)", "m1 $ 2", "m1 + )", "[", 'METRICS("x)', "1 2"],
    ids=[
        "empty",
        "dangling-op",
        "open-paren",
        "two-ids",
        "empty-arg",
        "bad-char",
        "close-paren",
        "open-bracket",
        "open-string",
        "two-numbers",
    ],
)
def test_syntax_errors(expression: str) -> None:
    with pytest.raises(mm.MathError, match=r"[Ss]yntax error"):
        mm.parse(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("FOO(m1)", "Unknown function FOO"),
        ("SEARCH('{AWS/Lambda} Errors', 'Sum', 60)", "not supported"),
        ("FILL(m1)", "FILL takes 2 arguments, 1 given"),
        ("IF(m1)", "IF takes 2 to 3 arguments, 1 given"),
        ("ABS(m1, m2)", "ABS takes 1 argument, 2 given"),
        ("m1 + Bogus", "Unknown name 'Bogus'"),
    ],
    ids=["unknown-function", "unsupported", "fill-arity", "if-arity", "abs-arity", "bad-name"],
)
def test_check_functions_errors(expression: str, message: str) -> None:
    with pytest.raises(mm.MathError, match=message):
        mm.check_functions(mm.parse(expression))


@pytest.mark.parametrize(
    "expression",
    [
        "1+" * 300 + "1",
        "-" * 2000 + "1",
        "(" * 1000 + "1" + ")" * 1000,
        "ABS(" * 500 + "1" + ")" * 500,
    ],
    ids=["long-chain", "unary-chain", "parentheses", "calls"],
)
def test_deep_nesting_is_a_math_error_not_a_crash(expression: str) -> None:
    with pytest.raises(mm.MathError, match="nested too deeply"):
        mm.parse(expression)


def test_long_but_shallow_expressions_are_fine() -> None:
    assert run("+".join(["m1"] * 150)) is not None
    assert mm.depth(mm.parse("SUM([" + ", ".join(["m1"] * 400) + "])")) == 3


def test_unknown_id_is_math_error() -> None:
    with pytest.raises(mm.MathError, match="Unknown metric or expression id 'm9'"):
        run("m1 + m9")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("RATE(5)", "RATE expects a time series"),
        ("FILL(m1, BOGUS)", "Unknown name"),
        ('FILL(m1, "x")', "FILL does not accept"),
        ("METRICS() + METRICS()", "two arrays"),
        ("METRICS(5)", "optional string"),
        ('"a" + 1', "string"),
        ("TIME_SERIES(m1)", "expects a number"),
    ],
    ids=[
        "rate-scalar",
        "fill-bad-keyword",
        "fill-string",
        "array-op-array",
        "metrics-number",
        "string-arith",
        "time-series-series",
    ],
)
def test_type_errors(expression: str, message: str) -> None:
    with pytest.raises(mm.MathError, match=message):
        run(expression)


# ---------------------------------------------------------------------------- operators on series


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("m1 + m2", [11, NAN, NAN, 44, 8, NAN]),  # a value only where both have one
        ("m1 * 2", [2, 4, NAN, 8, 16, NAN]),
        ("100 / m2", [10, NAN, 100 / 30, 2.5, NAN, 100 / 60]),  # 100/0: no value
        ("m2 / m1", [10, NAN, NAN, 10, 0, NAN]),
        ("-m1", [-1, -2, NAN, -4, -8, NAN]),
        ("m1 ^ 2", [1, 4, NAN, 16, 64, NAN]),
        ("m1 > 2", [0, 0, NAN, 1, 1, NAN]),
        ("m1 <= 2", [1, 1, NAN, 0, 0, NAN]),
        ("m1 == 4", [0, 0, NAN, 1, 0, NAN]),
        ("m1 != 4", [1, 1, NAN, 0, 1, NAN]),
        ("m1 > 1 AND m2 > 5", [0, NAN, NAN, 1, 0, NAN]),
        ("m1 > 1 || m2 > 5", [1, NAN, NAN, 1, 1, NAN]),
        ("NOT m2", [0, NAN, 0, 0, 1, 0]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_series_operators(expression: str, expected: list[float]) -> None:
    assert same(values(run(expression)), expected)


def test_array_broadcast_keeps_members_and_labels() -> None:
    got = run("METRICS() * 2")
    assert isinstance(got, list)
    assert [s.label for s in got] == ["Errors", "Invocations", "Empty"]
    assert [s.query_id for s in got] == ["m1", "m2", "other"]
    assert same(got[0].values.tolist(), [2, 4, NAN, 8, 16, NAN])
    assert same(got[1].values.tolist(), [20, NAN, 60, 80, 0, 120])


def test_array_with_series_operand() -> None:
    got = run("[m1, m2] - m1")
    assert isinstance(got, list)
    assert same(got[0].values.tolist(), [0, 0, NAN, 0, 0, NAN])
    assert same(got[1].values.tolist(), [9, NAN, NAN, 36, -8, NAN])


# ---------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("FILL(m1, 0)", [1, 2, 0, 4, 8, 0]),
        ("FILL(m1, -1.5)", [1, 2, -1.5, 4, 8, -1.5]),
        ("FILL(m1, m2)", [1, 2, 30, 4, 8, 60]),
        ("FILL(m1, REPEAT)", [1, 2, 2, 4, 8, 8]),  # the most recent value before the gap
        ("FILL(m1, LINEAR)", [1, 2, 3, 4, 8, NAN]),  # nothing after the last value to aim at
        ("FILL(m2, LINEAR)", [10, 20, 30, 40, 0, 60]),
        ("IF(m1 > 2, m1)", [NAN, NAN, NAN, 4, 8, NAN]),
        ("IF(m1 > 2, m1, 0)", [0, 0, NAN, 4, 8, NAN]),
        ("IF(m1 > 2, 1, m2)", [10, NAN, NAN, 1, 1, NAN]),
        ("RATE(m1)", [NAN, 1 / 60, NAN, 2 / 120, 4 / 60, NAN]),  # per second, over gaps too
        ("DIFF(m1)", [NAN, 1, NAN, 2, 4, NAN]),
        ("DIFF_TIME(m1)", [NAN, 60, NAN, 120, 60, NAN]),
        ("RUNNING_SUM(m1)", [1, 3, NAN, 7, 15, NAN]),
        ("ABS(m1 - 3)", [2, 1, NAN, 1, 5, NAN]),
        ("CEIL(m1 / 3)", [1, 1, NAN, 2, 3, NAN]),
        ("FLOOR(m1 / 3)", [0, 0, NAN, 1, 2, NAN]),
        ("LOG10(m2)", [1, NAN, math.log10(30), math.log10(40), NAN, math.log10(60)]),
        ("LOG(m1)", [0, math.log(2), NAN, math.log(4), math.log(8), NAN]),
        ("m1 - AVG(m1)", [-2.75, -1.75, NAN, 0.25, 4.25, NAN]),  # AVG(series) is a scalar
        ("m1 / MAX(m1)", [0.125, 0.25, NAN, 0.5, 1, NAN]),
        ("SUM([m1, m2])", [11, 2, 30, 44, 8, 60]),  # per timestamp, over present members
        ("SUM(METRICS())", [11, 2, 30, 44, 8, 60]),
        ("AVG(METRICS())", [5.5, 2, 30, 22, 4, 60]),
        ("MIN(METRICS())", [1, 2, 30, 4, 0, 60]),
        ("MAX(METRICS())", [10, 2, 30, 40, 8, 60]),
        ("STDDEV([m1, m2])", [4.5, 0, 0, 18, 4, 0]),
        ('SUM(METRICS("m"))', [11, 2, 30, 44, 8, 60]),  # Ids containing "m": m1, m2
        ('SUM(METRICS("oth"))', [NAN] * 6),
        ("DATAPOINT_COUNT(METRICS())", [2, 1, 1, 2, 2, 1]),
        ("TIME_SERIES(7)", [7] * 6),
        ("m1 * 0 + PERIOD(m1)", [60, 60, NAN, 60, 60, NAN]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_functions(expression: str, expected: list[float]) -> None:
    assert same(values(run(expression)), expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("MIN(m1)", 1.0),
        ("MAX(m1)", 8.0),
        ("SUM(m1)", 15.0),
        ("AVG(m1)", 3.75),
        ("STDDEV(m1)", float(np.std([1, 2, 4, 8]))),
        ("AVG(other)", NAN),  # no datapoint: no value
        ("PERIOD(m1)", 60.0),
        ("DATAPOINT_COUNT(m1)", 4.0),
        ("MAX(5)", 5.0),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_reducers_of_one_series_are_scalars(expression: str, expected: float) -> None:
    got = run(expression)
    assert isinstance(got, float)
    assert same([got], [expected])


def test_metrics_filter_and_remove_empty() -> None:
    got = run('METRICS("m")')
    assert isinstance(got, list)
    assert [s.query_id for s in got] == ["m1", "m2"]
    kept = run("REMOVE_EMPTY(METRICS())")
    assert isinstance(kept, list)
    assert [s.query_id for s in kept] == ["m1", "m2"]


def test_fill_over_array() -> None:
    got = run("FILL(METRICS(), 0)")
    assert isinstance(got, list)
    assert same(got[2].values.tolist(), [0] * 6)


def test_time_functions_use_the_grid() -> None:
    grid_ts = GRID.timestamps  # 2023-11-14T22:14:00Z onwards (a Tuesday)
    assert same(values(run("MINUTE(m1)")), ((grid_ts // 60) % 60).tolist())
    assert same(values(run("HOUR(m1)")), [22.0] * 6)
    assert same(values(run("DAY(m1)")), [2.0] * 6)  # Monday = 1
    assert same(values(run("DATE(m1)")), [14.0] * 6)
    assert same(values(run("MONTH(m1)")), [11.0] * 6)
    assert same(values(run("EPOCH(m1)")), grid_ts.astype(float).tolist())


# ---------------------------------------------------------------------------- helpers


def test_references_and_metrics_usage() -> None:
    node = mm.parse("FILL(m1, REPEAT) + e2 * m1 + SUM(METRICS())")
    assert mm.references(node) == ["m1", "e2"]
    assert mm.uses_metrics_function(node)
    assert not mm.uses_metrics_function(mm.parse("m1"))


@pytest.mark.parametrize(
    ("deps", "cycle"),
    [
        ({"e1": ["m1"], "e2": ["e1"]}, None),
        ({"e1": ["e1"]}, ["e1", "e1"]),
        ({"e1": ["e2"], "e2": ["e3"], "e3": ["e1"]}, ["e1", "e2", "e3", "e1"]),
        ({"e1": ["m1"], "e2": ["e3"], "e3": ["e2"]}, ["e2", "e3", "e2"]),
    ],
    ids=["acyclic", "self", "three", "later"],
)
def test_find_cycle(deps: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert mm.find_cycle(deps) == cycle


def test_expression_ids_expand_metrics() -> None:
    nodes = {"e1": mm.parse("SUM(METRICS())"), "e2": mm.parse("e1 + m1")}
    assert mm.expression_ids(nodes, ["m1", "m2"]) == {"e1": ["m1", "m2"], "e2": ["e1", "m1"]}


def test_grid_covering_is_half_open() -> None:
    assert mm.Grid.covering(0, 300, 60).size == 5
    assert mm.Grid.covering(0, 301, 60).size == 6
    assert mm.Grid.covering(0, 300, 60).timestamps.tolist() == [0, 60, 120, 180, 240]


def test_regrid_matches_timestamps() -> None:
    coarse = mm.Grid(0, 300, 3)
    fine = mm.Grid(0, 60, 15)
    moved = mm.regrid(np.array([1.0, NAN, 3.0]), coarse, fine)
    expected = np.full(15, NAN)
    expected[0], expected[10] = 1.0, 3.0
    assert same(moved.tolist(), expected.tolist())
    shifted = mm.regrid(np.array([5.0, 6.0]), mm.Grid(30, 60, 2), mm.Grid(0, 60, 3))
    assert np.isnan(shifted).all()  # no timestamp in common


def test_results_broadcast_scalars() -> None:
    (only,) = mm.results(2.5, GRID)
    assert only.values.tolist() == [2.5] * 6
    with pytest.raises(mm.MathError):
        mm.results("text", GRID)


@pytest.mark.parametrize(
    ("label", "is_array", "expected"),
    [
        (None, False, "e1"),
        ("Rate", False, "Rate"),
        ("x2", True, "x2 Errors"),
        (None, True, "Errors"),
    ],
    ids=["default-id", "own-label", "array-with-label", "array-without-label"],
)
def test_label_for(label: str | None, is_array: bool, expected: str) -> None:
    assert mm.label_for(label, M1, is_array, "e1") == expected


# ---------------------------------------------------------------------------- robustness

_VOCABULARY = [
    "m1", "m2", "other", "e9", "1", "0", "2.5", "-", "+", "*", "/", "^", "(", ")", ",", "[", "]",
    ">", "<=", "==", "!=", "AND", "||", "NOT", "FILL", "IF", "RATE", "DIFF", "SUM", "AVG", "MAX",
    "METRICS", "PERIOD", "RUNNING_SUM", "ABS", "REPEAT", "LINEAR", '"m"', "DAY", "LOG",
    "TIME_SERIES", "REMOVE_EMPTY", "DATAPOINT_COUNT", "STDDEV", "$",
]  # fmt: skip


@given(st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=14))
@settings(max_examples=400, deadline=None)
def test_any_token_soup_fails_only_with_math_error(tokens: list[str]) -> None:
    expression = " ".join(tokens)
    try:
        value = run(expression)
        mm.results(value, GRID)
    except mm.MathError:
        pass
