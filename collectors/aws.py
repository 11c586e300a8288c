"""The one boto3 client factory, API-call counting, step backoff and error classification.

Every collector receives its clients from a :class:`ClientFactory` (one per account and region):

- credentials come from botocore: a profile (SSO profiles included) or the default chain, and,
  with ``role_arn``, a role assumed from those through STS (with the external id when given),
  refreshed before it expires;
- the endpoint is botocore's own resolution, so ``AWS_ENDPOINT_URL`` (and
  ``AWS_ENDPOINT_URL_<SERVICE>``) reach the sandbox with no special case here;
- every client shares one botocore ``Config``: retries in ``adaptive`` (or ``standard``) mode,
  connect/read timeouts, a connection pool sized for the collection workers, and a
  ``stormwatch/<version>`` user-agent suffix.

:class:`ApiCallCounter` counts logical API calls (``before-call``) and HTTP attempts, retries
included (``before-send``), per ``"service:Operation"`` (botocore's service name, e.g.
``"cloudwatch:GetMetricData"``, ``"stepfunctions:ListStateMachines"``).

:func:`with_backoff` retries a whole step (e.g. a full paginated read) with capped exponential
backoff and full jitter, for failures that outlast botocore's own retries; :func:`classify`
turns any exception into a :class:`~collectors.errors.SourceError` of a known ``kind``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import random
import threading
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

import botocore.session
from botocore.config import Config as BotocoreConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from collectors.config import AccountConfig, AwsOptions
from collectors.errors import SourceError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from botocore.client import BaseClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient
    from mypy_boto3_xray import XRayClient

T = TypeVar("T")

# Operations the factory itself makes to obtain credentials; they are granted to the *source*
# identity (the role's trust policy and the caller's sts:AssumeRole), not by the read-only policy.
CREDENTIAL_OPERATIONS: Final = frozenset({"sts:AssumeRole"})

# botocore service name → IAM action prefix, where they differ.
IAM_PREFIX: Final = {"stepfunctions": "states", "resourcegroupstaggingapi": "tag"}
BOTOCORE_SERVICE: Final = {prefix: service for service, prefix in IAM_PREFIX.items()}

# IAM actions that authorise operations of other names (most share the operation's name).
ACTION_OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "s3:ListBucket": ("ListObjectsV2", "ListObjects", "HeadBucket"),
    "s3:GetObject": ("GetObject", "HeadObject"),
    "s3:PutObject": (
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "CopyObject",
    ),
}

IAM_DIR: Final = Path(__file__).resolve().parents[1] / "iam"
READ_ONLY_POLICY: Final = IAM_DIR / "stormwatch-read-only.json"
ALARMS_WRITER_POLICY: Final = IAM_DIR / "stormwatch-alarms-writer.json"


def _version() -> str:
    try:
        return importlib.metadata.version("stormwatch")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


VERSION: Final = _version()
USER_AGENT_SUFFIX: Final = f"stormwatch/{VERSION}"


def iam_actions(policy: Path = READ_ONLY_POLICY) -> frozenset[str]:
    """The IAM actions a shipped policy allows, as written (``"states:DescribeStateMachine"``)."""
    document = json.loads(policy.read_text(encoding="utf-8"))
    actions: set[str] = set()
    for statement in document["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        listed = statement.get("Action", [])
        actions.update([listed] if isinstance(listed, str) else listed)
    return frozenset(actions)


def policy_actions(policy: Path = READ_ONLY_POLICY) -> frozenset[str]:
    """The policy's actions as ``"service:Operation"`` with botocore's service names, the keys
    :class:`ApiCallCounter` counts by (``"stepfunctions:DescribeStateMachine"``), so the calls a
    collection made can be checked against what the policy grants."""
    out: set[str] = set()
    for action in iam_actions(policy):
        prefix, name = action.split(":", 1)
        service = BOTOCORE_SERVICE.get(prefix, prefix)
        out.update(f"{service}:{op}" for op in ACTION_OPERATIONS.get(action, (name,)))
    return frozenset(out)


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from what AWS sends: epoch seconds (JSON, CBOR) or ISO 8601."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return botocore_parse_timestamp(text).astimezone(UTC)  # RFC 822 and other forms
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def default_session_factory(account: AccountConfig) -> botocore.session.Session:
    """A new botocore session for ``account``'s profile (``None``: the default chain)."""
    return botocore.session.Session(profile=account.profile)


def botocore_config(
    options: AwsOptions, *, region: str, user_agent_suffix: str = USER_AGENT_SUFFIX
) -> BotocoreConfig:
    """The botocore ``Config`` every stormwatch client uses.

    ``total_max_attempts`` counts the first try (botocore's ``max_attempts`` would not). The pool
    holds at least one connection per collection worker, so a client shared by all workers
    never makes one wait for a connection (botocore's default is 10).
    """
    return BotocoreConfig(
        region_name=region,
        retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_pool_connections=max(10, options.concurrency),
        user_agent_extra=user_agent_suffix,
        tcp_keepalive=True,
    )


class _AssumeRoleProvider(CredentialProvider):  # type: ignore[misc]
    """Credentials for ``role_arn``, assumed from the source session's credentials on first
    use and re-assumed by botocore shortly before they expire."""

    METHOD = "stormwatch-assume-role"
    CANONICAL_NAME = "stormwatch-assume-role"

    def __init__(self, fetcher: AssumeRoleCredentialFetcher) -> None:
        super().__init__()
        self._fetcher = fetcher

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(
            refresh_using=self._fetcher.fetch_credentials, method=self.METHOD
        )


class ClientFactory:
    """boto3-compatible (botocore) clients for one account and region, cached per service.

    Parameters
    ----------
    account
        Whose credentials: ``profile`` and/or ``role_arn`` (+ ``external_id``).
    region
        The region every client talks to.
    options
        Retry mode and attempts, timeouts, worker count (sizes the connection pool).
    session_factory
        Makes a new botocore session for the account (injected in tests). With ``role_arn``
        it is called twice: the source session, and the one that holds the assumed role.
    user_agent_suffix
        Appended to every request's User-Agent.
    endpoint_url
        An explicit endpoint for every service; ``None`` leaves it to botocore, which reads
        ``AWS_ENDPOINT_URL``.
    counter
        An :class:`ApiCallCounter` attached to every client made here, including the STS
        client that assumes the role.

    Examples
    --------
    >>> factory = ClientFactory(AccountConfig("prod", role_arn=ROLE), "eu-west-1")
    >>> factory.client("cloudwatch").list_metrics(Namespace="AWS/Lambda")  # doctest: +SKIP
    """

    def __init__(
        self,
        account: AccountConfig,
        region: str,
        *,
        options: AwsOptions | None = None,
        session_factory: Callable[[AccountConfig], botocore.session.Session] = (
            default_session_factory
        ),
        user_agent_suffix: str = USER_AGENT_SUFFIX,
        endpoint_url: str | None = None,
        counter: ApiCallCounter | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.options = options or AwsOptions()
        self.counter = counter
        self.endpoint_url = endpoint_url
        self.botocore_config = botocore_config(
            self.options, region=region, user_agent_suffix=user_agent_suffix
        )
        self._session_factory = session_factory
        self._session: botocore.session.Session | None = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()  # botocore sessions are not thread-safe; clients are
        self._account_id: str | None = account.account_id

    # -- clients ------------------------------------------------------------------------------

    @overload
    def client(self, service: Literal["cloudwatch"]) -> CloudWatchClient: ...
    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["events"]) -> EventBridgeClient: ...
    @overload
    def client(self, service: Literal["lambda"]) -> LambdaClient: ...
    @overload
    def client(
        self, service: Literal["resourcegroupstaggingapi"]
    ) -> ResourceGroupsTaggingAPIClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: Literal["stepfunctions"]) -> SFNClient: ...
    @overload
    def client(self, service: Literal["sts"]) -> STSClient: ...
    @overload
    def client(self, service: Literal["xray"]) -> XRayClient: ...
    @overload
    def client(self, service: str) -> BaseClient: ...
    def client(self, service: str) -> Any:
        """The client for ``service`` (botocore's name: ``"stepfunctions"``, not ``"states"``)."""
        with self._lock:
            cached = self._clients.get(service)
            if cached is None:
                cached = self._session_or_new().create_client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=self.botocore_config,
                )
                if self.counter is not None:
                    self.counter.attach(cached)
                self._clients[service] = cached
            return cached

    def _session_or_new(self) -> botocore.session.Session:
        if self._session is None:
            self._session = self._new_session()
            # botocore's default parser builds a tzlocal datetime per timestamp through
            # dateutil: a day of GetMetricData took 8.5 s to parse where this takes 1.5 s.
            self._session.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=parse_timestamp
            )
        return self._session

    def _new_session(self) -> botocore.session.Session:
        session = self._session_factory(self.account)
        if self.account.role_arn is None:
            return session
        # The session's own credentials (profile, SSO, environment, instance role...) are the
        # source; a second session holds the assumed role, refreshed by botocore before expiry.
        source_credentials = session.get_credentials()
        if source_credentials is None:
            raise NoCredentialsError()
        extra_args: dict[str, Any] = {"RoleSessionName": self.account.role_session_name}
        if self.account.external_id is not None:
            extra_args["ExternalId"] = self.account.external_id
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=partial(self._sts_for_role, session),
            source_credentials=source_credentials,
            role_arn=self.account.role_arn,
            extra_args=extra_args,
        )
        target = self._session_factory(self.account)
        target.register_component(
            "credential_provider", CredentialResolver([_AssumeRoleProvider(fetcher)])
        )
        # A session given explicit credentials ignores its resolver: the role would silently
        # not be assumed. (Loading here is free: the role is assumed on first use.)
        method = getattr(target.get_credentials(), "method", None)
        if method != _AssumeRoleProvider.METHOD:
            raise ValueError(
                f"session_factory returned a session with its own credentials ({method}); "
                f"it must resolve credentials itself for role {self.account.role_arn} to be assumed"
            )
        return target

    def _sts_for_role(self, source: botocore.session.Session, service: str, **kwargs: Any) -> Any:
        with self._lock:
            client = source.create_client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=self.botocore_config,
                **kwargs,
            )
        if self.counter is not None:
            self.counter.attach(client)
        return client

    # -- identity and errors ------------------------------------------------------------------

    def account_id(self) -> str:
        """The 12-digit account id: configured, from the role ARN, or sts:GetCallerIdentity."""
        if self._account_id is None:
            identity = self.client("sts").get_caller_identity()
            self._account_id = str(identity["Account"])
        return self._account_id

    @property
    def label(self) -> str:
        """How messages name this account: ``prod (111111111111)``, or just the name."""
        known = self._account_id
        return f"{self.account.name} ({known})" if known else self.account.name

    def classify(
        self, exc: BaseException, *, service: str | None = None, operation: str | None = None
    ) -> SourceError:
        """:func:`classify` with this factory's account and region."""
        return classify(
            exc, service=service, operation=operation, account=self.label, region=self.region
        )

    def backoff(self, step: Callable[[], T], **kwargs: Any) -> T:
        """:func:`with_backoff` with this factory's ``backoff_*`` options."""
        kwargs.setdefault("attempts", self.options.backoff_attempts)
        kwargs.setdefault("base", self.options.backoff_base)
        kwargs.setdefault("cap", self.options.backoff_cap)
        return with_backoff(step, **kwargs)


# --------------------------------------------------------------------------------------------
# Counting API calls with botocore's event hooks


@dataclass(frozen=True, slots=True)
class CallCounts:
    """Logical API calls and HTTP attempts (retries included), per ``"service:Operation"``."""

    calls: dict[str, int]
    attempts: dict[str, int]

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())


class _Tally:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()

    def counts(self) -> CallCounts:
        return CallCounts(dict(self.calls), dict(self.attempts))


class ApiCallCounter:
    """Counts every API call and HTTP attempt of the clients it is attached to; thread-safe.

    ``before-call`` fires once per logical call (one page of a paginator is one call);
    ``before-send`` fires once per HTTP attempt, so ``attempts - calls`` is botocore's retries.
    :meth:`tally` counts, in addition, only the calls made by the current thread inside a
    ``with`` block: sources sharing a client each get their own exact numbers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = _Tally()
        self._local = threading.local()

    def attach(self, client: T) -> T:
        """Register on ``client``'s events (idempotent per counter) and return the client."""
        meta = client.meta  # type: ignore[attr-defined]
        service = meta.service_model.service_name
        events = meta.events
        events.register(
            "before-call.*.*",
            partial(self._on_call, service),
            unique_id=f"stormwatch-counter-call-{id(self)}",
        )
        events.register(
            "before-send.*.*",
            partial(self._on_send, service),
            unique_id=f"stormwatch-counter-send-{id(self)}",
        )
        return client

    def _on_call(self, service: str, *, model: Any = None, **_: Any) -> None:
        self._count("calls", f"{service}:{model.name}")

    def _on_send(self, service: str, *, event_name: str, **_: Any) -> None:
        self._count("attempts", f"{service}:{event_name.rsplit('.', 1)[-1]}")

    def _count(self, which: str, key: str) -> None:
        with self._lock:
            getattr(self._total, which)[key] += 1
            for tally in getattr(self._local, "stack", ()):
                getattr(tally, which)[key] += 1

    def counts(self) -> CallCounts:
        """A snapshot of everything counted so far."""
        with self._lock:
            return self._total.counts()

    def reset(self) -> None:
        with self._lock:
            self._total = _Tally()

    @contextlib.contextmanager
    def tally(self) -> Iterator[Callable[[], CallCounts]]:
        """Count this thread's calls inside the block.

        ``with counter.tally() as counts: ...`` then ``counts()`` is a :class:`CallCounts`.
        """
        mine = _Tally()
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(mine)

        def snapshot() -> CallCounts:
            with self._lock:
                return mine.counts()

        try:
            yield snapshot
        finally:
            stack.remove(mine)


# --------------------------------------------------------------------------------------------
# Backoff around whole steps


def full_jitter(attempt: int, *, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): uniform in [0, min(cap, base·2^n)).

    "Full jitter" from AWS's Architecture Blog, *Exponential Backoff And Jitter*: it spreads
    the retries of many clients, so they do not come back in lockstep as a retry storm.
    """
    return rng() * min(cap, base * 2.0**attempt)


def with_backoff(
    step: Callable[[], T],
    *,
    attempts: int,
    base: float,
    cap: float,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    retryable: Callable[[BaseException], bool] | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Run ``step`` up to ``attempts`` times, sleeping a fully jittered, capped delay between.

    Only retryable failures are retried (:func:`is_retryable`: throttling, timeouts, connection
    errors, 5xx); anything else, or the last failure, propagates unchanged. ``on_retry(n, exc,
    delay)`` is called before the n-th retry (1-based). ``sleep`` and ``rng`` are injectable so
    the schedule is testable without waiting.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    check = retryable or is_retryable
    for attempt in range(attempts):
        try:
            return step()
        except Exception as exc:
            if attempt + 1 >= attempts or not check(exc):
                raise
            delay = full_jitter(attempt, base=base, cap=cap, rng=rng)
            if on_retry is not None:
                on_retry(attempt + 1, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Classifying failures

# Throttling codes botocore's retry handlers know, and a few more services use.
THROTTLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)
ACCESS_DENIED_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AuthorizationErrorException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "OptInRequired",
        "KMSAccessDeniedException",
    }
)
TIMEOUT_CODES: Final = frozenset({"RequestTimeout", "RequestTimeoutException"})
_RETRYABLE_KINDS: Final = frozenset({"throttled", "timeout", "connection"})

_FIX: Final = {
    "access-denied": (
        "grant {action} to the identity stormwatch uses (iam/stormwatch-read-only.json), or "
        "check its credentials"
    ),
    "throttled": (
        "throttled beyond botocore's and stormwatch's retries; lengthen [intervals], lower "
        "[aws] concurrency, or ask AWS for a higher quota"
    ),
    "timeout": "raise [aws] read_timeout / connect_timeout, or check the network path to AWS",
    "connection": "check the network, proxy and AWS_ENDPOINT_URL",
    "invalid": "the request was rejected as invalid; check the configuration and the resource",
    "other": "see the AWS error above; it may be transient",
}


def classify(
    exc: BaseException,
    *,
    service: str | None = None,
    operation: str | None = None,
    account: str | None = None,
    region: str | None = None,
) -> SourceError:
    """The :class:`SourceError` for any exception from a collection step.

    ``kind`` is ``access-denied`` (403s, denied or bad credentials, no credentials),
    ``throttled``, ``timeout``, ``connection``, ``invalid`` (other 4xx, parameter validation,
    missing region or profile) or ``other`` (5xx and the rest). The message names the
    operation, account and region, what AWS said, and what to do. A ``SourceError`` is returned
    as it is.
    """
    if isinstance(exc, SourceError):
        return exc
    kind, detail = _kind_and_detail(exc)
    operation = operation or getattr(exc, "operation_name", None)
    where = operation or "AWS call"
    if account:
        where += f" in account {account}"
    if region:
        where += f", {region}" if account else f" in {region}"
    prefix = IAM_PREFIX.get(service or "", service)
    action = f"{prefix}:{operation}" if service and operation else operation
    fix = _FIX[kind].format(action=action or "the action")
    label = kind.replace("-", " ")
    return SourceError(f"{where}: {label}: {detail}; {fix}", kind=kind)


def _kind_and_detail(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).strip()
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = f"{code} (HTTP {status}): {message}" if status else f"{code}: {message}"
        detail = detail.rstrip(": ")
        if code in THROTTLE_CODES or status == 429:
            return "throttled", detail
        if code in ACCESS_DENIED_CODES or status == 403:
            return "access-denied", detail
        if code in TIMEOUT_CODES or status == 408:
            return "timeout", detail
        if isinstance(status, int) and 400 <= status < 500:
            return "invalid", detail
        return "other", detail
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        return "timeout", detail
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | HTTPClientError):
        return "connection", detail
    if isinstance(exc, ConnectionError):
        return "connection", detail
    if isinstance(
        exc,
        NoCredentialsError
        | PartialCredentialsError
        | CredentialRetrievalError
        | SSOTokenLoadError
        | UnauthorizedSSOTokenError
        | TokenRetrievalError,
    ):
        return "access-denied", f"{detail} (for SSO profiles run `aws sso login`)"
    if isinstance(exc, ParamValidationError | NoRegionError | ProfileNotFound):
        return "invalid", detail
    return "other", f"{type(exc).__name__}: {detail}"


def is_retryable(exc: BaseException) -> bool:
    """Whether a whole step is worth retrying: throttling, timeouts, connection errors, 5xx.

    Never access denial or invalid requests: retrying those only delays the report.
    """
    if isinstance(exc, SourceError):
        cause = exc.__cause__
        return is_retryable(cause) if cause is not None else exc.kind in _RETRYABLE_KINDS
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 500:
            return True
    return _kind_and_detail(exc)[0] in _RETRYABLE_KINDS
