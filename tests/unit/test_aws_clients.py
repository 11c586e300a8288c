"""collectors.aws without a network: botocore answers from a fake transport on ``before-send``.

A ``before-send`` handler that returns a response short-circuits botocore's HTTP layer while
everything above it (signing, retries, parsing, events) runs for real, so the factory's config,
role assumption, user agent and the call counter are tested exactly as they behave over HTTP.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import botocore.endpoint
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOTokenLoadError,
)
from hypothesis import given
from hypothesis import strategies as st

from collectors.aws import (
    USER_AGENT_SUFFIX,
    ApiCallCounter,
    ClientFactory,
    botocore_config,
    classify,
    default_session_factory,
    full_jitter,
    is_retryable,
    with_backoff,
)
from collectors.config import AccountConfig, AwsOptions
from collectors.errors import SourceError

pytestmark = pytest.mark.unit

ROLE = "arn:aws:iam::222222222222:role/stormwatch-read-only"


# -- a fake transport ------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _response(status: int, body: bytes, content_type: str) -> AWSResponse:
    return AWSResponse("https://fake", status, {"Content-Type": content_type}, _Raw(body))


def _json(status: int, payload: dict[str, Any]) -> AWSResponse:
    return _response(status, json.dumps(payload).encode(), "application/x-amz-json-1.0")


def _assume_role_xml(key: str, expires: datetime) -> AWSResponse:
    body = (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>"
        f"<SessionToken>token</SessionToken><Expiration>{expires:%Y-%m-%dT%H:%M:%SZ}</Expiration>"
        "</Credentials><AssumedRoleUser><Arn>arn:aws:sts::222222222222:assumed-role/r/s</Arn>"
        "<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"
    )
    return _response(200, body.encode(), "text/xml")


class FakeAws:
    """Answers requests by ``"service:Operation"``; records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.answers: dict[str, list[AWSResponse]] = {}
        self.role_expires = datetime.now(UTC) + timedelta(hours=1)
        self._lock = threading.Lock()

    def queue(self, operation: str, *responses: AWSResponse) -> None:
        self.answers.setdefault(operation, []).extend(responses)

    def __call__(self, *, request: Any, event_name: str, **_: Any) -> AWSResponse:
        _, service, operation = event_name.split(".")
        key = f"{service}:{operation}"
        with self._lock:
            self.sent.append((key, request))
            queued = self.answers.get(key)
            if queued:
                return queued.pop(0)
        if key == "sts:AssumeRole":
            return _assume_role_xml(f"ASIAASSUMED{len(self.sent)}", self.role_expires)
        return _json(200, {})

    def session_factory(self, account: AccountConfig) -> botocore.session.Session:
        session = botocore.session.Session()  # credentials: AKIASOURCE, from the environment
        session.register("before-send", self, unique_id="fake-aws")
        return session

    def bodies(self, key: str) -> list[dict[str, list[str]]]:
        return [parse_qs(_text(r.body)) for k, r in self.sent if k == key]

    def access_keys(self, key: str) -> list[str]:
        out = []
        for k, request in self.sent:
            if k == key:
                auth = _text(request.headers["Authorization"])
                out.append(auth.split("Credential=")[1].split("/")[0])
        return out


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASOURCE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "source-secret")
    return FakeAws()


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry delays, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", slept.append)
    return slept


def _factory(fake: FakeAws, account: AccountConfig | None = None, **kwargs: Any) -> ClientFactory:
    return ClientFactory(
        account or AccountConfig("prod"),
        "eu-west-1",
        session_factory=fake.session_factory,
        **kwargs,
    )


def _throttled() -> AWSResponse:
    return _json(400, {"__type": "RequestThrottled", "message": "Rate exceeded"})


# -- configuration of every client ----------------------------------------------------------


def test_clients_share_the_default_botocore_config(fake: FakeAws) -> None:
    factory = _factory(fake, options=AwsOptions(concurrency=32, read_timeout=12.5))
    config = factory.client("sqs").meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert (config.connect_timeout, config.read_timeout) == (5.0, 12.5)
    assert config.max_pool_connections == 32
    assert config.user_agent_extra == USER_AGENT_SUFFIX
    assert factory.client("sqs").meta.region_name == "eu-west-1"


def test_retry_mode_is_configurable_and_the_pool_never_shrinks_below_botocore_default() -> None:
    config = botocore_config(AwsOptions(retry_mode="standard", concurrency=2), region="us-east-1")
    assert config.retries["mode"] == "standard"
    assert config.max_pool_connections == 10


def test_user_agent_suffix_is_sent(fake: FakeAws) -> None:
    _factory(fake, user_agent_suffix="stormwatch/9.9").client("sqs").list_queues()
    (_, request), *_ = fake.sent
    assert "stormwatch/9.9" in _text(request.headers["User-Agent"])
    assert USER_AGENT_SUFFIX.startswith("stormwatch/")


def test_a_client_is_made_once_per_service_even_across_threads(fake: FakeAws) -> None:
    factory = _factory(fake)
    seen: list[Any] = []
    threads = [
        threading.Thread(target=lambda: seen.append(factory.client("sqs"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 1
    assert factory.client("xray") is not factory.client("sqs")


def test_endpoint_comes_from_botocore_which_reads_AWS_ENDPOINT_URL(
    fake: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert _factory(fake).client("sqs").meta.endpoint_url == "http://127.0.0.1:4566"
    explicit = _factory(fake, endpoint_url="http://127.0.0.1:9999").client("sqs")
    assert explicit.meta.endpoint_url == "http://127.0.0.1:9999"


def test_profile_goes_to_botocore() -> None:
    session = default_session_factory(AccountConfig("prod", profile="prod-sso"))
    assert session.profile == "prod-sso"
    assert default_session_factory(AccountConfig("default")).profile is None


def test_profile_account_uses_its_session_credentials(fake: FakeAws) -> None:
    _factory(fake).client("sqs").list_queues()
    assert fake.access_keys("sqs:ListQueues") == ["AKIASOURCE"]
    assert fake.bodies("sts:AssumeRole") == []


# -- role assumption ----------------------------------------------------------------------


def test_role_is_assumed_from_the_source_credentials_with_external_id(fake: FakeAws) -> None:
    account = AccountConfig(
        "staging", role_arn=ROLE, external_id="ext-123", role_session_name="stormwatch-ci"
    )
    factory = _factory(fake, account)
    factory.client("sqs").list_queues()
    factory.client("xray")  # a second client shares the assumed role
    factory.client("sqs").list_queues()
    (body,) = fake.bodies("sts:AssumeRole")
    assert body["RoleArn"] == [ROLE]
    assert body["ExternalId"] == ["ext-123"]
    assert body["RoleSessionName"] == ["stormwatch-ci"]
    assert fake.access_keys("sts:AssumeRole") == ["AKIASOURCE"]
    assert {k.startswith("ASIAASSUMED") for k in fake.access_keys("sqs:ListQueues")} == {True}


def test_role_without_external_id_sends_none(fake: FakeAws) -> None:
    _factory(fake, AccountConfig("staging", role_arn=ROLE)).client("sqs").list_queues()
    (body,) = fake.bodies("sts:AssumeRole")
    assert "ExternalId" not in body
    assert body["RoleSessionName"] == ["stormwatch"]


def test_role_is_assumed_again_before_the_credentials_expire(fake: FakeAws) -> None:
    fake.role_expires = datetime.now(UTC) + timedelta(minutes=5)  # inside botocore's window
    client = _factory(fake, AccountConfig("staging", role_arn=ROLE)).client("sqs")
    client.list_queues()
    client.list_queues()
    assert len(fake.bodies("sts:AssumeRole")) == 2
    first, second = fake.access_keys("sqs:ListQueues")
    assert first != second


def test_role_credentials_are_reused_while_fresh(fake: FakeAws) -> None:
    client = _factory(fake, AccountConfig("staging", role_arn=ROLE)).client("sqs")
    for _ in range(3):
        client.list_queues()
    assert len(fake.bodies("sts:AssumeRole")) == 1


def test_a_session_with_explicit_credentials_cannot_silently_skip_the_role() -> None:
    def explicit(_account: AccountConfig) -> botocore.session.Session:
        session = botocore.session.Session()
        session.set_credentials("AKIAEXPLICIT", "secret")
        return session

    factory = ClientFactory(
        AccountConfig("staging", role_arn=ROLE), "eu-west-1", session_factory=explicit
    )
    with pytest.raises(ValueError, match="must resolve credentials itself"):
        factory.client("sqs")


def test_role_without_source_credentials_is_an_access_problem() -> None:
    class NoCredentials(botocore.session.Session):
        def get_credentials(self) -> None:
            return None

    factory = ClientFactory(
        AccountConfig("staging", role_arn=ROLE),
        "eu-west-1",
        session_factory=lambda _account: NoCredentials(),
    )
    with pytest.raises(NoCredentialsError) as caught:
        factory.client("sqs")
    assert factory.classify(caught.value).kind == "access-denied"


def test_account_id_is_configured_or_asked_once(fake: FakeAws) -> None:
    known = _factory(fake, AccountConfig("prod", account_id="111111111111"))
    assert known.account_id() == "111111111111"
    fake.queue(
        "sts:GetCallerIdentity",
        _response(
            200,
            b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            b"<GetCallerIdentityResult><Account>333333333333</Account><Arn>arn:aws:iam::"
            b"333333333333:user/u</Arn><UserId>AIDA</UserId></GetCallerIdentityResult>"
            b"</GetCallerIdentityResponse>",
            "text/xml",
        ),
    )
    asked = _factory(fake)
    assert asked.account_id() == asked.account_id() == "333333333333"
    assert [k for k, _ in fake.sent] == ["sts:GetCallerIdentity"]
    assert asked.label == "prod (333333333333)"


# -- counting calls ---------------------------------------------------------------------------


def test_counter_counts_calls_and_attempts_with_retries(
    fake: FakeAws, no_sleep: list[float]
) -> None:
    counter = ApiCallCounter()
    options = AwsOptions(retry_mode="standard", max_attempts=4)
    client = _factory(fake, options=options, counter=counter).client("sqs")
    fake.queue("sqs:ListQueues", _throttled(), _throttled())
    client.list_queues()
    client.get_queue_url(QueueName="orders")
    counts = counter.counts()
    assert counts.calls == {"sqs:ListQueues": 1, "sqs:GetQueueUrl": 1}
    assert counts.attempts == {"sqs:ListQueues": 3, "sqs:GetQueueUrl": 1}
    assert (counts.total_calls, counts.total_attempts) == (2, 4)
    assert len(no_sleep) == 2


def test_each_page_is_one_call(fake: FakeAws) -> None:
    counter = ApiCallCounter()
    client = _factory(fake, counter=counter).client("sqs")
    fake.queue(
        "sqs:ListQueues",
        _json(200, {"QueueUrls": ["https://q/1"], "NextToken": "t1"}),
        _json(200, {"QueueUrls": ["https://q/2"], "NextToken": "t2"}),
        _json(200, {"QueueUrls": ["https://q/3"]}),
    )
    urls = [u for page in client.get_paginator("list_queues").paginate() for u in page["QueueUrls"]]
    assert len(urls) == 3
    assert counter.counts().calls == {"sqs:ListQueues": 3}


def test_counter_counts_the_role_assumption_under_its_own_key(fake: FakeAws) -> None:
    counter = ApiCallCounter()
    factory = _factory(fake, AccountConfig("staging", role_arn=ROLE), counter=counter)
    factory.client("sqs").list_queues()
    assert counter.counts().calls == {"sts:AssumeRole": 1, "sqs:ListQueues": 1}


def test_counter_uses_botocore_service_names(fake: FakeAws) -> None:
    counter = ApiCallCounter()
    _factory(fake, counter=counter).client("stepfunctions").list_state_machines()
    assert counter.counts().calls == {"stepfunctions:ListStateMachines": 1}


def test_attaching_twice_counts_once(fake: FakeAws) -> None:
    counter = ApiCallCounter()
    client = _factory(fake, counter=counter).client("sqs")
    counter.attach(client)
    client.list_queues()
    assert counter.counts().calls == {"sqs:ListQueues": 1}


def test_two_counters_on_one_client_both_count(fake: FakeAws) -> None:
    mine, theirs = ApiCallCounter(), ApiCallCounter()
    client = _factory(fake, counter=mine).client("sqs")
    theirs.attach(client)
    client.list_queues()
    assert mine.counts() == theirs.counts()


def test_tally_counts_only_this_threads_calls_in_the_block(fake: FakeAws) -> None:
    counter = ApiCallCounter()
    client = _factory(fake, counter=counter).client("sqs")
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def work(name: str, calls: int) -> None:
        with counter.tally() as counts:
            barrier.wait()
            for _ in range(calls):
                client.list_queues()
            results[name] = counts()

    threads = [threading.Thread(target=work, args=(n, c)) for n, c in (("a", 2), ("b", 5))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.list_queues()  # outside any tally
    assert results["a"].calls == {"sqs:ListQueues": 2}
    assert results["b"].calls == {"sqs:ListQueues": 5}
    assert counter.counts().calls == {"sqs:ListQueues": 8}
    counter.reset()
    assert counter.counts().total_calls == 0


# -- backoff around whole steps -----------------------------------------------------------------


def _client_error(code: str, status: int, operation: str = "GetMetricData") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class Flaky:
    """Fails with each of ``errors`` in turn, then returns ``"done"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_backoff_sleeps_a_capped_full_jitter_between_attempts() -> None:
    slept: list[float] = []
    retries: list[tuple[int, str, float]] = []
    step = Flaky(*[_client_error("Throttling", 400)] * 4)
    result = with_backoff(
        step,
        attempts=5,
        base=1.0,
        cap=5.0,
        sleep=slept.append,
        rng=lambda: 0.5,
        on_retry=lambda n, exc, delay: retries.append((n, type(exc).__name__, delay)),
    )
    assert result == "done"
    assert step.calls == 5
    assert slept == [0.5, 1.0, 2.0, 2.5]  # 0.5 x min(5, 1, 2, 4, 8)
    assert [n for n, _, _ in retries] == [1, 2, 3, 4]


def test_backoff_gives_up_after_the_last_attempt_with_the_original_error() -> None:
    slept: list[float] = []
    error = _client_error("ThrottlingException", 400)
    step = Flaky(error, error, error)
    with pytest.raises(ClientError) as caught:
        with_backoff(step, attempts=3, base=0.1, cap=1.0, sleep=slept.append, rng=lambda: 1.0)
    assert caught.value is error
    assert step.calls == 3
    assert len(slept) == 2


@pytest.mark.parametrize(
    "error",
    [
        _client_error("AccessDeniedException", 400),
        _client_error("AccessDenied", 403),
        _client_error("ValidationError", 400),
        _client_error("InvalidParameterValue", 400),
        ParamValidationError(report="Missing required parameter"),
        NoCredentialsError(),
    ],
    ids=lambda e: (
        type(e).__name__ + ":" + getattr(e, "response", {}).get("Error", {}).get("Code", "")
    ),
)
def test_backoff_never_retries_denial_or_invalid_requests(error: BaseException) -> None:
    slept: list[float] = []
    step = Flaky(error)
    with pytest.raises(type(error)):
        with_backoff(step, attempts=5, base=1, cap=10, sleep=slept.append)
    assert (step.calls, slept) == (1, [])


def test_backoff_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        with_backoff(lambda: None, attempts=0, base=1, cap=1)


@given(
    attempt=st.integers(min_value=0, max_value=60),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=300),
    u=st.floats(min_value=0, max_value=0.999999),
)
def test_full_jitter_stays_within_zero_and_the_capped_exponential(
    attempt: int, base: float, cap: float, u: float
) -> None:
    delay = full_jitter(attempt, base=base, cap=cap, rng=lambda: u)
    assert 0 <= delay <= min(cap, base * 2**attempt)
    assert delay <= cap


def test_factory_backoff_uses_the_configured_schedule(fake: FakeAws) -> None:
    factory = _factory(fake, options=AwsOptions(backoff_attempts=2, backoff_base=3, backoff_cap=4))
    slept: list[float] = []
    step = Flaky(_client_error("Throttling", 400), _client_error("Throttling", 400))
    with pytest.raises(ClientError):
        factory.backoff(step, sleep=slept.append, rng=lambda: 1.0)
    assert (step.calls, slept) == (2, [3.0])


# -- classifying failures ---------------------------------------------------------------------

CASES: list[tuple[str, BaseException, str, bool]] = [
    ("throttling", _client_error("Throttling", 400), "throttled", True),
    ("throttling-json", _client_error("ThrottlingException", 400), "throttled", True),
    ("lambda-429", _client_error("TooManyRequestsException", 429), "throttled", True),
    ("sqs-throttled", _client_error("RequestThrottled", 400), "throttled", True),
    ("s3-slowdown", _client_error("SlowDown", 503), "throttled", True),
    ("access-denied", _client_error("AccessDenied", 403), "access-denied", False),
    ("access-denied-json", _client_error("AccessDeniedException", 400), "access-denied", False),
    ("expired-token", _client_error("ExpiredTokenException", 400), "access-denied", False),
    ("bad-key", _client_error("UnrecognizedClientException", 400), "access-denied", False),
    ("validation", _client_error("ValidationError", 400), "invalid", False),
    ("not-found", _client_error("ResourceNotFoundException", 404), "invalid", False),
    ("request-timeout", _client_error("RequestTimeout", 400), "timeout", True),
    ("internal", _client_error("InternalFailure", 500), "other", True),
    ("unavailable", _client_error("ServiceUnavailable", 503), "other", True),
    ("read-timeout", ReadTimeoutError(endpoint_url="https://x"), "timeout", True),
    ("connect-timeout", ConnectTimeoutError(endpoint_url="https://x"), "timeout", True),
    ("builtin-timeout", TimeoutError("slow"), "timeout", True),
    ("no-endpoint", EndpointConnectionError(endpoint_url="https://x"), "connection", True),
    ("dropped", ConnectionClosedError(endpoint_url="https://x"), "connection", True),
    ("reset", ConnectionResetError("reset by peer"), "connection", True),
    ("no-credentials", NoCredentialsError(), "access-denied", False),
    ("sso-expired", SSOTokenLoadError(error_msg="token expired"), "access-denied", False),
    ("param", ParamValidationError(report="bad"), "invalid", False),
    ("profile", ProfileNotFound(profile="nope"), "invalid", False),
    ("bug", KeyError("Datapoints"), "other", False),
]


@pytest.mark.parametrize(
    ("error", "kind", "retryable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(error: BaseException, kind: str, retryable: bool) -> None:
    classified = classify(error, account="prod (111111111111)", region="eu-west-1")
    assert isinstance(classified, SourceError)
    assert classified.kind == kind
    assert "in account prod (111111111111), eu-west-1: " in str(classified)
    assert is_retryable(error) is retryable


def test_classify_message_names_operation_account_region_aws_and_the_fix() -> None:
    error = _client_error("AccessDeniedException", 400, operation="ListStateMachines")
    message = str(classify(error, service="stepfunctions", account="prod", region="us-east-1"))
    assert message == (
        "ListStateMachines in account prod, us-east-1: access denied: AccessDeniedException "
        "(HTTP 400): AccessDeniedException happened; grant states:ListStateMachines to the "
        "identity stormwatch uses (iam/stormwatch-read-only.json), or check its credentials"
    )


def test_classify_names_an_operation_given_for_transport_errors() -> None:
    error = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    message = str(classify(error, operation="GetMetricData", region="us-east-1"))
    assert message.startswith("GetMetricData in us-east-1: connection: Could not connect to the")
    assert "AWS_ENDPOINT_URL" in message


def test_classify_keeps_a_source_error() -> None:
    error = SourceError("already classified", kind="throttled")
    assert classify(error) is error
    assert is_retryable(error)
    assert not is_retryable(SourceError("x", kind="access-denied"))


def test_retryable_source_error_follows_its_cause() -> None:
    try:
        try:
            raise _client_error("InternalFailure", 500)
        except ClientError as exc:
            raise classify(exc) from exc
    except SourceError as wrapped:
        assert wrapped.kind == "other"
        assert is_retryable(wrapped)


def test_factory_classify_names_its_account_and_region(fake: FakeAws) -> None:
    factory = _factory(fake, AccountConfig("staging", role_arn=ROLE, account_id="222222222222"))
    message = str(factory.classify(_client_error("AccessDenied", 403, "Scan"), service="dynamodb"))
    assert message.startswith("Scan in account staging (222222222222), eu-west-1: access denied")
    assert "grant dynamodb:Scan" in message


def test_backoff_with_real_client_retries_a_whole_paginated_read(
    fake: FakeAws, no_sleep: list[float]
) -> None:
    """botocore retries each request; when throttling outlasts it, the whole step runs again."""
    counter = ApiCallCounter()
    options = AwsOptions(retry_mode="standard", max_attempts=2)
    client = _factory(fake, options=options, counter=counter).client("sqs")
    fake.queue(
        "sqs:ListQueues",
        _json(200, {"QueueUrls": ["https://q/1"], "NextToken": "t1"}),
        _throttled(),
        _throttled(),  # page 2 fails both botocore attempts: the step fails
    )

    def read_all() -> list[str]:
        pages = client.get_paginator("list_queues").paginate()
        return [u for page in pages for u in page.get("QueueUrls", [])]

    slept: list[float] = []
    assert with_backoff(read_all, attempts=2, base=1, cap=1, sleep=slept.append) == []
    assert counter.counts().calls == {"sqs:ListQueues": 3}  # page 1, page 2, then a fresh read
    assert counter.counts().attempts == {"sqs:ListQueues": 4}
    assert len(slept) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_763_632_800, "2025-11-20T10:00:00+00:00"),
        (1_763_632_800.5, "2025-11-20T10:00:00.500000+00:00"),
        ("1763632800", "2025-11-20T10:00:00+00:00"),
        ("2025-11-20T10:00:00Z", "2025-11-20T10:00:00+00:00"),
        ("2025-11-20T11:00:00+01:00", "2025-11-20T10:00:00+00:00"),
        ("2025-11-20T10:00:00", "2025-11-20T10:00:00+00:00"),
        ("Thu, 20 Nov 2025 10:00:00 GMT", "2025-11-20T10:00:00+00:00"),
    ],
    ids=["epoch-int", "epoch-float", "epoch-text", "iso-z", "iso-offset", "iso-naive", "rfc822"],
)
def test_timestamps_parse_to_aware_utc(value, expected) -> None:
    from collectors.aws import parse_timestamp

    assert parse_timestamp(value).isoformat() == expected
