"""The shipped IAM policies: read-only really is, every action exists, and a linter agrees.

``policy_actions()`` (re-exported from :mod:`collectors.aws`) is the set of
``"service:Operation"`` the read-only policy grants, in botocore's service names — the same keys
:class:`collectors.aws.ApiCallCounter` counts — so an integration test can assert that a whole
collection cycle called nothing the policy does not grant.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from collectors.aws import (
    ALARMS_WRITER_POLICY,
    BOTOCORE_SERVICE,
    CREDENTIAL_OPERATIONS,
    IAM_DIR,
    READ_ONLY_POLICY,
    iam_actions,
    policy_actions,
)

pytestmark = pytest.mark.unit

__all__ = ["policy_actions"]

POLICIES = sorted(IAM_DIR.glob("*.json"))
WRITE_VERBS = re.compile(
    r":(Put|Create|Delete|Update|Send|Receive|Purge|Set|Start|Stop|Tag|Untag|Invoke|Change|"
    r"Modify|Remove|Add|Attach|Detach|Enable|Disable|Publish|Execute|Restore|Reset|Batch(?!Get))"
)
# What the collectors must be able to do at the least (the lead's integration test checks the
# exact set against the calls a collection cycle makes).
REQUIRED = {
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "lambda:ListFunctions",
    "lambda:ListEventSourceMappings",
    "lambda:ListFunctionEventInvokeConfigs",
    "sqs:ListQueues",
    "sqs:GetQueueAttributes",
    "sqs:ListDeadLetterSourceQueues",
    "events:ListRules",
    "events:ListTargetsByRule",
    "stepfunctions:ListStateMachines",
    "stepfunctions:DescribeStateMachine",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
    "xray:GetServiceGraph",
    "xray:GetTraceSummaries",
    "xray:BatchGetTraces",
    "sts:GetCallerIdentity",
}
ALARM_WRITES = {
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:PutCompositeAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:TagResource",
    "cloudwatch:PutMetricData",  # the opt-in breaker metric, only in its own namespace
}


def _statements(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    assert document["Version"] == "2012-10-17"
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@cache
def _iam_definition() -> dict[str, dict[str, Any]]:
    """parliament's copy of the AWS Service Authorization Reference, by service prefix."""
    import parliament

    path = Path(parliament.__file__).parent / "iam_definition.json"
    return {service["prefix"]: service for service in json.loads(path.read_text())}


def _access_level(action: str) -> str:
    prefix, name = action.split(":")
    for privilege in _iam_definition()[prefix]["privileges"]:
        if privilege["privilege"] == name:
            return str(privilege["access_level"])
    raise AssertionError(f"{action} is not in the IAM definitions")


# -- every policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_policy_is_plain_allow_statements_with_explicit_actions(path: Path) -> None:
    for statement in _statements(path):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
        for action in _listed(statement["Action"]):
            assert "*" not in action and "?" not in action, action


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_every_action_is_an_operation_in_botocore(path: Path) -> None:
    session = botocore.session.Session()
    for action in policy_actions(path):
        service, operation = action.split(":")
        assert service in session.get_available_services(), action
        assert operation in session.get_service_model(service).operation_names, action
    # And every prefix maps to a botocore service (IAM "states" is botocore "stepfunctions").
    for action in iam_actions(path):
        prefix = action.split(":")[0]
        assert BOTOCORE_SERVICE.get(prefix, prefix) in session.get_available_services(), action


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_parliament_finds_nothing_above_low(path: Path) -> None:
    from parliament import analyze_policy_string, enhance_finding

    policy = analyze_policy_string(
        path.read_text(), filepath=str(path), include_community_auditors=True
    )
    findings = [enhance_finding(f) for f in policy.findings]
    serious = [f for f in findings if f.severity not in ("LOW", "INFO")]
    assert serious == [], [(f.issue, f.severity, f.detail) for f in serious]


# -- the collectors' read-only policy ----------------------------------------------------------


def test_read_only_policy_changes_nothing() -> None:
    actions = iam_actions(READ_ONLY_POLICY)
    assert not [a for a in actions if WRITE_VERBS.search(a)]
    assert "sqs:ReceiveMessage" not in actions
    assert not [a for a in actions if a.startswith("sqs:") and "Message" in a]
    # Cross-checked with AWS's own access levels: nothing Write, Tagging or Permissions.
    levels = {a: _access_level(a) for a in actions}
    assert {a: lvl for a, lvl in levels.items() if lvl not in ("Read", "List")} == {}


def test_read_only_policy_grants_what_the_collectors_need() -> None:
    assert policy_actions() >= REQUIRED
    assert not policy_actions() & CREDENTIAL_OPERATIONS  # granted to the source identity


def test_scan_is_scoped_to_breaker_tables() -> None:
    for statement in _statements(READ_ONLY_POLICY):
        if "dynamodb:Scan" in _listed(statement["Action"]):
            resources = _listed(statement["Resource"])
            assert resources and all(
                re.fullmatch(r"arn:aws:dynamodb:\*:\*:table/[A-Za-z0-9_.-]+", r) for r in resources
            ), resources


def test_policy_actions_use_botocore_service_names() -> None:
    assert "stepfunctions:DescribeStateMachine" in policy_actions()
    assert "states:DescribeStateMachine" in iam_actions(READ_ONLY_POLICY)


# -- the alarm writer's policy -----------------------------------------------------------------


def test_alarms_writer_writes_only_alarms_and_the_breaker_metric() -> None:
    actions = policy_actions(ALARMS_WRITER_POLICY)
    writes = {a for a in actions if _access_level(a) not in ("Read", "List")}
    assert writes == ALARM_WRITES
    assert "cloudwatch:DescribeAlarms" in actions


def test_alarms_writer_is_resource_scoped_where_aws_allows() -> None:
    for statement in _statements(ALARMS_WRITER_POLICY):
        actions = _listed(statement["Action"])
        resources = _listed(statement["Resource"])
        if "cloudwatch:PutMetricData" in actions:
            # PutMetricData has no resource type; the namespace condition scopes it.
            assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
        elif any(WRITE_VERBS.search(a) for a in actions):
            assert resources == ["arn:aws:cloudwatch:*:*:alarm:stormwatch-*"]
