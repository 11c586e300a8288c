"""The simulated serverless system, as data: what exists in each account and how it is wired.

An order pipeline and its neighbours. Everything the provisioner creates, the simulation moves
and the emitters report is named here; nothing else in ``sandbox/world`` invents resources.
Some resources are deliberately misconfigured the way real teams get them wrong; they are
listed in :data:`MISCONFIGURATIONS` (and each account's ``misconfigurations``) so audits can be
scored against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class DependencyKind(StrEnum):
    REMOTE = "remote"  # a third-party HTTP API (X-Ray namespace "remote")
    DYNAMODB = "dynamodb"  # an AWS SDK call (X-Ray namespace "aws")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a caller retries one downstream call: capped exponential backoff, optionally jittered.

    ``max_attempts`` counts the first try. With ``jitter`` off and ``base_ms`` 0 the caller
    hammers the dependency (the bad pattern the throttling scenario shows).
    """

    max_attempts: int = 3
    base_ms: int = 100
    cap_ms: int = 2_000
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class Dependency:
    """A downstream the functions call: a third-party API or a DynamoDB table."""

    name: str  # also the breaker id guarding it, when it has one
    kind: DependencyKind
    host: str  # remote host, or table name for DynamoDB
    latency_ms: float  # median latency when healthy
    capacity_rps: float  # calls per second it serves before it throttles or degrades
    base_error_rate: float = 0.002


@dataclass(frozen=True, slots=True)
class Call:
    """One function's call to a dependency, ``per_invocation`` times per invocation."""

    dependency: str
    retry: RetryPolicy = RetryPolicy()
    breaker: str | None = None  # breaker id in the breaker table guarding this call
    per_invocation: float = 1.0


@dataclass(frozen=True, slots=True)
class AsyncConfig:
    """Lambda asynchronous invocation settings (PutFunctionEventInvokeConfig)."""

    maximum_retry_attempts: int = 2
    maximum_event_age_s: int = 21_600
    on_failure_queue: str | None = None  # an SQS queue name in the same account


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    timeout_s: int
    memory_mb: int
    duration_ms: float  # median own work per invocation, excluding downstream calls
    tracing: bool = True
    reserved_concurrency: int | None = None
    calls: tuple[Call, ...] = ()
    async_config: AsyncConfig | None = None  # set for functions invoked asynchronously
    dead_letter_queue: str | None = None  # legacy DeadLetterConfig target (SQS queue name)
    triggered_by: str = (
        "api"  # "api", "sqs:<queue>", "events:<rule>", "states:<machine>", "schedule"
    )


@dataclass(frozen=True, slots=True)
class Queue:
    """An SQS source queue with its DLQ (RedrivePolicy), consumed by one function."""

    name: str
    consumer: str
    dlq: str
    max_receive_count: int = 3
    visibility_timeout_s: int = 180
    retention_s: int = 345_600  # 4 days, SQS's default
    dlq_retention_s: int = 1_209_600  # 14 days, the longest SQS allows
    batch_size: int = 10
    report_batch_item_failures: bool = True
    messages_per_order: float = 1.0


@dataclass(frozen=True, slots=True)
class RuleTarget:
    """An EventBridge rule's target with its retry policy and DLQ."""

    function: str
    dlq: str | None
    maximum_retry_attempts: int = 185
    maximum_event_age_s: int = 86_400


@dataclass(frozen=True, slots=True)
class EventRule:
    name: str
    detail_type: str
    target: RuleTarget
    events_per_order: float = 1.0


@dataclass(frozen=True, slots=True)
class TaskState:
    """A Step Functions Task state invoking a function; ``retry`` False means no Retry block."""

    name: str
    function: str
    retry: bool = True
    catch: bool = True


@dataclass(frozen=True, slots=True)
class StateMachine:
    name: str
    tasks: tuple[TaskState, ...]
    executions_per_order: float = 1.0


@dataclass(frozen=True, slots=True)
class BreakerTable:
    """The DynamoDB table holding one circuit-breaker item per dependency.

    Attribute names and state spellings vary between teams; ``state_values`` maps the
    canonical CLOSED/OPEN/HALF_OPEN to this table's spelling.
    """

    name: str
    key_attr: str = "breaker_id"
    state_attr: str = "state"
    failure_attr: str = "failure_count"
    success_attr: str = "success_count"
    transition_attr: str = "last_transition"
    updated_attr: str = "updated_at"
    state_values: tuple[tuple[str, str], ...] = (
        ("CLOSED", "CLOSED"),
        ("OPEN", "OPEN"),
        ("HALF_OPEN", "HALF_OPEN"),
    )
    breakers: tuple[str, ...] = ()
    no_timestamp: tuple[str, ...] = ()  # items written without the updated-at attribute


@dataclass(frozen=True, slots=True)
class Misconfiguration:
    """A deliberate mistake, as an audit should report it."""

    kind: str
    resource: str
    detail: str


@dataclass(frozen=True, slots=True)
class Account:
    name: str  # "prod", "staging"
    account_id: str
    region: str
    orders_per_second: float  # mean entry traffic; diurnal and weekly shape applied on top
    functions: tuple[Function, ...]
    queues: tuple[Queue, ...]
    rules: tuple[EventRule, ...]
    state_machines: tuple[StateMachine, ...]
    dependencies: tuple[Dependency, ...]
    breaker_table: BreakerTable
    misconfigurations: tuple[Misconfiguration, ...] = field(default=())

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)

    def dependency(self, name: str) -> Dependency:
        return next(d for d in self.dependencies if d.name == name)


GOOD_RETRY = RetryPolicy(max_attempts=3, base_ms=100, cap_ms=2_000, jitter=True)
AGGRESSIVE_RETRY = RetryPolicy(max_attempts=6, base_ms=0, cap_ms=0, jitter=False)


def _prod() -> Account:
    dependencies = (
        Dependency("payment-api", DependencyKind.REMOTE, "api.payments.example.com", 180, 40),
        Dependency("inventory-db", DependencyKind.DYNAMODB, "inventory", 8, 120),
        Dependency("email-provider", DependencyKind.REMOTE, "api.mailer.example.com", 250, 15),
        Dependency("shipping-partner", DependencyKind.REMOTE, "api.shipco.example.com", 300, 10),
    )
    functions = (
        Function(
            "orders-api",
            10,
            512,
            35,
            reserved_concurrency=100,
            calls=(Call("inventory-db", GOOD_RETRY, breaker="inventory-db"),),
        ),
        Function(
            "payment-processor",
            30,
            1024,
            60,
            calls=(Call("payment-api", GOOD_RETRY, breaker="payment-api"),),
            triggered_by="sqs:payments",
        ),
        Function(
            "inventory-reserver",
            15,
            512,
            20,
            calls=(Call("inventory-db", GOOD_RETRY, breaker="inventory-db", per_invocation=2),),
            triggered_by="sqs:inventory",
        ),
        Function(
            "email-sender",
            20,
            256,
            25,
            calls=(Call("email-provider", GOOD_RETRY, breaker="email-provider"),),
            async_config=AsyncConfig(2, 3_600, on_failure_queue="email-failures"),
            triggered_by="events:order-confirmed",
        ),
        Function(
            "shipping-scheduler",
            60,
            512,
            40,
            calls=(Call("shipping-partner", AGGRESSIVE_RETRY, breaker="shipping-partner"),),
            triggered_by="sqs:shipping",
        ),
        Function("order-events-publisher", 10, 256, 15, triggered_by="sqs:order-events"),
        Function("fraud-check", 5, 1024, 120, triggered_by="states:order-fulfilment"),
        Function(
            "invoice-generator",
            30,
            512,
            200,
            tracing=False,
            async_config=AsyncConfig(2, 21_600, on_failure_queue=None),  # no DLQ, no destination
            triggered_by="events:order-shipped",
        ),
        Function(
            "refund-handler",
            60,
            512,
            90,
            calls=(Call("payment-api", GOOD_RETRY, breaker="payment-api", per_invocation=1),),
            triggered_by="sqs:refunds",
        ),
        Function(
            "stock-allocator",
            10,
            256,
            30,
            calls=(Call("inventory-db", GOOD_RETRY, breaker="inventory-db"),),
            triggered_by="states:order-fulfilment",
        ),
        Function("breaker-health-check", 30, 128, 50, tracing=False, triggered_by="schedule"),
    )
    queues = (
        Queue("payments", "payment-processor", "payments-dlq", max_receive_count=3),
        Queue("inventory", "inventory-reserver", "inventory-dlq", report_batch_item_failures=False),
        Queue("shipping", "shipping-scheduler", "shipping-dlq", max_receive_count=5),
        Queue("order-events", "order-events-publisher", "order-events-dlq"),
        # 90 s visibility timeout below 6 x the consumer's 60 s timeout (AWS's guidance): a slow
        # batch is redelivered while still being processed. (AWS refuses the mapping outright
        # below 1 x, so this is the form the mistake takes in real accounts.)
        Queue(
            "refunds",
            "refund-handler",
            "refunds-dlq",
            visibility_timeout_s=90,
            messages_per_order=0.03,
        ),
    )
    rules = (
        EventRule(
            "order-confirmed",
            "OrderConfirmed",
            RuleTarget("email-sender", "email-events-dlq", 4, 3_600),
        ),
        EventRule(
            "order-shipped", "OrderShipped", RuleTarget("invoice-generator", "invoice-events-dlq")
        ),
    )
    state_machines = (
        StateMachine(
            "order-fulfilment",
            (
                TaskState("FraudCheck", "fraud-check", retry=True, catch=True),
                TaskState("AllocateStock", "stock-allocator", retry=False, catch=True),
            ),
        ),
    )
    table = BreakerTable(
        "circuit-breakers",
        breakers=(
            "payment-api",
            "inventory-db",
            "email-provider",
            "shipping-partner",
            "legacy-tax-service",
        ),
        no_timestamp=("legacy-tax-service",),
    )
    misconfigurations = (
        Misconfiguration(
            "visibility-timeout-below-6x-function-timeout",
            "sqs:refunds",
            "visibility timeout 90 s < 6 x refund-handler timeout 60 s",
        ),
        Misconfiguration(
            "async-function-without-failure-destination",
            "lambda:invoice-generator",
            "asynchronous invocations with no DLQ and no on-failure destination",
        ),
        Misconfiguration(
            "task-state-without-retry",
            "states:order-fulfilment/AllocateStock",
            "Task state invoking stock-allocator has no Retry",
        ),
        Misconfiguration(
            "breaker-item-without-timestamp",
            "dynamodb:circuit-breakers/legacy-tax-service",
            "breaker item has no updated_at attribute",
        ),
        Misconfiguration(
            "retry-without-backoff",
            "lambda:shipping-scheduler",
            "calls shipping-partner with 6 attempts, no backoff and no jitter",
        ),
        Misconfiguration(
            "sqs-consumer-without-partial-batch-response",
            "lambda:inventory-reserver",
            "event source mapping without ReportBatchItemFailures: one bad message fails the batch",
        ),
    )
    return Account(
        "prod",
        "111111111111",
        "us-east-1",
        1.2,
        functions,
        queues,
        rules,
        state_machines,
        dependencies,
        table,
        misconfigurations,
    )


def _staging() -> Account:
    dependencies = (
        Dependency("payment-api", DependencyKind.REMOTE, "sandbox.payments.example.com", 220, 5),
        Dependency("catalog-db", DependencyKind.DYNAMODB, "catalog", 10, 40),
    )
    functions = (
        Function(
            "checkout-api",
            10,
            256,
            40,
            calls=(Call("catalog-db", GOOD_RETRY, breaker="catalog-db"),),
        ),
        Function(
            "checkout-payments",
            30,
            512,
            60,
            calls=(Call("payment-api", GOOD_RETRY, breaker="payment-api"),),
            triggered_by="sqs:checkout-payments",
        ),
        Function("checkout-notifier", 10, 128, 20, triggered_by="sqs:checkout-notifications"),
    )
    queues = (
        Queue("checkout-payments", "checkout-payments", "checkout-payments-dlq"),
        Queue(
            "checkout-notifications",
            "checkout-notifier",
            "checkout-notifications-dlq",
            max_receive_count=2,
        ),
    )
    # Another team, another schema: camelCase attributes and a hyphenated half-open state.
    table = BreakerTable(
        "cb-state",
        key_attr="circuitName",
        state_attr="circuitState",
        failure_attr="failures",
        success_attr="successes",
        transition_attr="changedAt",
        updated_attr="heartbeatAt",
        state_values=(("CLOSED", "closed"), ("OPEN", "open"), ("HALF_OPEN", "half-open")),
        breakers=("payment-api", "catalog-db"),
    )
    return Account(
        "staging",
        "222222222222",
        "us-east-1",
        0.1,
        functions,
        queues,
        (),
        (),
        dependencies,
        table,
    )


ACCOUNTS: tuple[Account, ...] = (_prod(), _staging())
MISCONFIGURATIONS: tuple[tuple[str, Misconfiguration], ...] = tuple(
    (account.account_id, m) for account in ACCOUNTS for m in account.misconfigurations
)


def account(name: str) -> Account:
    """The account named ``name`` ("prod", "staging"); ValueError lists the valid names."""
    for candidate in ACCOUNTS:
        if name in (candidate.name, candidate.account_id):
            return candidate
    valid = ", ".join(a.name for a in ACCOUNTS)
    raise ValueError(f"unknown account {name!r}; valid accounts: {valid}")
