"""AWS-shaped errors raised by the sandbox's own service backends.

A backend raises :class:`AwsError` (or a subclass) with AWS's error code and message; the
protocol layer renders it in whatever wire protocol the request used (query XML, JSON, CBOR,
REST-JSON), with AWS's HTTP status. Backends never build HTTP responses themselves.
"""

from __future__ import annotations


class AwsError(Exception):
    """An error as AWS reports it: a code (e.g. ``InvalidParameterValue``), a message and status.

    ``sender_fault`` is True for client errors (4xx); AWS's query protocol reports it as
    ``<Type>Sender</Type>``.
    """

    code: str = "InternalFailure"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status

    @property
    def sender_fault(self) -> bool:
        return self.http_status < 500

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {self.http_status})"


class ValidationError(AwsError):
    code = "ValidationError"
    http_status = 400


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValue"
    http_status = 400


class InvalidParameterCombination(AwsError):
    code = "InvalidParameterCombination"
    http_status = 400


class MissingParameter(AwsError):
    code = "MissingParameter"
    http_status = 400


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"
    http_status = 404


class LimitExceeded(AwsError):
    code = "LimitExceeded"
    http_status = 400


class InvalidNextToken(AwsError):
    code = "InvalidNextToken"
    http_status = 400


class InvalidRequestException(AwsError):
    """X-Ray's generic client error."""

    code = "InvalidRequestException"
    http_status = 400


class UnsupportedOperation(AwsError):
    """An operation this sandbox does not implement (never silently answered)."""

    code = "InvalidAction"
    http_status = 400
