"""Fault injection: make the endpoint fail the way AWS fails, on purpose and at runtime.

A :class:`FaultRule` selects requests by service, operation, account and region and does one
thing to them: answer with a throttling, access-denied or server error in AWS's own error shape
for that service and protocol, add latency, or drop the connection without answering. ``after``
lets the first N matching requests through (to fail a later page of a paginated read), ``count``
bounds how many requests the rule hits, ``rate`` hits each matching request with a probability
drawn from a seeded generator, so a run is repeatable.

Rules are managed in-process (``Endpoint.faults``) or over HTTP on the endpoint's own port:
``GET/POST/DELETE /_sandbox/faults`` and ``DELETE /_sandbox/faults/{id}`` (see docs/sandbox.md).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from sandbox.endpoint.errors import AwsError


class FaultKind(StrEnum):
    THROTTLE = "throttle"
    ACCESS_DENIED = "access_denied"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    LATENCY = "latency"
    DROP_CONNECTION = "drop_connection"
    ERROR = "error"  # any code/status given in the rule


# AWS's throttling error per service: (code, HTTP status). Every code here is one botocore's
# retry handler recognises as throttling.
_THROTTLE = {
    "cloudwatch": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "xray": ("ThrottledException", 429),
    "lambda": ("TooManyRequestsException", 429),
    "sqs": ("RequestThrottled", 400),
    "dynamodb": ("ThrottlingException", 400),
    "s3": ("SlowDown", 503),
}
# Services whose access-denied code is the query-era "AccessDenied" rather than the JSON-era one.
_ACCESS_DENIED_QUERY_CODE = {"cloudwatch", "sts", "iam", "s3"}


@dataclass(slots=True)
class FaultRule:
    """What to inject and into which requests (``"*"`` matches anything)."""

    kind: FaultKind
    service: str = "*"
    operation: str = "*"
    account: str = "*"
    region: str = "*"
    rate: float = 1.0
    count: int | None = None
    after: int = 0
    latency_ms: int = 0
    code: str | None = None
    message: str | None = None
    http_status: int | None = None
    id: int = 0
    seen: int = 0
    hits: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"fault count must be >= 0, got {self.count}")
        if self.kind is FaultKind.ERROR and not self.code:
            raise ValueError("a fault of kind 'error' needs a 'code'")

    def selects(self, service: str, operation: str, account: str, region: str) -> bool:
        return all(
            want == "*" or want == got
            for want, got in (
                (self.service, service),
                (self.operation, operation),
                (self.account, account),
                (self.region, region),
            )
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_random")
        data["kind"] = str(self.kind)
        return data

    def error(self, service: str, operation: str, account: str) -> AwsError:
        """The AWS error this rule answers with (not used for latency or dropped connections)."""
        if self.kind is FaultKind.THROTTLE:
            code, status = _THROTTLE.get(service, ("ThrottlingException", 400))
            message = "Rate exceeded"
        elif self.kind is FaultKind.ACCESS_DENIED:
            code = (
                "AccessDenied" if service in _ACCESS_DENIED_QUERY_CODE else "AccessDeniedException"
            )
            status = 403 if service in ("xray", "lambda", "s3") else 400
            message = (
                f"User: arn:aws:sts::{account}:assumed-role/stormwatch-reader/session is not "
                f"authorized to perform: {service}:{operation} because no identity-based policy "
                f"allows the {service}:{operation} action"
            )
        elif self.kind is FaultKind.INTERNAL_ERROR:
            code, status, message = "InternalFailure", 500, "Internal service error"
        elif self.kind is FaultKind.UNAVAILABLE:
            code, status, message = "ServiceUnavailable", 503, "Service unavailable"
        else:
            code, status, message = self.code or "InternalFailure", 400, "Injected fault"
        return AwsError(
            self.message or message,
            code=self.code or code,
            http_status=self.http_status or status,
        )


class FaultInjector:
    """The active rules; thread-safe. The first rule that selects and fires a request wins."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, kind: FaultKind | str, *, seed: int = 0, **selector: Any) -> FaultRule:
        """Add a rule (fields of :class:`FaultRule`) and return it, with its id."""
        rule = FaultRule(kind=FaultKind(kind), **selector)
        rule._random = random.Random(seed)
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, service: str, operation: str, account: str, region: str) -> FaultRule | None:
        """The rule that fires for this request, counting it; None when the request goes through."""
        with self._lock:
            for rule in self._rules:
                if not rule.selects(service, operation, account, region):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.count is not None and rule.hits >= rule.count:
                    continue
                if rule.rate < 1.0 and rule._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                return rule
        return None
