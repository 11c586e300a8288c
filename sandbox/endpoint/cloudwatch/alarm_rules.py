"""The composite-alarm ``AlarmRule`` language: tokenizer, parser and evaluator.

Grammar (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html)::

    rule    := or
    or      := and ("OR" and)*
    and     := unary ("AND" unary)*
    unary   := "NOT" unary | primary
    primary := "(" rule ")" | "TRUE" | "FALSE" | STATE "(" name ")"
    STATE   := "ALARM" | "OK" | "INSUFFICIENT_DATA"
    name    := '"' any text but '"' '"' | a bare word (no blanks, parentheses or quotes)

A name is an alarm name or an alarm ARN. Keywords are matched case-insensitively: AWS's own
docs suggest setting a rule to ``false`` to break a cycle. Syntax errors read like AWS's,
``Error in AlarmRule [Unsupported token 'Oldest' at char 67, must be: ')']`` (0-based offsets).
This module knows nothing about which alarms exist; the backend resolves the references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
STATES: tuple[State, ...] = ("OK", "ALARM", "INSUFFICIENT_DATA")
_STATE_KEYWORDS: dict[str, State] = {state: state for state in STATES}

# Documented limits of one AlarmRule.
MAX_RULE_CHILDREN = 100
MAX_RULE_ELEMENTS = 500

_ALARM_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):cloudwatch:(?P<region>[^:]*):(?P<account>\d*):alarm:(?P<name>.+)$"
)


class AlarmRuleError(ValueError):
    """A rule that does not parse; ``str()`` is AWS's ``Error in AlarmRule [...]`` message."""

    def __init__(self, detail: str, position: int) -> None:
        super().__init__(f"Error in AlarmRule [{detail}]")
        self.detail = detail
        self.position = position


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class StateCheck:
    """``ALARM(x)`` and friends; ``ref`` is the name or ARN exactly as written."""

    state: State
    ref: str
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: Literal["AND", "OR"]
    operands: tuple[Node, ...]


Node = Const | StateCheck | Not | BoolOp


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["(", ")", "word", "string", "end"]
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            paren: Literal["(", ")"] = "(" if char == "(" else ")"
            tokens.append(_Token(paren, char, i))
            i += 1
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise AlarmRuleError(f"Unterminated quoted alarm name at char {i}", i)
            tokens.append(_Token("string", text[i + 1 : end], i))
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"':
                i += 1
            tokens.append(_Token("word", text[start:i], start))
    tokens.append(_Token("end", "", n))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._index = 0
        self.elements = 0

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _keyword(self, token: _Token) -> str | None:
        return token.text.upper() if token.kind == "word" else None

    @staticmethod
    def _unsupported(token: _Token, expected: str | None = None) -> AlarmRuleError:
        if token.kind == "end":
            detail = f"Unexpected end of rule at char {token.position}"
        else:
            text = f'"{token.text}"' if token.kind == "string" else token.text
            detail = f"Unsupported token '{text}' at char {token.position}"
        if expected is not None:
            detail += f", must be: '{expected}'"
        return AlarmRuleError(detail, token.position)

    def _expect(self, kind: Literal["(", ")"]) -> None:
        token = self._next()
        if token.kind != kind:
            raise self._unsupported(token, kind)

    def parse(self) -> Node:
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self._unsupported(token)
        return node

    def _or(self) -> Node:
        operands = [self._and()]
        while self._keyword(self._peek()) == "OR":
            self._next()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def _and(self) -> Node:
        operands = [self._unary()]
        while self._keyword(self._peek()) == "AND":
            self._next()
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def _unary(self) -> Node:
        if self._keyword(self._peek()) == "NOT":
            self._next()
            return Not(self._unary())
        return self._primary()

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "(":
            self.elements += 1  # AWS counts parentheses as elements
            node = self._or()
            self._expect(")")
            return node
        keyword = self._keyword(token)
        if keyword in ("TRUE", "FALSE"):
            self.elements += 1
            return Const(keyword == "TRUE")
        state = _STATE_KEYWORDS.get(keyword or "")
        if state is not None:
            self._expect("(")
            name = self._next()
            if name.kind not in ("word", "string"):
                raise self._unsupported(name)
            if not name.text:
                raise AlarmRuleError(f"Empty alarm name at char {name.position}", name.position)
            self._expect(")")
            self.elements += 1
            return StateCheck(state, name.text, token.position)
        raise self._unsupported(token)


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not):
        yield from _walk(node.operand)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            yield from _walk(operand)


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """A parsed rule. ``references`` lists each distinct name/ARN in order of appearance."""

    text: str
    root: Node
    references: tuple[str, ...]
    elements: int

    def evaluate(self, state_of: Callable[[str], str | None]) -> bool:
        """True when the rule holds; ``state_of(ref)`` gives a referenced alarm's StateValue."""
        return _evaluate(self.root, state_of)


def _evaluate(node: Node, state_of: Callable[[str], str | None]) -> bool:
    if isinstance(node, Const):
        return node.value
    if isinstance(node, StateCheck):
        return state_of(node.ref) == node.state
    if isinstance(node, Not):
        return not _evaluate(node.operand, state_of)
    if node.op == "AND":
        return all(_evaluate(operand, state_of) for operand in node.operands)
    return any(_evaluate(operand, state_of) for operand in node.operands)


def parse_alarm_rule(text: str) -> AlarmRule:
    """Parse ``text``; raise :class:`AlarmRuleError` on syntax errors or exceeded limits."""
    parser = _Parser(text)
    root = parser.parse()
    references = tuple(
        dict.fromkeys(node.ref for node in _walk(root) if isinstance(node, StateCheck))
    )
    if len(references) > MAX_RULE_CHILDREN:
        raise AlarmRuleError(
            f"The rule references {len(references)} alarms; at most {MAX_RULE_CHILDREN} "
            "are allowed",
            0,
        )
    if parser.elements > MAX_RULE_ELEMENTS:
        raise AlarmRuleError(
            f"The rule has {parser.elements} elements; at most {MAX_RULE_ELEMENTS} are allowed",
            0,
        )
    return AlarmRule(text, root, references, parser.elements)


@dataclass(frozen=True, slots=True)
class AlarmArn:
    partition: str
    region: str
    account: str
    name: str


def parse_alarm_arn(value: str) -> AlarmArn | None:
    """``arn:aws:cloudwatch:{region}:{account}:alarm:{name}`` → its parts; None if not one."""
    match = _ALARM_ARN.match(value)
    if match is None:
        return None
    return AlarmArn(match["partition"], match["region"], match["account"], match["name"])
