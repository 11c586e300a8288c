"""Collect from AWS into the store.

    python -m collectors once      [--config FILE] [--store LOCATION]
    python -m collectors run       [--config FILE] [--store LOCATION]
    python -m collectors backfill  --days N [--config FILE] [--store LOCATION]

``--config`` / ``STORMWATCH_CONFIG`` and ``--store`` / ``STORMWATCH_STORE``: the option wins over
the environment, which wins over the file. With no config file stormwatch collects from the
account and region of the default credential chain (``AWS_ENDPOINT_URL`` reaches the sandbox).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from enum import IntEnum
from typing import TYPE_CHECKING, NoReturn, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    PARTIAL = 3  # the cycle ran, but some sources failed (see collector_runs)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m collectors", description=__doc__.split("\n")[0])
    common = _Parser(add_help=False)
    common.add_argument("--config", help="TOML config file (env STORMWATCH_CONFIG)")
    common.add_argument(
        "--store", help="store location: a folder or s3://bucket/prefix (env STORMWATCH_STORE)"
    )
    common.add_argument("--traceback", action="store_true", help="show the full error on failure")
    common.add_argument("-v", "--verbose", action="store_true", help="log each source's progress")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    commands.add_parser("once", parents=[common], help="one collection cycle")
    commands.add_parser(
        "run", parents=[common], help="cycle at the configured interval until interrupted"
    )
    backfill = commands.add_parser("backfill", parents=[common], help="collect the last N days")
    backfill.add_argument("--days", type=float, required=True, help="days of history to collect")
    return parser


def _progress(err: TextIO) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        err.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} steps")
        if done == total:
            err.write("\n")
        err.flush()

    return show


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    traceback = "--traceback" in raw
    try:
        args = build_parser().parse_args(raw)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=err,
        )
        from collectors.config import load_config
        from collectors.cycle import Collector
        from collectors.store import Store

        config = load_config(args.config, overrides={"store": args.store})
        collector = Collector(config, Store(config.store))
        if args.command == "once":
            report = collector.once()
            print(report.summary(), file=out)
            return ExitStatus.PARTIAL if report.failed else ExitStatus.OK
        if args.command == "backfill":
            if args.days <= 0:
                raise UsageError(f"--days must be positive, got {args.days:g}")
            reports = collector.backfill(args.days, progress=_progress(err))
            failed = [r for report in reports for r in report.failed]
            rows = sum(r.rows for report in reports for r in report.runs)
            print(
                f"backfill: {len(reports)} steps, {rows:,} rows, {len(failed)} failed source runs",
                file=out,
            )
            return ExitStatus.PARTIAL if failed else ExitStatus.OK
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        collector.run(stop, on_cycle=lambda report: print(report.summary(), file=out, flush=True))
        return ExitStatus.OK
    except UsageError as exc:
        print(f"collectors: {exc}", file=err)
        return ExitStatus.USAGE
    except Exception as exc:  # one place turns every failure into a one-line message
        if traceback:
            raise
        from collectors.errors import ConfigError, StormwatchError

        if isinstance(exc, ConfigError):
            print(f"collectors: {exc}", file=err)
            return ExitStatus.USAGE
        if isinstance(exc, StormwatchError):
            print(f"collectors: {exc}", file=err)
            return ExitStatus.ERROR
        print(
            f"collectors: {type(exc).__name__}: {exc} (run with --traceback for details)", file=err
        )
        return ExitStatus.ERROR


if __name__ == "__main__":
    sys.exit(main())
