"""X-Ray errors: the two codes botocore's X-Ray model declares for the operations served here.

Every read and write operation (PutTraceSegments, BatchGetTraces, GetTraceSummaries,
GetServiceGraph, GetTimeSeriesServiceStatistics, GetTraceGraph) declares exactly
``InvalidRequestException`` (400) and ``ThrottledException`` (429). X-Ray has no
``ValidationException``: constraint violations are reported as ``InvalidRequestException``.
"""

from __future__ import annotations

from sandbox.endpoint.errors import AwsError, InvalidRequestException

__all__ = ["InvalidRequestException", "ThrottledException", "constraint_error"]


class ThrottledException(AwsError):
    """The request exceeds the maximum number of requests per second (raised by fault injection)."""

    code = "ThrottledException"
    http_status = 429


def constraint_error(value: object, member: str, constraint: str) -> InvalidRequestException:
    """AWS's wording: ``1 validation error detected: Value '…' at 'traceIds' failed…``."""
    return InvalidRequestException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )
