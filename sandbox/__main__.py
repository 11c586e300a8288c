"""The embedded sandbox: a local AWS endpoint, optionally filled with a simulated world.

    python -m sandbox endpoint [--port N]
    python -m sandbox up [--scenario NAME] [--days N] [--seed N] [--port N] [--truth FILE]
    python -m sandbox scenarios

Both servers print one line, ``AWS_ENDPOINT_URL=http://127.0.0.1:PORT``, on stdout once they
answer (``up``: once the backfill is written), and run until interrupted. Everything else goes
to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from collectors.cli import ExitStatus, Known, UsageError, run
from collectors.cli import Parser as _Parser

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ExitStatus", "UsageError", "build_parser", "main"]

DEFAULT_TRUTH = Path("var/sandbox/ground-truth.json")
DEFAULT_COLLECTOR_CONFIG = Path("var/sandbox/stormwatch.toml")
DEFAULT_STORE = "var/store"


def _options(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """The long options of ``command``, for naming them in an error."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub = action.choices[command]
            return sorted(
                o
                for a in sub._actions
                for o in a.option_strings
                if o.startswith("--") and o != "--help"
            )
    return []


def build_parser() -> argparse.ArgumentParser:
    from sandbox.world.scenarios import DEFAULT_SCENARIO
    from sandbox.world.traces import DEFAULT_TRACE_HOURS

    parser = _Parser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--traceback", action="store_true", help="show the full error on failure")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    endpoint = commands.add_parser("endpoint", help="start the local AWS endpoint on 127.0.0.1")
    endpoint.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    up = commands.add_parser(
        "up", help="start the endpoint, provision the simulated world, backfill, then run live"
    )
    up.add_argument("--scenario", default=DEFAULT_SCENARIO, help=f"default: {DEFAULT_SCENARIO}")
    up.add_argument("--days", type=float, default=7.0, help="days of history (default: 7)")
    up.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    up.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    up.add_argument(
        "--truth",
        type=Path,
        default=DEFAULT_TRUTH,
        help=f"ground truth JSON (default: {DEFAULT_TRUTH})",
    )
    up.add_argument("--nab", type=Path, help="also export the series and truth in NAB layout here")
    up.add_argument(
        "--collector-config",
        type=Path,
        default=DEFAULT_COLLECTOR_CONFIG,
        help=f"where to write the collectors' config (default: {DEFAULT_COLLECTOR_CONFIG})",
    )
    up.add_argument(
        "--trace-hours",
        type=float,
        default=DEFAULT_TRACE_HOURS,
        help=f"most recent hours of X-Ray traces to backfill (default: {DEFAULT_TRACE_HOURS:g})",
    )
    up.add_argument(
        "--trace-incidents",
        action="store_true",
        help="also trace every ground-truth incident window of the backfill (slower)",
    )
    commands.add_parser("scenarios", help="list the scenarios")
    return parser


def _install_stop() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def run_endpoint(port: int, out: TextIO) -> ExitStatus:
    from sandbox.endpoint import Endpoint

    stop = _install_stop()
    endpoint = Endpoint(port=port).start()
    try:
        print(f"AWS_ENDPOINT_URL={endpoint.url}", file=out, flush=True)
        stop.wait()
    finally:
        endpoint.stop()
    return ExitStatus.OK


def run_up(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    from sandbox.endpoint import Endpoint
    from sandbox.world.collector_config import collector_config
    from sandbox.world.ground_truth import export_nab
    from sandbox.world.runner import World
    from sandbox.world.scenarios import check_scenario

    try:
        check_scenario(args.scenario)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.days <= 0:
        raise UsageError(f"--days must be positive, got {args.days:g}")
    stop = _install_stop()
    endpoint = Endpoint(port=args.port).start()
    try:
        world = World(
            endpoint,
            scenario=args.scenario,
            seed=args.seed,
            days=args.days,
            trace_hours=args.trace_hours,
            trace_incidents=args.trace_incidents,
        )
        print(
            f"sandbox: backfilling {args.days:g} days of '{args.scenario}'...", file=err, flush=True
        )
        report = world.start()
        truth = world.write_truth(args.truth)
        print(f"sandbox: {report.summary()}", file=err)
        print(f"sandbox: ground truth in {truth}", file=err)
        args.collector_config.parent.mkdir(parents=True, exist_ok=True)
        args.collector_config.write_text(collector_config(world.accounts, DEFAULT_STORE))
        print(f"sandbox: collectors' config in {args.collector_config}", file=err)
        if args.nab:
            export_nab(world.backfill_results(), args.nab)
            print(f"sandbox: NAB corpus in {args.nab}", file=err)
        print(f"AWS_ENDPOINT_URL={endpoint.url}", file=out, flush=True)
        world.run_live(stop, truth_path=args.truth)
    finally:
        endpoint.stop()
    return ExitStatus.OK


def _known() -> tuple[Known, ...]:
    from sandbox.endpoint import PortInUseError

    return ((PortInUseError, ExitStatus.USAGE, "; choose another with --port N, or omit --port"),)


def _main(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        raise UsageError(
            f"unrecognized arguments: {' '.join(extra)} "
            f"(valid options for {args.command}: {', '.join(_options(parser, args.command))})"
        )
    if args.command == "endpoint":
        return run_endpoint(args.port, out)
    if args.command == "scenarios":
        from sandbox.world.scenarios import SCENARIOS

        for name in SCENARIOS:
            print(name, file=out)
        return ExitStatus.OK
    return run_up(args, out, err)


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    return run("sandbox", lambda: _main(raw, out, err), argv=raw, err=err, known=_known)


if __name__ == "__main__":
    sys.exit(main())
