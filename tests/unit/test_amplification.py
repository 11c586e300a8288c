"""alerts.amplification: the product of retry budgets along each call path, from inventory only."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.amplification import COLUMNS, amplification_paths
from collectors.discovery import (
    AsyncInvokeConfig,
    EventRule,
    EventSourceMapping,
    LambdaFunction,
    Queue,
    RuleTarget,
    StateMachine,
)
from tests.unit.store_frames import (
    ACCOUNT,
    REGION,
    fn_arn,
    inventory,
    machine_arn,
    queue_arn,
)

pytestmark = pytest.mark.unit


def function(
    name: str,
    *,
    queues: tuple[str, ...] = (),
    async_retries: int | None = None,
    is_async: bool = False,
    batch_failures: bool = True,
    batch_size: int = 10,
) -> LambdaFunction:
    config = None
    if is_async or async_retries is not None:
        config = AsyncInvokeConfig(async_retries, None, None, None)
    return LambdaFunction(
        name=name,
        arn=fn_arn(name),
        runtime="python3.12",
        timeout_s=30,
        memory_mb=512,
        tracing_mode="Active",
        reserved_concurrency=None,
        dead_letter_target=None,
        async_config=config,
        event_source_mappings=tuple(
            EventSourceMapping(
                f"uuid-{q}",
                queue_arn(q),
                fn_arn(name),
                "Enabled",
                batch_size,
                0,
                ("ReportBatchItemFailures",) if batch_failures else (),
                None,
            )
            for q in queues
        ),
        tags={},
    )


def queue(
    name: str, *, max_receive: int | None = 3, visibility_s: int = 60, retention_s: int = 345_600
) -> Queue:
    return Queue(
        name=name,
        url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        arn=queue_arn(name),
        fifo=False,
        visibility_timeout_s=visibility_s,
        retention_s=retention_s,
        delay_s=0,
        dlq_arn=queue_arn(f"{name}-dlq") if max_receive else None,
        max_receive_count=max_receive,
        dead_letter_sources=(),
        failure_senders=(),
        attributes={},
        tags={},
    )


def rule(name: str, target_arn: str, *, retries: int | None = None, age: int | None = None):
    return EventRule(
        name=name,
        arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
        event_bus="default",
        state="ENABLED",
        schedule=None,
        event_pattern="{}",
        targets=(RuleTarget("t1", target_arn, None, retries, age),),
        tags={},
    )


def machine(name: str, states: dict[str, Any]) -> StateMachine:
    first = next(iter(states))
    return StateMachine(
        name=name,
        arn=machine_arn(name),
        type="STANDARD",
        status="ACTIVE",
        role_arn=None,
        definition={"StartAt": first, "States": states},
        definition_error=None,
        tracing_enabled=False,
        logging_level="OFF",
        tags={},
    )


def paths(inv: pd.DataFrame, **options: Any) -> dict[tuple[str, ...], dict[str, Any]]:
    frame = amplification_paths(inv, **options)
    return {tuple(row["path"]): row for row in frame.to_dict("records")}


def task(resource: str, *, retry: list[dict[str, Any]] | None = None, **extra: Any):
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "End": True, **extra}
    if retry is not None:
        state["Retry"] = retry
    return state


def test_sqs_triggered_function_multiplies_max_receive_count_by_sdk_attempts() -> None:
    inv = inventory(functions=[function("worker", queues=("orders",))], queues=[queue("orders")])
    row = paths(inv)[("sqs:orders", "lambda:worker")]
    assert row["entry"] == "sqs:orders"
    assert row["function"] == "worker"
    assert row["factors"] == {"sqs": 3, "sdk": 3}
    assert row["worst_case_attempts"] == 9
    assert row["risk"] == "medium"
    assert (row["account"], row["region"]) == (ACCOUNT, REGION)


def test_queue_without_redrive_is_bounded_by_retention_over_visibility() -> None:
    inv = inventory(
        functions=[function("worker", queues=("orders",))],
        queues=[queue("orders", max_receive=None, visibility_s=600, retention_s=86_400)],
    )
    row = paths(inv)[("sqs:orders", "lambda:worker")]
    assert row["factors"]["sqs"] == 144
    assert row["risk"] == "critical"
    assert any("no redrive policy" in note for note in row["notes"])


def test_queue_missing_from_inventory_and_whole_batch_redelivery_are_noted() -> None:
    inv = inventory(functions=[function("worker", queues=("elsewhere",), batch_failures=False)])
    row = paths(inv)[("sqs:elsewhere", "lambda:worker")]
    assert row["factors"] == {"sqs": 1, "sdk": 3}
    assert any("not in the inventory" in note for note in row["notes"])
    assert any("whole batch" in note for note in row["notes"])


def test_eventbridge_to_async_function_with_settings() -> None:
    inv = inventory(
        functions=[function("mailer", async_retries=1)],
        rules=[rule("order-confirmed", fn_arn("mailer"), retries=4, age=3600)],
    )
    row = paths(inv)[("events:order-confirmed", "lambda:mailer")]
    assert row["factors"] == {"eventbridge": 5, "lambda_async": 2, "sdk": 3}
    assert row["worst_case_attempts"] == 30
    assert row["risk"] == "high"
    assert any("3600 s" in note for note in row["notes"])


def test_eventbridge_defaults_are_185_retries_and_two_async_retries() -> None:
    inv = inventory(
        functions=[function("invoicer")], rules=[rule("order-shipped", fn_arn("invoicer"))]
    )
    row = paths(inv)[("events:order-shipped", "lambda:invoicer")]
    assert row["factors"] == {"eventbridge": 186, "lambda_async": 3, "sdk": 3}
    assert row["worst_case_attempts"] == 186 * 3 * 3
    assert row["risk"] == "critical"
    notes = " ".join(row["notes"])
    assert "EventBridge's default" in notes and "upper bound" in notes
    assert "AWS's default 2" in notes


def test_eventbridge_to_a_queue_then_its_consumer() -> None:
    inv = inventory(
        functions=[function("worker", queues=("orders",))],
        queues=[queue("orders", max_receive=5)],
        rules=[rule("new-order", queue_arn("orders"), retries=2)],
    )
    found = paths(inv)
    assert found[("sqs:orders", "lambda:worker")]["worst_case_attempts"] == 15
    row = found[("events:new-order", "sqs:orders", "lambda:worker")]
    assert row["factors"] == {"eventbridge": 3, "sqs": 5, "sdk": 3}
    assert row["worst_case_attempts"] == 45


def test_step_functions_task_retries_direct_arn_and_lambda_invoke() -> None:
    states = {
        "Direct": task(fn_arn("fraud"), retry=[{"ErrorEquals": ["States.ALL"]}]),
        "Invoke": task(
            "arn:aws:states:::lambda:invoke",
            retry=[
                {"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2},
                {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 5},
            ],
            Parameters={"FunctionName": "stock:live", "Payload.$": "$"},
        ),
        "NoRetry": task("arn:aws:states:::lambda:invoke", Parameters={"FunctionName": fn_arn("x")}),
        "Zero": task(fn_arn("z"), retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}]),
        "Dynamic": task("arn:aws:states:::lambda:invoke", Parameters={"FunctionName.$": "$.fn"}),
        "NotLambda": task("arn:aws:states:::sqs:sendMessage"),
    }
    inv = inventory(
        functions=[function(n) for n in ("fraud", "stock", "x", "z")],
        machines=[machine("fulfilment", states)],
    )
    found = paths(inv)
    direct = found[("states:fulfilment/Direct", "lambda:fraud")]
    assert direct["entry"] == "states:fulfilment"
    assert direct["factors"] == {"step_functions": 4, "sdk": 3}  # MaxAttempts defaults to 3
    assert found[("states:fulfilment/Invoke", "lambda:stock")]["factors"]["step_functions"] == 6
    no_retry = found[("states:fulfilment/NoRetry", "lambda:x")]
    assert no_retry["factors"]["step_functions"] == 1
    assert "Task state NoRetry has no Retry" in no_retry["notes"]
    assert found[("states:fulfilment/Zero", "lambda:z")]["worst_case_attempts"] == 3
    assert not any("Dynamic" in p[0] or "NotLambda" in p[0] for p in found)


def test_step_functions_nested_parallel_and_map_states() -> None:
    states = {
        "Fan": {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {"StartAt": "A", "States": {"A": task(fn_arn("a"), retry=[{"MaxAttempts": 1}])}},
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "End": True,
                            "ItemProcessor": {
                                "StartAt": "B",
                                "States": {"B": task(fn_arn("b"))},
                            },
                        }
                    },
                },
            ],
        }
    }
    inv = inventory(functions=[function("a"), function("b")], machines=[machine("flow", states)])
    found = paths(inv)
    assert found[("states:flow/Fan/A", "lambda:a")]["factors"]["step_functions"] == 2
    assert found[("states:flow/Fan/Each/B", "lambda:b")]["factors"]["step_functions"] == 1


def test_rule_starting_a_state_machine_multiplies_through_its_tasks() -> None:
    states = {"Check": task(fn_arn("fraud"), retry=[{"MaxAttempts": 2}])}
    inv = inventory(
        functions=[function("fraud")],
        machines=[machine("flow", states)],
        rules=[rule("nightly", machine_arn("flow"), retries=1)],
    )
    row = paths(inv)[("events:nightly", "states:flow/Check", "lambda:fraud")]
    assert row["factors"] == {"eventbridge": 2, "step_functions": 3, "sdk": 3}
    assert row["worst_case_attempts"] == 18


def test_functions_no_entry_reaches_get_a_path_of_their_own() -> None:
    inv = inventory(
        functions=[
            function("api"),
            function("async-only", is_async=True),
            function("worker", queues=("orders",)),
        ],
        queues=[queue("orders")],
    )
    found = paths(inv)
    assert found[("lambda:api",)]["factors"] == {"sdk": 3}
    assert found[("lambda:api",)]["risk"] == "low"
    assert found[("lambda:async-only",)]["factors"] == {"lambda_async": 3, "sdk": 3}
    assert ("lambda:worker",) not in found  # reached from its queue


@pytest.mark.parametrize(
    ("sdk", "risk"),
    [(3, "low"), (4, "medium"), (9, "medium"), (10, "high"), (49, "high"), (50, "critical")],
)
def test_risk_levels_at_their_thresholds(sdk: int, risk: str) -> None:
    row = paths(inventory(functions=[function("api")]), sdk_attempts=sdk)[("lambda:api",)]
    assert (row["worst_case_attempts"], row["risk"]) == (sdk, risk)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="sdk_attempts"):
        amplification_paths(inventory(), sdk_attempts=0)
    with pytest.raises(ValueError, match="ascending"):
        amplification_paths(inventory(), risk_thresholds=(10, 4, 50))


def test_empty_or_unusable_inventory_gives_an_empty_frame() -> None:
    for inv in (inventory(), pd.DataFrame()):
        frame = amplification_paths(inv)
        assert frame.empty and list(frame.columns) == COLUMNS


def test_the_latest_snapshot_of_each_resource_wins() -> None:
    old = inventory(
        functions=[function("worker", queues=("orders",))], queues=[queue("orders", max_receive=9)]
    )
    new = inventory(
        collected=datetime(2024, 6, 11, tzinfo=UTC),
        functions=[function("worker", queues=("orders",))],
        queues=[queue("orders", max_receive=2)],
    )
    both = pd.concat([new, old], ignore_index=True)
    assert paths(both)[("sqs:orders", "lambda:worker")]["factors"]["sqs"] == 2


def test_rows_are_sorted_and_deterministic() -> None:
    inv = inventory(
        functions=[
            function("z-api"),
            function("worker", queues=("b-queue", "a-queue")),
            function("mailer"),
        ],
        queues=[queue("a-queue"), queue("b-queue")],
        rules=[rule("r", fn_arn("mailer"))],
    )
    frame = amplification_paths(inv)
    assert list(frame["entry"]) == ["events:r", "lambda:z-api", "sqs:a-queue", "sqs:b-queue"]
    shuffled = inv.sample(frac=1.0, random_state=2).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, amplification_paths(shuffled))


@settings(max_examples=40, deadline=None)
@given(
    receives=st.integers(1, 20),
    event_retries=st.integers(0, 185),
    async_retries=st.integers(0, 2),
    sdk=st.integers(1, 10),
)
def test_worst_case_is_the_product_of_its_factors(
    receives: int, event_retries: int, async_retries: int, sdk: int
) -> None:
    inv = inventory(
        functions=[
            function("worker", queues=("q",)),
            function("mailer", async_retries=async_retries),
        ],
        queues=[queue("q", max_receive=receives)],
        rules=[rule("r", fn_arn("mailer"), retries=event_retries), rule("s", queue_arn("q"))],
    )
    frame = amplification_paths(inv, sdk_attempts=sdk)
    for row in frame.to_dict("records"):
        assert row["worst_case_attempts"] == math.prod(row["factors"].values())
        assert row["factors"]["sdk"] == sdk
        assert row["worst_case_attempts"] >= sdk
    mailer = frame[frame["function"] == "mailer"].iloc[0]
    assert mailer["worst_case_attempts"] == (event_retries + 1) * (async_retries + 1) * sdk
