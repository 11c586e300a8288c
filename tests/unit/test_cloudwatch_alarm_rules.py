"""The composite-alarm AlarmRule language: parsing, evaluation, AWS-style syntax errors."""

from __future__ import annotations

import pytest

from sandbox.endpoint.cloudwatch.alarm_rules import (
    MAX_RULE_CHILDREN,
    AlarmArn,
    AlarmRuleError,
    parse_alarm_arn,
    parse_alarm_rule,
)

pytestmark = pytest.mark.unit

STATES = {"cpu": "ALARM", "disk": "OK", "net": "INSUFFICIENT_DATA", "deploy in progress": "OK"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("ALARM(cpu)", True, id="alarm-true"),
        pytest.param("ALARM(disk)", False, id="alarm-false"),
        pytest.param("OK(disk)", True, id="ok"),
        pytest.param("INSUFFICIENT_DATA(net)", True, id="insufficient-data"),
        pytest.param('ALARM("cpu")', True, id="quoted-name"),
        pytest.param('OK("deploy in progress")', True, id="quoted-name-with-blanks"),
        pytest.param("ALARM(arn:aws:cloudwatch:us-east-1:1:alarm:cpu)", True, id="arn-reference"),
        pytest.param("ALARM(unknown)", False, id="unknown-child-is-false"),
        pytest.param("TRUE", True, id="true"),
        pytest.param("FALSE", False, id="false"),
        pytest.param("false", False, id="lowercase-false-as-in-aws-docs"),
        pytest.param("ALARM(cpu) AND ALARM(disk)", False, id="and"),
        pytest.param("ALARM(cpu) OR ALARM(disk)", True, id="or"),
        pytest.param("NOT ALARM(disk)", True, id="not"),
        pytest.param("NOT NOT ALARM(disk)", False, id="double-not"),
        pytest.param("ALARM(disk) AND ALARM(cpu) OR TRUE", True, id="and-binds-tighter-than-or"),
        pytest.param("ALARM(disk) AND (ALARM(cpu) OR TRUE)", False, id="parentheses"),
        pytest.param("NOT ALARM(cpu) OR TRUE", True, id="not-binds-tightest"),
        pytest.param("((ALARM(cpu)))", True, id="nested-parentheses"),
        pytest.param("alarm(cpu) and not ok(net)", True, id="case-insensitive-keywords"),
        pytest.param(
            "(ALARM(cpu) OR ALARM(disk)) AND OK(net)", False, id="aws-doc-example-network-noise"
        ),
    ],
)
def test_rule_evaluates_against_child_states(rule: str, expected: bool) -> None:
    lookup = {**STATES, "arn:aws:cloudwatch:us-east-1:1:alarm:cpu": "ALARM"}
    assert parse_alarm_rule(rule).evaluate(lookup.get) is expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        pytest.param(
            "()", "Error in AlarmRule [Unsupported token ')' at char 1]", id="empty-group"
        ),
        pytest.param(
            "ALARM(SampleQueue Oldest Age)",
            "Error in AlarmRule [Unsupported token 'Oldest' at char 18, must be: ')']",
            id="unquoted-name-with-blanks",
        ),
        pytest.param(
            "ALARM(a) XOR OK(b)",
            "Error in AlarmRule [Unsupported token 'XOR' at char 9]",
            id="unknown-operator",
        ),
        pytest.param(
            "ALARM a",
            "Error in AlarmRule [Unsupported token 'a' at char 6, must be: '(']",
            id="missing-open-paren",
        ),
        pytest.param(
            "ALARM(a",
            "Error in AlarmRule [Unexpected end of rule at char 7, must be: ')']",
            id="missing-close-paren",
        ),
        pytest.param(
            "ALARM(a) AND", "Error in AlarmRule [Unexpected end of rule at char 12]", id="dangling"
        ),
        pytest.param("", "Error in AlarmRule [Unexpected end of rule at char 0]", id="empty"),
        pytest.param(
            'ALARM("")', "Error in AlarmRule [Empty alarm name at char 6]", id="empty-name"
        ),
        pytest.param(
            'ALARM("a)',
            "Error in AlarmRule [Unterminated quoted alarm name at char 6]",
            id="unterminated-quote",
        ),
        pytest.param(
            "ALARM(a) ALARM(b)",
            "Error in AlarmRule [Unsupported token 'ALARM' at char 9]",
            id="missing-operator",
        ),
        pytest.param(
            "WARNING(a)", "Error in AlarmRule [Unsupported token 'WARNING' at char 0]", id="bad-fn"
        ),
    ],
)
def test_syntax_errors_read_like_aws(rule: str, message: str) -> None:
    with pytest.raises(AlarmRuleError) as caught:
        parse_alarm_rule(rule)
    assert str(caught.value) == message


def test_references_are_distinct_in_order_of_appearance() -> None:
    rule = parse_alarm_rule('ALARM(b) OR OK("a") OR INSUFFICIENT_DATA(b) OR TRUE')
    assert rule.references == ("b", "a")
    assert rule.elements == 4  # three functions and TRUE


def test_too_many_children_is_an_error() -> None:
    rule = " OR ".join(f"ALARM(a{i})" for i in range(MAX_RULE_CHILDREN + 1))
    with pytest.raises(AlarmRuleError, match="at most 100"):
        parse_alarm_rule(rule)


def test_too_many_elements_is_an_error() -> None:
    rule = " OR ".join(["TRUE"] * 501)
    with pytest.raises(AlarmRuleError, match="at most 500"):
        parse_alarm_rule(rule)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu",
            AlarmArn("aws", "eu-west-1", "123456789012", "cpu"),
            id="plain",
        ),
        pytest.param(
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a:b/c",
            AlarmArn("aws", "eu-west-1", "123456789012", "a:b/c"),
            id="name-with-colons",
        ),
        pytest.param("cpu", None, id="a-name"),
        pytest.param("arn:aws:sns:eu-west-1:123456789012:topic", None, id="other-service"),
        pytest.param(
            "arn:aws:cloudwatch:eu-west-1:123456789012:insight-rule/x", None, id="insight-rule"
        ),
    ],
)
def test_parse_alarm_arn(value: str, expected: AlarmArn | None) -> None:
    assert parse_alarm_arn(value) == expected
