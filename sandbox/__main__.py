"""``python -m sandbox endpoint [--port N]``: run the local AWS endpoint until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from enum import IntEnum
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--traceback", action="store_true", help="show the full error on failure")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    endpoint = commands.add_parser(
        "endpoint", help="start the local AWS endpoint on 127.0.0.1 and print its URL"
    )
    endpoint.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free port)"
    )
    return parser


def run_endpoint(port: int, out: TextIO, stop: threading.Event) -> ExitStatus:
    from sandbox.endpoint import Endpoint

    endpoint = Endpoint(port=port).start()
    try:
        print(f"AWS_ENDPOINT_URL={endpoint.url}", file=out, flush=True)
        stop.wait()
    finally:
        endpoint.stop()
    return ExitStatus.OK


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        return run_endpoint(args.port, out, stop)
    except Exception as exc:  # one place turns every failure into a one-line message
        if args.traceback:
            raise
        from sandbox.endpoint import PortInUseError

        if isinstance(exc, PortInUseError):
            print(f"sandbox: {exc}; choose another with --port N, or omit --port", file=err)
            return ExitStatus.USAGE
        print(f"sandbox: {type(exc).__name__}: {exc} (run with --traceback for details)", file=err)
        return ExitStatus.ERROR


if __name__ == "__main__":
    sys.exit(main())
