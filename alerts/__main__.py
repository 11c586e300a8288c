"""Detection over the store.

    python -m alerts detect [--config FILE] [--store LOCATION] [--now TIME] [--days N] [--dry-run]

Reads the last ``--days`` (default: the config's ``[detection] lookback``, 7 days) of the store up
to ``--now`` (default: the end of the newest metrics), runs every detector with the settings of
the config's ``[detection]`` section, and writes the incidents (``--dry-run``: print only).
Exit status 0 when every detector ran, 3 when some failed (named on stdout), 2 for bad usage,
1 for anything else. ``python -m alerts.evaluate`` scores the anomaly detector on a corpus.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from collectors.cli import ExitStatus, Known, UsageError, run
from collectors.cli import Parser as _Parser

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m alerts", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    detect = commands.add_parser("detect", help="run every detector and update incidents")
    detect.add_argument("--config", help="TOML config file (env STORMWATCH_CONFIG)")
    detect.add_argument(
        "--store", help="store location: a folder or s3://bucket/prefix (env STORMWATCH_STORE)"
    )
    detect.add_argument("--now", help="end of the window (ISO time, UTC); default: newest data")
    detect.add_argument(
        "--days",
        type=float,
        help="days of history to read (default: [detection] lookback in the config, else 7)",
    )
    detect.add_argument("--dry-run", action="store_true", help="print, do not write incidents")
    detect.add_argument("--traceback", action="store_true", help="show the full error on failure")
    return parser


def _known() -> tuple[Known, ...]:
    from collectors.errors import ConfigError, StormwatchError

    return ((ConfigError, ExitStatus.USAGE, ""), (StormwatchError, ExitStatus.ERROR, ""))


def _main(raw: list[str], out: TextIO) -> int:
    args = build_parser().parse_args(raw)
    import dataclasses

    import pandas as pd

    from alerts.detect import detect
    from alerts.settings import settings_from_config
    from collectors.config import load_config
    from collectors.store import Store

    if args.days is not None and not args.days > 0:
        raise UsageError(f"--days must be positive, got {args.days:g}")
    now = None
    if args.now:
        try:
            now = pd.Timestamp(args.now)
        except ValueError:
            raise UsageError(f"--now: not a time: {args.now!r} (e.g. 2026-11-23T09:00Z)") from None
    config = load_config(args.config, overrides={"store": args.store})
    settings = settings_from_config(config)
    if args.days is not None:  # the option wins over the file
        settings = dataclasses.replace(settings, lookback=pd.Timedelta(days=args.days))
    report = detect(Store(config.store), now=now, settings=settings, write=not args.dry_run)
    print(report.summary(), file=out)
    for inc in report.incidents:
        end = "ongoing" if inc.end is None else f"{inc.end:%m-%d %H:%M}"
        where = inc.resource + (f" → {inc.downstream}" if inc.downstream else "")
        print(
            f"  {inc.start:%m-%d %H:%M} – {end:<11} {inc.severity:<8} {inc.kind:<24} {where}: "
            f"{inc.summary}",
            file=out,
        )
    return ExitStatus.PARTIAL if report.failed else ExitStatus.OK


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    return run("alerts", lambda: _main(raw, out), argv=raw, err=err, known=_known)


if __name__ == "__main__":
    from alerts.allocator import tune_allocator

    tune_allocator()
    sys.exit(main())
