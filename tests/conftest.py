"""Shared fixtures: one sandbox endpoint per test session on 127.0.0.1, reset between tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Tests never reach real AWS and never need credentials.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)


@pytest.fixture(scope="session")
def endpoint_server() -> Iterator[Any]:
    from sandbox.endpoint import Endpoint

    with Endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def endpoint(endpoint_server: Any) -> Iterator[Any]:
    """The session's endpoint, with every resource, datapoint and fault rule cleared after use."""
    yield endpoint_server
    endpoint_server.reset()


@pytest.fixture
def aws(endpoint: Any) -> Callable[..., Any]:
    """``aws("cloudwatch", account=None, protocol=None, region="us-east-1")`` → boto3 client."""
    from sandbox.endpoint.testing import sandbox_client

    def make(service: str, **options: Any) -> Any:
        return sandbox_client(endpoint.url, service, **options)

    return make
