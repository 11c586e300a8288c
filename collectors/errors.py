"""Errors raised by the collectors, under one base so the CLI maps them in one place."""

from __future__ import annotations


class StormwatchError(Exception):
    """Base of every error stormwatch raises on purpose; the message names the thing and the fix."""


class ConfigError(StormwatchError):
    """A malformed or invalid configuration: names the file, the key and what was expected."""


class StoreError(StormwatchError):
    """The store cannot be read or written (path, permissions, a corrupt file)."""


class SourceError(StormwatchError):
    """One source failed for one account and region; recorded in collector_runs.

    ``kind`` is one of: access-denied, throttled, timeout, connection, invalid, other.
    """

    def __init__(self, message: str, *, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind
