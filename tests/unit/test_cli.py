"""The command lines' shared error mapping: one line on stderr and an exit status."""

from __future__ import annotations

import io

import pytest

import collectors.__main__ as collectors_cli
import sandbox.__main__ as sandbox_cli
from collectors.cli import ExitStatus, UsageError, run
from collectors.errors import ConfigError, StormwatchError

pytestmark = pytest.mark.unit


def outcome(body, argv=(), known=tuple):
    err = io.StringIO()
    status = run("prog", body, argv=list(argv), err=err, known=known)
    return status, err.getvalue()


def raising(exc):
    def body():
        raise exc

    return body


def test_success_returns_the_body_status() -> None:
    assert outcome(lambda: ExitStatus.PARTIAL) == (3, "")


def test_usage_errors_are_one_line_and_status_2_even_with_traceback() -> None:
    assert outcome(raising(UsageError("--days must be positive")), ["--traceback"]) == (
        2,
        "prog: --days must be positive\n",
    )


def test_known_errors_map_in_order_with_their_suffix() -> None:
    def known():
        return ((ConfigError, ExitStatus.USAGE, ""), (StormwatchError, 1, "; try again"))

    assert outcome(raising(ConfigError("bad.toml: key x")), known=known) == (
        2,
        "prog: bad.toml: key x\n",
    )
    assert outcome(raising(StormwatchError("store gone")), known=known) == (
        1,
        "prog: store gone; try again\n",
    )


def test_anything_else_names_its_type_and_the_traceback_option() -> None:
    assert outcome(raising(KeyError("x"))) == (
        1,
        "prog: KeyError: 'x' (run with --traceback for details)\n",
    )
    with pytest.raises(KeyError):
        outcome(raising(KeyError("x")), ["once", "--traceback"])


def test_known_is_only_consulted_on_failure() -> None:
    def known():
        raise AssertionError("imported eagerly")

    assert outcome(lambda: 0, known=known) == (0, "")


def test_collectors_cli_maps_its_errors(tmp_path) -> None:
    err = io.StringIO()
    assert collectors_cli.main(["bogus"], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("collectors: argument COMMAND: invalid choice: 'bogus'")
    err = io.StringIO()
    missing = tmp_path / "missing.toml"
    assert collectors_cli.main(["once", "--config", str(missing)], io.StringIO(), err) == 2
    [line] = err.getvalue().splitlines()
    assert line.startswith(f"collectors: {missing}: cannot read the config file")
    err = io.StringIO()
    args = ["backfill", "--days", "0", "--store", str(tmp_path / "store")]
    assert collectors_cli.main(args, io.StringIO(), err) == 2
    assert err.getvalue() == "collectors: --days must be positive, got 0\n"
    assert collectors_cli.ExitStatus.PARTIAL == 3


def test_sandbox_cli_maps_its_errors(monkeypatch) -> None:
    err = io.StringIO()
    assert sandbox_cli.main(["up", "--dayz", "3"], io.StringIO(), err) == 2
    assert err.getvalue().startswith("sandbox: unrecognized arguments: --dayz 3 (valid options")
    from sandbox.endpoint import PortInUseError

    def taken(port, out):
        raise PortInUseError(f"port {port} on 127.0.0.1 is already in use")

    monkeypatch.setattr(sandbox_cli, "run_endpoint", taken)
    err = io.StringIO()
    assert sandbox_cli.main(["endpoint", "--port", "9"], io.StringIO(), err) == 2
    assert err.getvalue() == (
        "sandbox: port 9 on 127.0.0.1 is already in use; "
        "choose another with --port N, or omit --port\n"
    )
