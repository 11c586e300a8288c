"""CloudWatch alarm errors that :mod:`sandbox.endpoint.errors` does not already define.

Codes and HTTP statuses are the ones botocore's CloudWatch model declares for the alarm
operations (``SetAlarmState`` → ``InvalidFormat``; tagging → ``ResourceNotFoundException``;
``DeleteAlarms`` → ``ResourceConflict``).
"""

from __future__ import annotations

from sandbox.endpoint.errors import AwsError, ValidationError


class InvalidFormat(AwsError):
    """SetAlarmState's ``StateReasonData`` is not JSON."""

    code = "InvalidFormat"
    http_status = 400


class ResourceNotFoundException(AwsError):
    """Tagging operations name an ARN with no alarm behind it (note: not ``ResourceNotFound``)."""

    code = "ResourceNotFoundException"
    http_status = 404


class ResourceConflict(AwsError):
    """DeleteAlarms would remove an alarm that a remaining composite alarm still references."""

    code = "ResourceConflict"
    http_status = 409


def constraint_errors(problems: list[str]) -> ValidationError:
    """AWS's summary form: ``"2 validation errors detected: Value … ; Value …"``."""
    noun = "error" if len(problems) == 1 else "errors"
    return ValidationError(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))
