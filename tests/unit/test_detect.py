"""`alerts detect`: every detector isolated, incidents written idempotently, the CLI."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import alerts.detect as detect_module
from alerts.__main__ import main
from alerts.detect import DetectSettings, detect, run_detectors
from collectors.store import Store

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2026-11-10T00:00Z")
N = 600


def lambda_rows(metric: str, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account": "111111111111",
            "region": "us-east-1",
            "namespace": "AWS/Lambda",
            "metric": metric,
            "dimensions": "FunctionName=checkout",
            "stat": "Sum",
            "period_s": 60,
            "ts": pd.date_range(T0, periods=len(values), freq="min"),
            "resource": "lambda:checkout",
            "value": values.astype(float),
        }
    )


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(str(tmp_path / "store"))
    invocations = np.full(N, 100.0)
    errors = np.zeros(N)
    errors[500:510] = 40.0  # ten minutes of 40 % errors
    frame = pd.concat([lambda_rows("Invocations", invocations), lambda_rows("Errors", errors)])
    frame["ts"] = frame["ts"].astype("datetime64[ms, UTC]")
    store.write("metrics", frame)
    return store


def test_detect_writes_incidents_once(store: Store) -> None:
    now = T0 + pd.Timedelta(minutes=N)
    report = detect(store, now=now)
    assert report.detection.errors == {}
    kinds = {i.kind for i in report.incidents}
    assert "function-errors" in kinds
    [errors] = [i for i in report.incidents if i.kind == "function-errors"]
    assert errors.start == T0 + pd.Timedelta(minutes=500)
    assert errors.detected_at <= errors.start + pd.Timedelta(minutes=2)
    stored = store.read("incidents")
    assert len(stored) == len(report.incidents)
    detect(store, now=now)  # the same data again: the same rows, nothing added
    again = store.read("incidents").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored.sort_values("id").reset_index(drop=True), again)


def test_one_failing_detector_does_not_stop_the_others(monkeypatch, store: Store) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("bad rule")

    monkeypatch.setattr(detect_module, "detect_circuits", broken)
    frames = {"metrics": store.read("metrics")}
    result = run_detectors(frames, now=T0 + pd.Timedelta(minutes=N), settings=DetectSettings())
    assert result.errors == {"circuits": "RuntimeError: bad rule"}
    assert any(f.kind == "function-errors" for f in result.findings)


def test_cli_reports_incidents_and_partial_failures(monkeypatch, store: Store) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = main(
        ["detect", "--store", store.location, "--now", "2026-11-10T10:00Z", "--dry-run"], out, err
    )
    assert status == 0, err.getvalue()
    assert "function-errors" in out.getvalue()
    assert store.read("incidents").empty  # --dry-run writes nothing
    monkeypatch.setattr(detect_module, "detect_dlqs", lambda *a, **k: 1 / 0)
    status = main(["detect", "--store", store.location, "--dry-run"], out, err)
    assert status == 3
    assert "detector dlqs failed: ZeroDivisionError" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["detect", "--days", "0"], "--days must be positive"),
        (["detect", "--now", "yesterday-ish"], "--now: not a time"),
        (["detect", "--bogus"], "unrecognized arguments"),
    ],
)
def test_cli_bad_usage_is_one_line(argv: list[str], message: str, tmp_path) -> None:
    err = io.StringIO()
    status = main([*argv, "--store", str(tmp_path)], io.StringIO(), err)
    assert status == 2
    assert message in err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_the_collectors_loop_can_detect_after_each_cycle(store: Store) -> None:
    from collectors.__main__ import after_cycle, build_parser

    assert build_parser().parse_args(["run", "--detect"]).detect is True

    class Report:
        def summary(self) -> str:
            return "cycle 1: fine"

    out = io.StringIO()
    after_cycle(store, out, detect=True)(Report())
    lines = out.getvalue().splitlines()
    assert lines[0] == "cycle 1: fine"
    assert lines[1].startswith("detect: ")
    assert not store.read("incidents").empty
    quiet = io.StringIO()
    after_cycle(store, quiet, detect=False)(Report())
    assert quiet.getvalue() == "cycle 1: fine\n"


def test_a_failing_detection_does_not_stop_the_loop(monkeypatch, store: Store) -> None:
    from collectors.__main__ import after_cycle

    monkeypatch.setattr(detect_module, "read_frames", lambda *a, **k: 1 / 0)

    class Report:
        def summary(self) -> str:
            return "cycle"

    out = io.StringIO()
    after_cycle(store, out, detect=True)(Report())
    assert "detect failed: ZeroDivisionError" in out.getvalue()
