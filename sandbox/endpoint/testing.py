"""boto3 clients pointed at a sandbox endpoint, for tests and benchmarks.

``protocol=`` forces one of the wire protocols a service's model lists (CloudWatch lists
``smithy-rpc-v2-cbor``, ``json`` and ``query``; botocore picks one by its own priority), so a
test can prove the endpoint answers each the way botocore parses it.
"""

from __future__ import annotations

import copy
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
READER_ROLE = "stormwatch-reader"


def botocore_session(
    service: str | None = None, protocol: str | None = None
) -> botocore.session.Session:
    """A botocore session; with ``protocol``, ``service``'s model offers only that protocol."""
    session = botocore.session.Session()
    if protocol is None:
        return session
    loader = session.get_component("data_loader")
    original = loader.load_service_model

    def load_service_model(
        service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        data = original(service_name, type_name, api_version)
        if service_name == service and type_name == "service-2":
            data = copy.deepcopy(data)
            if protocol not in data["metadata"].get("protocols", [data["metadata"]["protocol"]]):
                raise ValueError(f"{service} does not speak {protocol}")
            data["metadata"]["protocols"] = [protocol]
            data["metadata"]["protocol"] = protocol
        return data

    loader.load_service_model = load_service_model
    return session


def sandbox_client(
    endpoint_url: str,
    service: str,
    *,
    region: str = "us-east-1",
    account: str | None = None,
    protocol: str | None = None,
    retries: int = 0,
    **credentials: str,
) -> Any:
    """A boto3 client for ``service`` at the sandbox; ``account`` assumes a role there via STS."""
    creds = dict(credentials or DUMMY_CREDENTIALS)
    config = Config(
        retries={"mode": "standard", "total_max_attempts": retries + 1},
        connect_timeout=5,
        read_timeout=60,
    )
    if account is not None:
        sts = boto3.Session(**DUMMY_CREDENTIALS).client(
            "sts", endpoint_url=endpoint_url, region_name=region, config=config
        )
        assumed = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{READER_ROLE}", RoleSessionName="stormwatch-test"
        )["Credentials"]
        creds = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
    session = boto3.Session(botocore_session=botocore_session(service, protocol), **creds)
    return session.client(service, endpoint_url=endpoint_url, region_name=region, config=config)
