"""Collect from AWS into the store.

    python -m collectors once      [--config FILE] [--store LOCATION]
    python -m collectors run       [--config FILE] [--store LOCATION]
    python -m collectors backfill  --days N [--config FILE] [--store LOCATION]

``--config`` / ``STORMWATCH_CONFIG`` and ``--store`` / ``STORMWATCH_STORE``: the option wins over
the environment, which wins over the file. With no config file stormwatch collects from the
account and region of the default credential chain (``AWS_ENDPOINT_URL`` reaches the sandbox).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from collectors.cli import ExitStatus, Known, UsageError, run
from collectors.cli import Parser as _Parser

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

    from alerts.detect import DetectSettings
    from collectors.store import Store

__all__ = ["ExitStatus", "UsageError", "build_parser", "main"]


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
    run_parser = commands.add_parser(
        "run", parents=[common], help="cycle at the configured interval until interrupted"
    )
    run_parser.add_argument(
        "--detect",
        action="store_true",
        help="run `python -m alerts detect` over the store after each cycle",
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


def _known() -> tuple[Known, ...]:
    from collectors.errors import ConfigError, StormwatchError

    return ((ConfigError, ExitStatus.USAGE, ""), (StormwatchError, ExitStatus.ERROR, ""))


def _main(raw: list[str], out: TextIO, err: TextIO) -> int:
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
    settings = None
    if args.detect:
        from alerts.settings import settings_from_config  # the CLI composes; collectors do not

        settings = settings_from_config(config)
    collector.run(
        stop, on_cycle=after_cycle(collector.store, out, detect=args.detect, settings=settings)
    )
    return ExitStatus.OK


def after_cycle(
    store: Store, out: TextIO, *, detect: bool, settings: DetectSettings | None = None
) -> Callable[[Any], None]:
    """What the loop does after each cycle: print its summary and, with ``--detect``, update
    the incidents with ``settings`` (the config's ``[detection]``; None: the defaults). A failed
    detection is printed and the loop goes on (collection matters more than one late
    detection)."""

    def step(report: Any) -> None:
        print(report.summary(), file=out, flush=True)
        if not detect:
            return
        from alerts.detect import detect as run_detect  # the CLI composes; collectors do not

        try:
            print(run_detect(store, settings=settings).summary(), file=out, flush=True)
        except Exception as exc:  # keep collecting
            print(f"detect failed: {type(exc).__name__}: {exc}", file=out, flush=True)

    return step


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    return run("collectors", lambda: _main(raw, out, err), argv=raw, err=err, known=_known)


if __name__ == "__main__":
    from alerts.allocator import tune_allocator

    tune_allocator()
    sys.exit(main())
