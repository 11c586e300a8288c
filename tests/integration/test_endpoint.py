"""The endpoint itself over HTTP: loopback binding, the CLI, accounts, faults, admin routes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from sandbox.endpoint import Endpoint
from sandbox.endpoint.admin import SandboxAdmin

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROD, STAGING = "111111111111", "222222222222"


def test_refuses_to_bind_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        Endpoint(host="0.0.0.0")


def test_listens_on_loopback(endpoint) -> None:
    assert endpoint.url.startswith("http://127.0.0.1:")
    assert SandboxAdmin(endpoint.url).health() == {"status": "ok"}


def _start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", "endpoint", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_cli_prints_its_url_when_ready_and_stops_on_interrupt() -> None:
    process = _start_cli()
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("AWS_ENDPOINT_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert SandboxAdmin(url).health() == {"status": "ok"}  # ready when printed
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


def test_cli_reports_a_taken_port_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start_cli("--port", str(port))
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip().splitlines() == [
        f"sandbox: port {port} on 127.0.0.1 is already in use; choose another with --port N, "
        "or omit --port"
    ]


def test_assumed_roles_reach_their_own_accounts(aws) -> None:
    assert aws("sts", account=PROD).get_caller_identity()["Account"] == PROD
    assert aws("sts", account=STAGING).get_caller_identity()["Account"] == STAGING


def test_accounts_are_isolated(aws) -> None:
    aws("sqs", account=PROD).create_queue(QueueName="orders")
    aws("cloudwatch", account=PROD).put_metric_data(
        Namespace="Shop", MetricData=[{"MetricName": "Orders", "Value": 1.0}]
    )
    assert aws("sqs", account=STAGING).list_queues().get("QueueUrls", []) == []
    assert aws("cloudwatch", account=STAGING).list_metrics()["Metrics"] == []
    assert len(aws("cloudwatch", account=PROD).list_metrics()["Metrics"]) == 1


# service, a read call, AWS's throttling code, HTTP status
THROTTLES = [
    ("cloudwatch", lambda c: c.list_metrics(), "Throttling", 400),
    ("xray", lambda c: c.get_service_graph(StartTime=0, EndTime=60), "ThrottledException", 429),
    ("sqs", lambda c: c.list_queues(), "RequestThrottled", 400),
    ("dynamodb", lambda c: c.list_tables(), "ThrottlingException", 400),
    ("lambda", lambda c: c.list_functions(), "TooManyRequestsException", 429),
    ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),
]


@pytest.mark.parametrize(
    ("service", "call", "code", "status"), THROTTLES, ids=[t[0] for t in THROTTLES]
)
def test_throttling_has_each_services_error_shape(aws, endpoint, service, call, code, status):
    client = aws(service)
    endpoint.faults.add("throttle", service=service, count=1)
    with pytest.raises(ClientError) as caught:
        call(client)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    call(client)  # the rule's count is spent: normal answers again


def test_access_denied_hits_only_the_selected_account(aws, endpoint) -> None:
    endpoint.faults.add("access_denied", service="cloudwatch", account=STAGING)
    aws("cloudwatch", account=PROD).list_metrics()
    with pytest.raises(ClientError) as caught:
        aws("cloudwatch", account=STAGING).list_metrics()
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert f"arn:aws:sts::{STAGING}:" in error["Message"]
    assert "cloudwatch:ListMetrics" in error["Message"]


def test_after_and_count_fail_exactly_the_chosen_requests(aws, endpoint) -> None:
    client = aws("sqs")
    rule = endpoint.faults.add(
        "internal_error", service="sqs", operation="ListQueues", after=1, count=2
    )
    outcomes = []
    for _ in range(5):
        try:
            client.list_queues()
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    assert outcomes == ["ok", "InternalFailure", "InternalFailure", "ok", "ok"]
    assert (rule.seen, rule.hits) == (5, 2)


def test_rate_is_seeded_and_repeatable(aws, endpoint) -> None:
    client = aws("sqs")

    def pattern() -> list[bool]:
        endpoint.faults.clear()
        endpoint.faults.add("unavailable", service="sqs", rate=0.5, seed=7)
        failed = []
        for _ in range(30):
            try:
                client.list_queues()
                failed.append(False)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ServiceUnavailable"
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                failed.append(True)
        return failed

    first = pattern()
    assert 5 <= sum(first) <= 25
    assert pattern() == first


def test_botocore_retries_through_transient_5xx(aws, endpoint) -> None:
    endpoint.faults.add("internal_error", service="sqs", count=2)
    response = aws("sqs", retries=2).list_queues()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2


def test_latency_is_added(aws, endpoint) -> None:
    client = aws("sqs")
    client.list_queues()
    endpoint.faults.add("latency", service="sqs", latency_ms=400, count=1)
    started = time.perf_counter()
    client.list_queues()
    assert time.perf_counter() - started >= 0.4


def test_dropped_connection_then_recovery(aws, endpoint) -> None:
    client = aws("cloudwatch")
    endpoint.faults.add("drop_connection", service="cloudwatch", count=1)
    with pytest.raises(ConnectionClosedError):
        client.list_metrics()
    assert client.list_metrics()["Metrics"] == []


def test_admin_routes_over_http(aws, endpoint) -> None:
    admin = SandboxAdmin(endpoint.url)
    rule = admin.add_fault("throttle", service="dynamodb", operation="ListTables")
    assert [r["id"] for r in admin.faults()] == [rule["id"]]
    with pytest.raises(ClientError):
        aws("dynamodb").list_tables()
    admin.remove_fault(rule["id"])
    assert admin.faults() == []
    aws("dynamodb").list_tables()

    admin.add_fault("throttle")
    admin.clear_faults()
    aws("sqs").create_queue(QueueName="q")
    admin.reset()
    assert aws("sqs").list_queues().get("QueueUrls", []) == []


@pytest.mark.parametrize(
    "rule",
    [{"kind": "explode"}, {"kind": "throttle", "rate": 2}, {"kind": "error"}, {"service": "sqs"}],
    ids=["unknown-kind", "rate-above-1", "error-without-code", "no-kind"],
)
def test_admin_rejects_bad_rules_with_a_message(endpoint, rule) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{endpoint.url}/_sandbox/faults", data=json.dumps(rule).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["error"]
    assert endpoint.faults.rules() == []


def test_dlq_redrive_moves_messages_back_to_the_source(aws) -> None:
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    source_url = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    for n in range(3):
        sqs.send_message(QueueUrl=source_url, MessageBody=f"order {n}")
    # Received once without being deleted: the next receive moves them to the DLQ.
    sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10, VisibilityTimeout=0)

    def depth(url: str) -> int:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    assert (depth(dlq_url), depth(source_url)) == (3, 0)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert (depth(dlq_url), depth(source_url)) == (0, 3)
    [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["TaskHandle"] == handle
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 3

    with pytest.raises(ClientError) as caught:
        sqs.start_message_move_task(SourceArn=source_url.replace("http://", "arn:"))
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_sqs_event_source_mappings_do_not_need_a_lambda_runtime(aws) -> None:
    """moto polls a mapped queue on every send; without Docker that must not fill the DLQ."""
    sqs, lam, iam = aws("sqs"), aws("lambda"), aws("iam")
    dlq_url = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    role = iam.create_role(
        RoleName="worker",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="worker",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return {}\n")},
    )
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="worker", BatchSize=1)
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"job {n}")
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def _zip(source: str) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()
