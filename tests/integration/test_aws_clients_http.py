"""The client factory over HTTP against the sandbox: roles per account, retries, classification.

The sandbox is reached exactly as stormwatch reaches it in use: ``AWS_ENDPOINT_URL`` in the
environment, nothing passed to the factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from collectors.aws import ApiCallCounter, ClientFactory, with_backoff
from collectors.config import AwsOptions, load_config

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

PROD, STAGING = "111111111111", "222222222222"
ROLE = "arn:aws:iam::{}:role/stormwatch-reader"


@pytest.fixture
def sandbox_env(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    return endpoint


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "stormwatch.toml"
    path.write_text(
        "[[accounts]]\n"
        'name = "prod"\n'
        f'role_arn = "{ROLE.format(PROD)}"\n'
        "[[accounts]]\n"
        'name = "staging"\n'
        f'role_arn = "{ROLE.format(STAGING)}"\n'
        'external_id = "stormwatch-test"\n'
        "[aws]\n"
        "max_attempts = 3\n"
        "connect_timeout = 2\n"
        "read_timeout = 10\n"
    )
    return path


def _factories(path: Path, counter: ApiCallCounter) -> dict[str, ClientFactory]:
    config = load_config(path, env={})
    return {
        account.name: ClientFactory(account, region, options=config.aws, counter=counter)
        for account, region in config.targets()
    }


def test_each_account_is_reached_through_its_role(sandbox_env: Any, config_file: Path) -> None:
    counter = ApiCallCounter()
    factories = _factories(config_file, counter)
    for name, account_id in (("prod", PROD), ("staging", STAGING)):
        identity = factories[name].client("sts").get_caller_identity()
        assert identity["Account"] == account_id
        assert ":assumed-role/stormwatch-reader/stormwatch" in identity["Arn"]
    sqs = factories["staging"].client("sqs")
    sqs.create_queue(QueueName="only-in-staging")
    assert "QueueUrls" not in factories["prod"].client("sqs").list_queues()
    assert len(sqs.list_queues()["QueueUrls"]) == 1
    calls = counter.counts().calls
    assert calls["sts:AssumeRole"] == 2
    assert calls["sts:GetCallerIdentity"] == 2
    assert calls["sqs:ListQueues"] == 2


def test_botocore_retries_throttling_and_the_counter_sees_every_attempt(
    sandbox_env: Any, config_file: Path
) -> None:
    counter = ApiCallCounter()
    factory = _factories(config_file, counter)["prod"]
    sandbox_env.faults.add("throttle", service="cloudwatch", operation="ListMetrics", count=2)
    factory.client("cloudwatch").list_metrics()
    counts = counter.counts()
    assert counts.calls["cloudwatch:ListMetrics"] == 1
    assert counts.attempts["cloudwatch:ListMetrics"] == 3


def test_access_denied_in_one_account_is_classified_and_never_retried(
    sandbox_env: Any, config_file: Path
) -> None:
    counter = ApiCallCounter()
    factories = _factories(config_file, counter)
    sandbox_env.faults.add("access_denied", service="xray", account=STAGING)
    slept: list[float] = []

    def graph(factory: ClientFactory) -> Any:
        return factory.client("xray").get_service_graph(StartTime=0, EndTime=60)

    with pytest.raises(ClientError) as caught:
        with_backoff(
            lambda: graph(factories["staging"]), attempts=3, base=1, cap=1, sleep=slept.append
        )
    assert slept == []
    error = factories["staging"].classify(caught.value, service="xray")
    assert error.kind == "access-denied"
    assert str(error).startswith(
        f"GetServiceGraph in account staging ({STAGING}), us-east-1: access denied"
    )
    assert "grant xray:GetServiceGraph" in str(error)
    graph(factories["prod"])  # the other account is unaffected


def test_throttling_that_outlasts_botocore_is_retried_as_a_whole_step(
    sandbox_env: Any, config_file: Path
) -> None:
    counter = ApiCallCounter()
    factory = _factories(config_file, counter)["prod"]
    factory.client("sqs")  # assume the role before the fault, so only SQS is throttled
    sandbox_env.faults.add("throttle", service="sqs", operation="ListQueues", count=3)
    slept: list[float] = []
    result = factory.backoff(lambda: factory.client("sqs").list_queues(), sleep=slept.append)
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(slept) == 1  # 3 botocore attempts failed, the step's second run succeeded
    assert counter.counts().attempts["sqs:ListQueues"] == 4


def test_a_dropped_connection_is_a_retryable_connection_error(
    sandbox_env: Any, config_file: Path
) -> None:
    factory = ClientFactory(
        load_config(config_file, env={}).accounts[0],
        "us-east-1",
        options=AwsOptions(max_attempts=1, connect_timeout=2, read_timeout=5),
    )
    factory.client("sqs")
    sandbox_env.faults.add("drop_connection", service="sqs", count=1)
    with pytest.raises(Exception) as caught:  # botocore raises one of several transport errors
        factory.client("sqs").list_queues()
    error = factory.classify(caught.value)
    assert error.kind == "connection", error
    assert factory.client("sqs").list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200
