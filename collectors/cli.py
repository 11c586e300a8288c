"""What every stormwatch command line shares: exit statuses, and one-line errors.

``python -m collectors`` and ``python -m sandbox`` both report a failure as one line on stderr,
``<prog>: <what went wrong>``, and an exit status: 2 for bad usage (a mistyped option, a bad
value, a bad config file), 1 for anything else. ``--traceback`` shows the full error instead of
the one line (bad usage is always one line). :func:`run` is that mapping, in one place::

    return run("collectors", lambda: _main(args, out, err), argv=raw, err=err, known=_known)

where ``known`` lists the exceptions a command explains itself: ``(types, status, suffix)``,
printed as ``<prog>: <exception><suffix>``. It is called only when something failed, so a
command can import its exception types lazily (the sandbox's endpoint pulls in moto).
"""

from __future__ import annotations

import argparse
from enum import IntEnum
from typing import TYPE_CHECKING, NoReturn, TextIO, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Known: TypeAlias = tuple[type[BaseException] | tuple[type[BaseException], ...], int, str]


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    PARTIAL = 3  # collectors: the cycle ran, but some sources failed (see collector_runs)


class UsageError(Exception):
    """Bad command-line input; the message is the whole one-line explanation."""


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (raised, so :func:`run` prints it once)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def wants_traceback(argv: Sequence[str]) -> bool:
    """``--traceback`` anywhere on the command line (looked at before parsing, which may fail)."""
    return "--traceback" in argv


def run(
    prog: str,
    body: Callable[[], int],
    *,
    argv: Sequence[str],
    err: TextIO,
    known: Callable[[], Sequence[Known]] = tuple,
) -> int:
    """``body()``'s exit status; any exception becomes one line on ``err`` and a status.

    :class:`UsageError` → ``<prog>: <message>``, :attr:`ExitStatus.USAGE`. With ``--traceback``
    in ``argv`` any other exception propagates. Otherwise the first entry of ``known()`` whose
    types match gives the status and the line ``<prog>: <exception><suffix>``; anything else is
    ``<prog>: <Type>: <exception> (run with --traceback for details)``, :attr:`ExitStatus.ERROR`.
    """
    try:
        return int(body())
    except UsageError as exc:
        print(f"{prog}: {exc}", file=err)
        return ExitStatus.USAGE
    except Exception as exc:  # one place turns every failure into a one-line message
        if wants_traceback(argv):
            raise
        for types, status, suffix in known():
            if isinstance(exc, types):
                print(f"{prog}: {exc}{suffix}", file=err)
                return int(status)
        print(f"{prog}: {type(exc).__name__}: {exc} (run with --traceback for details)", file=err)
        return ExitStatus.ERROR
