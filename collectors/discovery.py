"""Discovery: what exists in one account and region, as typed records (the ``inventory`` table).

:func:`discover` lists Lambda functions, SQS queues, EventBridge rules, Step Functions state
machines and DynamoDB tables through boto3 paginators, reads the configuration a resilience
review needs from each, and links them: a queue's DLQ and a DLQ's sources (both ways, from
``RedrivePolicy`` and ``ListDeadLetterSourceQueues``), the rules and functions that send their
failures to a queue, the rules that invoke a function asynchronously. The records feed the
CloudWatch query plan (:mod:`collectors.cloudwatch`), the DLQ collector and the audit;
:func:`inventory_frame` turns them into rows of :data:`collectors.schema.INVENTORY`.

Discovery only reads (List*/Get*/Describe*); it never reads a message, and it does not keep
Lambda environment variables (they often hold secrets). A resource deleted between being listed
and being described is left out and named in :attr:`Inventory.vanished`; any other failure raises
:class:`~collectors.errors.SourceError` naming the operation, account and region, so a failed
discovery is never mistaken for an empty account.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from collectors._frame import as_utc, to_frame
from collectors.aws import classify
from collectors.config import DiscoveryFilters
from collectors.schema import INVENTORY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from datetime import datetime

    import pandas as pd

    from collectors.errors import SourceError

# Error codes meaning "this resource disappeared since it was listed" (a race, not a failure).
_GONE = frozenset(
    {
        "ResourceNotFoundException",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "StateMachineDoesNotExist",
    }
)
# Volatile SQS attributes: they belong to the ``queues`` table, not to configuration.
_VOLATILE_QUEUE_ATTRIBUTES = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    }
)
DEFAULT_EVENT_BUS = "default"


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsyncInvokeConfig:
    """PutFunctionEventInvokeConfig settings (None: AWS's default applies, 2 retries / 6 h)."""

    maximum_retry_attempts: int | None
    maximum_event_age_s: int | None
    on_failure: str | None  # destination ARN
    on_success: str | None


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    uuid: str
    source_arn: str
    function_arn: str
    state: str | None
    batch_size: int | None
    maximum_batching_window_s: int | None
    function_response_types: tuple[str, ...]
    on_failure: str | None  # stream sources' on-failure destination ARN

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True, slots=True)
class LambdaFunction:
    name: str
    arn: str
    runtime: str | None  # None for container images
    timeout_s: int
    memory_mb: int
    tracing_mode: str  # Active | PassThrough
    reserved_concurrency: int | None
    dead_letter_target: str | None  # DeadLetterConfig TargetArn (SQS queue or SNS topic)
    async_config: AsyncInvokeConfig | None
    event_source_mappings: tuple[EventSourceMapping, ...]
    tags: Mapping[str, str]
    async_sources: tuple[str, ...] = ()  # ARNs of EventBridge rules invoking it (asynchronously)

    @property
    def is_async(self) -> bool:
        """Invoked asynchronously as far as discovery can tell: it has an event invoke config or
        a DLQ, or an EventBridge rule targets it. (S3 or SNS triggers are not discovered.)"""
        return bool(self.async_config is not None or self.dead_letter_target or self.async_sources)


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    url: str
    arn: str
    fifo: bool
    visibility_timeout_s: int | None
    retention_s: int | None
    delay_s: int | None
    dlq_arn: str | None  # RedrivePolicy deadLetterTargetArn
    max_receive_count: int | None  # RedrivePolicy maxReceiveCount
    dead_letter_sources: tuple[str, ...]  # ARNs of queues redriving into this one (sorted)
    failure_senders: tuple[str, ...]  # ARNs of rules/functions sending failures here (sorted)
    attributes: Mapping[str, str]  # GetQueueAttributes All, depth counters left out
    tags: Mapping[str, str]

    @property
    def is_dlq(self) -> bool:
        """A dead-letter queue: some queue redrives into it (its own account's or another's)."""
        return bool(self.dead_letter_sources)

    @property
    def is_failure_queue(self) -> bool:
        """Receives failures of any kind: a DLQ, a rule target DLQ or a Lambda destination."""
        return bool(self.dead_letter_sources or self.failure_senders)


@dataclass(frozen=True, slots=True)
class RuleTarget:
    id: str
    arn: str
    dlq_arn: str | None
    maximum_retry_attempts: int | None  # None: EventBridge's default (185)
    maximum_event_age_s: int | None  # None: EventBridge's default (86,400)


@dataclass(frozen=True, slots=True)
class EventRule:
    name: str
    arn: str
    event_bus: str
    state: str | None
    schedule: str | None
    event_pattern: str | None
    targets: tuple[RuleTarget, ...]
    tags: Mapping[str, str]

    @property
    def qualified_name(self) -> str:
        """``rule`` on the default bus, ``bus/rule`` elsewhere (names repeat across buses)."""
        return self.name if self.event_bus == DEFAULT_EVENT_BUS else f"{self.event_bus}/{self.name}"


@dataclass(frozen=True, slots=True)
class StateMachine:
    name: str
    arn: str
    type: str | None  # STANDARD | EXPRESS
    status: str | None
    role_arn: str | None
    definition: Mapping[str, Any] | None  # parsed Amazon States Language; None if unparsable
    definition_error: str | None
    tracing_enabled: bool
    logging_level: str | None
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    arn: str
    billing_mode: str | None  # PAY_PER_REQUEST | PROVISIONED
    status: str | None
    key_schema: tuple[tuple[str, str], ...]  # (attribute, HASH | RANGE)
    is_breaker_table: bool
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything discovered in one account and region at ``collected_at`` (UTC)."""

    account: str
    region: str
    collected_at: datetime
    functions: tuple[LambdaFunction, ...] = ()
    queues: tuple[Queue, ...] = ()
    rules: tuple[EventRule, ...] = ()
    state_machines: tuple[StateMachine, ...] = ()
    tables: tuple[Table, ...] = ()
    vanished: tuple[str, ...] = ()  # resources deleted between List and Describe
    # requests made, by "service:Operation" ("sqs:ListQueues"); not part of equality
    api_calls: Mapping[str, int] = field(default_factory=dict, compare=False)
    # Each queue's GetQueueAttributes answer as read at ``collected_at``, depth counters
    # included, by queue URL: the ``queues`` source of the same cycle uses it instead of asking
    # again. Volatile, so neither stored nor compared; the cycle drops it before keeping the
    # inventory for later cycles.
    queue_attributes: Mapping[str, Mapping[str, str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def queue(self, name_or_arn: str) -> Queue | None:
        return next((q for q in self.queues if name_or_arn in (q.name, q.arn, q.url)), None)

    def function(self, name_or_arn: str) -> LambdaFunction | None:
        return next((f for f in self.functions if name_or_arn in (f.name, f.arn)), None)


KINDS: dict[str, str] = {  # inventory ``kind`` -> Inventory attribute
    "lambda": "functions",
    "sqs": "queues",
    "events-rule": "rules",
    "state-machine": "state_machines",
    "dynamodb-table": "tables",
}


# -- the shell: counted, paginated boto3 calls ------------------------------------------------


class _Shell:
    """Calls one account's clients, counting every request by operation."""

    def __init__(
        self,
        client: Callable[[str], Any],
        *,
        account: str,
        region: str,
        page_size: int | None,
    ) -> None:
        self._factory = client
        self._clients: dict[str, Any] = {}
        self.account = account
        self.region = region
        self.page_size = page_size
        self.calls: Counter[str] = Counter()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._factory(service)
        return self._clients[service]

    def _fail(self, exc: Exception, service: str, operation: str) -> SourceError:
        return classify(
            exc,
            service=service,
            operation=_operation_name(operation),
            account=self.account,
            region=self.region,
        )

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any] | None:
        """One request; None when the resource is gone (deleted since it was listed)."""
        self.calls[call_key(service, operation)] += 1
        try:
            response: dict[str, Any] = getattr(self.client(service), operation)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _GONE:
                return None
            raise self._fail(exc, service, operation) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, service, operation) from exc
        return response

    def pages(
        self, service: str, operation: str, *, sized: bool = True, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation (each page is one counted request). Pages stop
        early, without error, when the resource listed from is gone (e.g. a queue deleted
        before its ``ListDeadLetterSourceQueues``)."""
        paginator = self.client(service).get_paginator(operation)
        config = {"PageSize": self.page_size} if sized and self.page_size else {}
        name = call_key(service, operation)
        try:
            for page in paginator.paginate(PaginationConfig=config, **params):
                self.calls[name] += 1
                yield page
        except ClientError as exc:
            self.calls[name] += 1
            if exc.response.get("Error", {}).get("Code") in _GONE:
                return
            raise self._fail(exc, service, operation) from exc
        except BotoCoreError as exc:
            self.calls[name] += 1
            raise self._fail(exc, service, operation) from exc

    def items(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        return [item for page in self.pages(service, operation, **params) for item in page[key]]

    def token_pages(
        self, service: str, operation: str, key: str, **params: Any
    ) -> list[dict[str, Any]]:
        """Items of an operation boto3 has no paginator for, following NextToken by hand."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"NextToken": token} if token else {}
            if self.page_size:
                extra["Limit"] = self.page_size
            page = self.call(service, operation, **params, **extra) or {}
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items


def _operation_name(operation: str) -> str:
    """``list_state_machines`` -> ``ListStateMachines``."""
    return "".join(part.capitalize() for part in operation.split("_"))


def call_key(service: str, operation: str) -> str:
    """How calls are counted, as :class:`collectors.aws.ApiCallCounter` does:
    ``("stepfunctions", "list_state_machines")`` -> ``"stepfunctions:ListStateMachines"``."""
    return f"{service}:{_operation_name(operation)}"


# -- discovery ---------------------------------------------------------------------------------


def discover(
    client: Callable[[str], Any],
    *,
    account: str,
    region: str,
    filters: DiscoveryFilters | None = None,
    now: datetime,
    breaker_tables: Iterable[str] = (),
    page_size: int | None = None,
) -> Inventory:
    """Discover one account and region.

    ``client(service)`` returns a boto3 client for ``service`` in that account and region (the
    client factory of :mod:`collectors.aws`). ``now`` (aware UTC) is the inventory's
    ``collected_at``. ``breaker_tables`` names the configured breaker tables, marked on their
    :class:`Table`. ``page_size`` sets every paginator's page size (None: the service default).

    Raises :class:`~collectors.errors.SourceError` when any call fails (other than a resource
    vanishing mid-discovery, see :attr:`Inventory.vanished`).
    """
    filters = filters or DiscoveryFilters()
    shell = _Shell(client, account=account, region=region, page_size=page_size)
    vanished: list[str] = []
    functions = _functions(shell, filters, vanished)
    queue_attributes: dict[str, dict[str, str]] = {}
    queues = _queues(shell, filters, region, vanished, queue_attributes)
    rules = _rules(shell, filters, vanished)
    machines = _state_machines(shell, filters, vanished)
    tables = _tables(shell, filters, set(breaker_tables), vanished)
    functions, queues = _link(functions, queues, rules)
    return Inventory(
        account=account,
        region=region,
        collected_at=now,
        functions=functions,
        queues=queues,
        rules=rules,
        state_machines=machines,
        tables=tables,
        vanished=tuple(vanished),
        api_calls=dict(shell.calls),
        queue_attributes=queue_attributes,
    )


def _functions(
    shell: _Shell, filters: DiscoveryFilters, vanished: list[str]
) -> tuple[LambdaFunction, ...]:
    listed = [
        f
        for f in shell.items("lambda", "list_functions", "Functions")
        if filters.name_ok(f["FunctionName"])
    ]
    if not listed:
        return ()
    mappings: dict[str, list[EventSourceMapping]] = {}
    for raw in shell.items("lambda", "list_event_source_mappings", "EventSourceMappings"):
        mapping = _event_source_mapping(raw)
        mappings.setdefault(_unqualified(mapping.function_arn), []).append(mapping)
    functions = []
    for summary in sorted(listed, key=lambda f: f["FunctionName"]):
        name = summary["FunctionName"]
        # ListFunctions already carries the configuration. Tags and reserved concurrency come
        # from ListTags and GetFunctionConcurrency, not GetFunction: that permission also hands
        # out a download link to the function's code, which a read-only observer must not hold.
        config = summary
        arn = config["FunctionArn"]
        tagged = shell.call("lambda", "list_tags", Resource=arn)
        if tagged is None:
            vanished.append(arn)
            continue
        tags = dict(tagged.get("Tags") or {})
        if not filters.tags_ok(tags):
            continue
        detail = shell.call("lambda", "get_function_concurrency", FunctionName=name) or {}
        functions.append(
            LambdaFunction(
                name=name,
                arn=arn,
                runtime=config.get("Runtime"),
                timeout_s=int(config.get("Timeout", 3)),
                memory_mb=int(config.get("MemorySize", 128)),
                tracing_mode=(config.get("TracingConfig") or {}).get("Mode", "PassThrough"),
                reserved_concurrency=_int(detail.get("ReservedConcurrentExecutions")),
                dead_letter_target=(config.get("DeadLetterConfig") or {}).get("TargetArn"),
                async_config=_async_config(shell, name, arn),
                event_source_mappings=tuple(
                    sorted(mappings.get(arn, []), key=lambda m: (m.source_arn, m.uuid))
                ),
                tags=tags,
            )
        )
    return tuple(functions)


def _async_config(shell: _Shell, name: str, arn: str) -> AsyncInvokeConfig | None:
    """The unqualified function's event invoke config (aliases and versions have their own)."""
    configs = shell.items(
        "lambda",
        "list_function_event_invoke_configs",
        "FunctionEventInvokeConfigs",
        FunctionName=name,
    )
    chosen = next(
        (c for c in configs if c.get("FunctionArn") in (arn, f"{arn}:$LATEST")),
        configs[0] if configs else None,
    )
    if chosen is None:
        return None
    destinations = chosen.get("DestinationConfig") or {}
    return AsyncInvokeConfig(
        maximum_retry_attempts=_int(chosen.get("MaximumRetryAttempts")),
        maximum_event_age_s=_int(chosen.get("MaximumEventAgeInSeconds")),
        on_failure=(destinations.get("OnFailure") or {}).get("Destination") or None,
        on_success=(destinations.get("OnSuccess") or {}).get("Destination") or None,
    )


def _event_source_mapping(raw: Mapping[str, Any]) -> EventSourceMapping:
    destination = ((raw.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return EventSourceMapping(
        uuid=raw["UUID"],
        source_arn=raw.get("EventSourceArn", ""),
        function_arn=raw.get("FunctionArn", ""),
        state=raw.get("State"),
        batch_size=_int(raw.get("BatchSize")),
        maximum_batching_window_s=_int(raw.get("MaximumBatchingWindowInSeconds")),
        function_response_types=tuple(raw.get("FunctionResponseTypes") or ()),
        on_failure=destination or None,
    )


def _queues(
    shell: _Shell,
    filters: DiscoveryFilters,
    region: str,
    vanished: list[str],
    answers: dict[str, dict[str, str]] | None = None,
) -> tuple[Queue, ...]:
    """The queues that pass ``filters``; each GetQueueAttributes answer, whole, goes to
    ``answers`` by URL (the volatile depth counters are left out of :attr:`Queue.attributes`)."""
    # ListQueues filters by one prefix per request; several prefixes are listed one by one.
    prefixes: tuple[str | None, ...] = filters.name_prefixes or (None,)
    urls: dict[str, None] = {}
    for prefix in prefixes:
        params = {"QueueNamePrefix": prefix} if prefix else {}
        for url in shell.items("sqs", "list_queues", "QueueUrls", **params):
            urls[url] = None
    queues = []
    for url in urls:
        name = _queue_name(url)
        if not filters.name_ok(name):
            continue
        tagged = shell.call("sqs", "list_queue_tags", QueueUrl=url)
        if tagged is None:
            vanished.append(url)
            continue
        tags = dict(tagged.get("Tags") or {})
        if not filters.tags_ok(tags):
            continue
        answer = shell.call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["All"])
        if answer is None:
            vanished.append(url)
            continue
        if answers is not None:
            answers[url] = dict(answer.get("Attributes") or {})
        attributes = {
            k: v
            for k, v in (answer.get("Attributes") or {}).items()
            if k not in _VOLATILE_QUEUE_ATTRIBUTES
        }
        redrive = _json_object(attributes.get("RedrivePolicy"))
        arn = attributes.get("QueueArn") or _queue_arn(url, region, "aws")
        sources = shell.items("sqs", "list_dead_letter_source_queues", "queueUrls", QueueUrl=url)
        queues.append(
            Queue(
                name=name,
                url=url,
                arn=arn,
                fifo=attributes.get("FifoQueue", "false").lower() == "true",
                visibility_timeout_s=_int(attributes.get("VisibilityTimeout")),
                retention_s=_int(attributes.get("MessageRetentionPeriod")),
                delay_s=_int(attributes.get("DelaySeconds")),
                dlq_arn=redrive.get("deadLetterTargetArn"),
                max_receive_count=_int(redrive.get("maxReceiveCount")),
                dead_letter_sources=tuple(sources),  # URLs for now; ARNs after _link
                failure_senders=(),
                attributes=attributes,
                tags=tags,
            )
        )
    return tuple(sorted(queues, key=lambda q: q.name))


def _rules(shell: _Shell, filters: DiscoveryFilters, vanished: list[str]) -> tuple[EventRule, ...]:
    buses = [b["Name"] for b in shell.token_pages("events", "list_event_buses", "EventBuses")]
    rules = []
    for bus in buses or [DEFAULT_EVENT_BUS]:
        listed: dict[str, dict[str, Any]] = {}
        # ListRules filters by one prefix per request, like ListQueues.
        for prefix in filters.name_prefixes or (None,):
            params: dict[str, Any] = {"EventBusName": bus}
            if prefix:
                params["NamePrefix"] = prefix
            for raw in shell.items("events", "list_rules", "Rules", **params):
                listed[raw["Name"]] = raw
        for name, raw in sorted(listed.items()):
            if not filters.name_ok(name):
                continue
            tagged = shell.call("events", "list_tags_for_resource", ResourceARN=raw["Arn"])
            if tagged is None:
                vanished.append(raw["Arn"])
                continue
            tags = {t["Key"]: t["Value"] for t in tagged.get("Tags") or ()}
            if not filters.tags_ok(tags):
                continue
            targets = shell.items(
                "events", "list_targets_by_rule", "Targets", Rule=name, EventBusName=bus
            )
            rules.append(
                EventRule(
                    name=name,
                    arn=raw["Arn"],
                    event_bus=raw.get("EventBusName") or bus,
                    state=raw.get("State"),
                    schedule=raw.get("ScheduleExpression"),
                    event_pattern=raw.get("EventPattern"),
                    targets=tuple(_rule_target(t) for t in targets),
                    tags=tags,
                )
            )
    return tuple(rules)


def _rule_target(raw: Mapping[str, Any]) -> RuleTarget:
    policy = raw.get("RetryPolicy") or {}
    return RuleTarget(
        id=raw["Id"],
        arn=raw["Arn"],
        dlq_arn=(raw.get("DeadLetterConfig") or {}).get("Arn"),
        maximum_retry_attempts=_int(policy.get("MaximumRetryAttempts")),
        maximum_event_age_s=_int(policy.get("MaximumEventAgeInSeconds")),
    )


def _state_machines(
    shell: _Shell, filters: DiscoveryFilters, vanished: list[str]
) -> tuple[StateMachine, ...]:
    machines = []
    listed = shell.items("stepfunctions", "list_state_machines", "stateMachines")
    for summary in sorted(listed, key=lambda m: m["name"]):
        if not filters.name_ok(summary["name"]):
            continue
        arn = summary["stateMachineArn"]
        tagged = shell.call("stepfunctions", "list_tags_for_resource", resourceArn=arn)
        if tagged is None:
            vanished.append(arn)
            continue
        tags = {t["key"]: t["value"] for t in tagged.get("tags") or ()}
        if not filters.tags_ok(tags):
            continue
        detail = shell.call("stepfunctions", "describe_state_machine", stateMachineArn=arn)
        if detail is None:
            vanished.append(arn)
            continue
        definition: Mapping[str, Any] | None = None
        error: str | None = None
        try:
            parsed = json.loads(detail.get("definition") or "")
        except ValueError as exc:
            error = f"definition is not JSON: {exc}"
        else:
            if isinstance(parsed, dict):
                definition = parsed
            else:
                error = f"definition is a JSON {type(parsed).__name__}, not an object"
        machines.append(
            StateMachine(
                name=summary["name"],
                arn=arn,
                type=detail.get("type") or summary.get("type"),
                status=detail.get("status"),
                role_arn=detail.get("roleArn"),
                definition=definition,
                definition_error=error,
                tracing_enabled=bool((detail.get("tracingConfiguration") or {}).get("enabled")),
                logging_level=(detail.get("loggingConfiguration") or {}).get("level"),
                tags=tags,
            )
        )
    return tuple(machines)


def _tables(
    shell: _Shell, filters: DiscoveryFilters, breaker_tables: set[str], vanished: list[str]
) -> tuple[Table, ...]:
    tables = []
    for name in sorted(shell.items("dynamodb", "list_tables", "TableNames")):
        if not filters.name_ok(name):
            continue
        described = shell.call("dynamodb", "describe_table", TableName=name)
        if described is None:
            vanished.append(name)
            continue
        table = described["Table"]
        arn = table["TableArn"]
        tags = {
            t["Key"]: t["Value"]
            for t in shell.items(
                "dynamodb", "list_tags_of_resource", "Tags", sized=False, ResourceArn=arn
            )
        }
        if not filters.tags_ok(tags):
            continue
        tables.append(
            Table(
                name=name,
                arn=arn,
                billing_mode=(table.get("BillingModeSummary") or {}).get("BillingMode")
                or ("PROVISIONED" if table.get("ProvisionedThroughput") else None),
                status=table.get("TableStatus"),
                key_schema=tuple((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]),
                is_breaker_table=name in breaker_tables,
                tags=tags,
            )
        )
    return tuple(tables)


def _link(
    functions: tuple[LambdaFunction, ...],
    queues: tuple[Queue, ...],
    rules: tuple[EventRule, ...],
) -> tuple[tuple[LambdaFunction, ...], tuple[Queue, ...]]:
    """Connect what points at what: DLQ <-> sources both ways, failure senders, async callers.

    ``ListDeadLetterSourceQueues`` also reports sources in other accounts and sources the
    filters left out; ``RedrivePolicy`` covers a DLQ whose listing is eventually consistent.
    """
    arn_by_url = {q.url: q.arn for q in queues}
    sources: dict[str, set[str]] = {q.arn: set() for q in queues}
    for queue in queues:
        for url in queue.dead_letter_sources:
            sources[queue.arn].add(
                arn_by_url.get(url) or _queue_arn(url, *_region_partition(queue.arn))
            )
        if queue.dlq_arn in sources:
            sources[queue.dlq_arn].add(queue.arn)
    senders: dict[str, set[str]] = {q.arn: set() for q in queues}
    for rule in rules:
        for target in rule.targets:
            if target.dlq_arn in senders:
                senders[target.dlq_arn].add(rule.arn)
    for function in functions:
        config = function.async_config
        for destination in (
            function.dead_letter_target,
            config.on_failure if config else None,
            *(m.on_failure for m in function.event_source_mappings),
        ):
            if destination in senders:
                senders[destination].add(function.arn)
    linked_queues = tuple(
        dataclasses.replace(
            q,
            dead_letter_sources=tuple(sorted(sources[q.arn])),
            failure_senders=tuple(sorted(senders[q.arn])),
        )
        for q in queues
    )
    callers: dict[str, set[str]] = {}
    for rule in rules:
        for target in rule.targets:
            callers.setdefault(_unqualified(target.arn), set()).add(rule.arn)
    linked_functions = tuple(
        dataclasses.replace(f, async_sources=tuple(sorted(callers.get(f.arn, ()))))
        for f in functions
    )
    return linked_functions, linked_queues


# -- helpers -----------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _unqualified(function_arn: str) -> str:
    """A function ARN without its version or alias qualifier."""
    parts = function_arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 and parts[5] == "function" else function_arn


def _queue_name(url: str) -> str:
    return urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]


def _queue_arn(url: str, region: str, partition: str) -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<name>`` -> the queue's ARN."""
    path = urlparse(url).path.strip("/").split("/")
    account, name = (path[-2], path[-1]) if len(path) >= 2 else ("", path[-1])
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def _region_partition(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[3], parts[1]


# -- the inventory table -------------------------------------------------------------------------


def _config(record: Any) -> str:
    data = dataclasses.asdict(record)
    data.pop("name", None)
    data.pop("arn", None)
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


def inventory_frame(inventory: Inventory) -> pd.DataFrame:
    """Rows of :data:`~collectors.schema.INVENTORY`: one per resource, its config as JSON.

    ``kind`` is ``lambda``, ``sqs``, ``events-rule`` (name ``bus/rule`` off the default bus),
    ``state-machine``, ``dynamodb-table`` or ``breaker-table``.
    """
    records: list[tuple[str, str, Any]] = [
        *(("lambda", f.name, f) for f in inventory.functions),
        *(("sqs", q.name, q) for q in inventory.queues),
        *(("events-rule", r.qualified_name, r) for r in inventory.rules),
        *(("state-machine", m.name, m) for m in inventory.state_machines),
        *(
            ("breaker-table" if t.is_breaker_table else "dynamodb-table", t.name, t)
            for t in inventory.tables
        ),
    ]
    collected = as_utc(inventory.collected_at, "collected_at")
    return to_frame(
        INVENTORY,
        (
            {
                "account": inventory.account,
                "region": inventory.region,
                "kind": kind,
                "name": name,
                "collected_at": collected,
                "arn": record.arn,
                "config": _config(record),
            }
            for kind, name, record in records
        ),
    )
