"""SQS queues and their dead-letter links → the ``queues`` table.

Per queue: depth (visible, in flight, delayed), retention, visibility timeout, its own DLQ and
``maxReceiveCount`` from the redrive policy, and, for a DLQ, the sources that feed it.

**Message bodies are never read or stored.** Everything here comes from ListQueues,
GetQueueAttributes and ListDeadLetterSourceQueues; ReceiveMessage (which would also hide the
messages and raise their receive counts) is never called, and the IAM policy leaves it out.

**Sources of a DLQ.** Listing every queue (``queue_names=None``) reads all redrive policies
anyway, and SQS requires a DLQ in the source's account and region, so the links come from the
policies at no extra call. For a named subset the sources may lie outside it, so each named
queue's sources come from ListDeadLetterSourceQueues (paginated). Lambda functions and
EventBridge rules also dead-letter into queues; the cycle passes those from discovery as
``other_sources`` (``"lambda:NAME"``, ``"events:RULE"``), and such a queue is a DLQ too.

``oldest_age_s`` is CloudWatch's ApproximateAgeOfOldestMessage (the queue API has no such
attribute); the cycle passes it as ``oldest_age`` or leaves it null.

**One GetQueueAttributes per queue per cycle.** Discovery reads every attribute of each queue it
keeps (``AttributeNames=["All"]``, depth counters included); when discovery ran in the same
cycle, the cycle passes those answers as ``known`` and a queue found there is not asked again.
An answer without the depth counters, or a queue discovery did not read (filtered out, created
since), is asked as before.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from collectors._frame import as_utc, to_frame
from collectors.errors import SourceError
from collectors.schema import QUEUES

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from datetime import datetime

    import pandas as pd

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html
ATTRIBUTES = (
    "QueueArn",
    "ApproximateNumberOfMessages",  # visible
    "ApproximateNumberOfMessagesNotVisible",  # in flight
    "ApproximateNumberOfMessagesDelayed",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "RedrivePolicy",
)
# The counters a reused answer must carry to stand for a fresh read (GetQueueAttributes "All").
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# Query protocol and JSON protocol spell the missing-queue error differently.
_NO_SUCH_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_PAGE_SIZE = 1000  # ListQueues and ListDeadLetterSourceQueues: MaxResults 1..1000


# --- the pure core -------------------------------------------------------------------------


def queue_name(url_or_arn: str) -> str:
    """The queue name in a queue URL (``https://…/ACCOUNT/NAME``) or ARN (``…:NAME``)."""
    if url_or_arn.startswith("arn:"):
        return url_or_arn.rsplit(":", 1)[-1]
    return urlparse(url_or_arn).path.rstrip("/").rsplit("/", 1)[-1]


def redrive_target(attributes: Mapping[str, str]) -> tuple[str | None, int | None]:
    """(DLQ name, maxReceiveCount) from a queue's RedrivePolicy; (None, None) without one.

    The policy is a JSON string; ``maxReceiveCount`` comes as a number or a numeric string.
    An unreadable policy gives (None, None) rather than an error: the queue's depth still counts.
    """
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return None, None
    try:
        policy = json.loads(raw)
    except (TypeError, ValueError):
        return None, None
    if not isinstance(policy, dict):
        return None, None
    arn = policy.get("deadLetterTargetArn")
    dlq = queue_name(arn) if isinstance(arn, str) and arn else None
    return dlq, _int(policy.get("maxReceiveCount"))


def dlq_sources(attributes_by_queue: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """DLQ name → the (sorted) names of the queues whose redrive policy targets it."""
    sources: dict[str, list[str]] = {}
    for name, attributes in attributes_by_queue.items():
        dlq, _ = redrive_target(attributes)
        if dlq is not None:
            sources.setdefault(dlq, []).append(name)
    return {dlq: sorted(names) for dlq, names in sources.items()}


def queue_row(
    name: str,
    attributes: Mapping[str, str],
    *,
    observed_at: datetime,
    account: str,
    region: str,
    sources: Iterable[str] = (),
    oldest_age_s: float | None = None,
) -> dict[str, Any]:
    """One ``queues`` row from GetQueueAttributes' ``Attributes``; ``is_dlq`` iff it has sources."""
    dlq, max_receive_count = redrive_target(attributes)
    feeding = sorted(set(sources))
    return {
        "account": account,
        "region": region,
        "queue": name,
        "observed_at": as_utc(observed_at, "observed_at"),
        "arn": attributes.get("QueueArn"),
        "is_dlq": bool(feeding),
        "sources": feeding,
        "dlq": dlq,
        "max_receive_count": max_receive_count,
        "visible": _int(attributes.get("ApproximateNumberOfMessages")),
        "in_flight": _int(attributes.get("ApproximateNumberOfMessagesNotVisible")),
        "delayed": _int(attributes.get("ApproximateNumberOfMessagesDelayed")),
        "oldest_age_s": None if oldest_age_s is None else float(oldest_age_s),
        "retention_s": _int(attributes.get("MessageRetentionPeriod")),
        "visibility_timeout_s": _int(attributes.get("VisibilityTimeout")),
    }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _arn_part(arn: str | None, index: int) -> str | None:
    parts = (arn or "").split(":")
    return parts[index] if len(parts) > index and parts[index] else None


# --- the I/O shell -------------------------------------------------------------------------


def list_queue_urls(sqs: Any) -> Iterator[str]:
    """Every queue URL of the client's account and region (ListQueues, every page).

    SQS pages (and returns NextToken) only when MaxResults is given, so it always is.
    """
    request: dict[str, Any] = {"MaxResults": _PAGE_SIZE}
    while True:
        page = sqs.list_queues(**request)
        yield from page.get("QueueUrls", [])
        token = page.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


def source_queue_names(sqs: Any, url: str) -> list[str]:
    """Names of the queues whose redrive policy targets ``url`` (every page)."""
    request: dict[str, Any] = {"QueueUrl": url, "MaxResults": _PAGE_SIZE}
    names = []
    while True:
        page = sqs.list_dead_letter_source_queues(**request)
        names += [queue_name(source) for source in page.get("queueUrls", [])]
        token = page.get("NextToken")
        if not token:
            return names
        request["NextToken"] = token


def queue_attributes(
    sqs: Any, url: str, known: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, str] | None:
    """The queue's :data:`ATTRIBUTES`; None when the queue no longer exists.

    ``known`` maps queue URLs to attributes already read in this cycle; an entry carrying every
    :data:`DEPTH_ATTRIBUTES` is used without a call.
    """
    reused = (known or {}).get(url)
    if reused is not None and all(name in reused for name in DEPTH_ATTRIBUTES):
        return {name: reused[name] for name in ATTRIBUTES if name in reused}
    try:
        response = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(ATTRIBUTES))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _NO_SUCH_QUEUE:
            return None
        raise
    return dict(response.get("Attributes", {}))


def collect_queues(
    sqs: Any,
    *,
    now: datetime,
    queue_names: Iterable[str] | None = None,
    oldest_age: Mapping[str, float] | None = None,
    other_sources: Mapping[str, Iterable[str]] | None = None,
    account: str | None = None,
    region: str | None = None,
    known: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """``queues`` rows observed at ``now`` (UTC) for every queue, or the named ones.

    ``oldest_age`` maps queue name → ApproximateAgeOfOldestMessage (seconds);
    ``other_sources`` maps queue name → non-queue sources dead-lettering into it; ``known``
    maps queue URL → the GetQueueAttributes answer discovery read at ``now`` (see
    :func:`queue_attributes`), so those queues are not asked again. Account and
    region default to those in each queue's ARN. A listed queue deleted before its attributes
    are read is left out (it no longer exists); a named queue that does not exist raises
    :class:`SourceError` (``invalid``) naming it.
    """
    observed_at = as_utc(now)
    ages = dict(oldest_age or {})
    extra = {name: list(values) for name, values in (other_sources or {}).items()}
    found: dict[str, tuple[str, dict[str, str]]] = {}  # name → (url, attributes)
    sources: dict[str, list[str]]
    if queue_names is None:
        for url in list_queue_urls(sqs):
            attributes = queue_attributes(sqs, url, known)
            if attributes is not None:
                found[queue_name(url)] = (url, attributes)
        sources = dlq_sources({name: attrs for name, (_url, attrs) in found.items()})
    else:
        missing = []
        for name in dict.fromkeys(queue_names):
            named_url = _queue_url(sqs, name)
            attributes = None if named_url is None else queue_attributes(sqs, named_url, known)
            if named_url is None or attributes is None:
                missing.append(name)
                continue
            found[queue_name(named_url)] = (named_url, attributes)
        if missing:
            where = f"{account or 'this account'} ({region or sqs.meta.region_name})"
            raise SourceError(
                f"queue(s) {', '.join(f'`{m}`' for m in missing)} not found in {where}; "
                "remove them from the queue list or check the account and region",
                kind="invalid",
            )
        sources = {name: source_queue_names(sqs, url) for name, (url, _attrs) in found.items()}
    rows = []
    for name, (url, attributes) in sorted(found.items()):
        arn = attributes.get("QueueArn")
        rows.append(
            queue_row(
                name,
                attributes,
                observed_at=observed_at,
                account=account or _arn_part(arn, 4) or _url_account(url),
                region=region or _arn_part(arn, 3) or sqs.meta.region_name,
                sources=[*sources.get(name, []), *extra.get(name, [])],
                oldest_age_s=ages.get(name),
            )
        )
    return to_frame(QUEUES, rows)


def _queue_url(sqs: Any, name: str) -> str | None:
    if name.startswith("https://") or name.startswith("http://"):
        return name
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _NO_SUCH_QUEUE:
            return None
        raise


def _url_account(url: str) -> str:
    parts = urlparse(url).path.strip("/").split("/")
    return parts[0] if len(parts) == 2 else ""  # /ACCOUNT/NAME
