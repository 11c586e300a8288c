"""The ``[detection]`` section: derived from the settings dataclasses, checked at load time,
documented, shown in the example, and used by both entry points."""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from alerts.__main__ import main as alerts_main
from alerts.anomaly import AnomalySettings
from alerts.circuits import CircuitSettings
from alerts.detect import DetectSettings
from alerts.dlqs import DlqSettings
from alerts.errors import ErrorSettings
from alerts.retry_storms import RetryStormSettings
from alerts.settings import schema, settings_from_config
from collectors.config import ConfigValidationError, load_config

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "stormwatch.example.toml"
REFERENCE = ROOT / "docs" / "configuration.md"
NO_ENV: dict[str, str] = {}
DEFAULTS = DetectSettings()


def _load(tmp_path: Path, text: str) -> tuple[Path, DetectSettings]:
    path = tmp_path / "stormwatch.toml"
    path.write_text(text)
    return path, settings_from_config(load_config(path, env=NO_ENV))


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "stormwatch.toml"
    path.write_text(text)
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, env=NO_ENV)
    prefix = f"{path}: "
    assert all(str(p).startswith(prefix) for p in caught.value.problems)
    return [str(p).removeprefix(prefix) for p in caught.value.problems]


# -- the schema is the dataclasses ------------------------------------------------------------


def test_the_tables_mirror_detect_settings() -> None:
    top, *tables = schema()
    assert [k.name for k in top.keys] == ["lookback", "merge_gap"]
    assert [t.name for t in tables] == ["anomaly", "retry_storms", "errors", "circuits", "dlqs"]
    for table in tables:
        cls = type(getattr(DEFAULTS, table.name))
        names = [f.name for f in dataclasses.fields(cls)]
        # every field is either a key or named as set in code only, in the dataclass's order
        assert sorted([k.name for k in table.keys] + list(table.fixed)) == sorted(names)
        for key in table.keys:
            assert key.default == getattr(getattr(DEFAULTS, table.name), key.name)


def test_only_single_values_are_keys() -> None:
    tables = {t.name: t for t in schema()}
    assert "severity_rates" in tables["errors"].fixed
    assert "app" in tables["retry_storms"].fixed
    assert "watched" in tables["anomaly"].fixed
    assert "retention" in tables["dlqs"].fixed
    assert {k.kind for t in tables.values() for k in t.keys} == {
        "int",
        "float",
        "bool",
        "str",
        "duration",
    }


# -- defaults and values ----------------------------------------------------------------------


def test_no_section_gives_todays_defaults() -> None:
    config = load_config(None, env=NO_ENV)
    assert config.detection == {}
    assert settings_from_config(config) == DetectSettings()


def test_an_empty_section_gives_todays_defaults(tmp_path: Path) -> None:
    _, settings = _load(tmp_path, "[detection]\n[detection.errors]\n")
    assert settings == DetectSettings()


def test_loading_without_a_detection_section_does_not_import_the_detectors() -> None:
    code = (
        "import sys; from collectors.config import load_config; load_config(None, env={}); "
        "print(sorted(m for m in sys.modules if m == 'alerts' or m.startswith('alerts.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_partial_errors_table_keeps_min_periods_1(tmp_path: Path) -> None:
    _, settings = _load(tmp_path, "[detection.errors]\nrate_min = 0.1\n")
    assert settings.errors == ErrorSettings(min_periods=1, rate_min=0.1)
    assert settings.retry_storms == DEFAULTS.retry_storms  # min_periods=1 too
    assert dataclasses.replace(settings, errors=DEFAULTS.errors) == DEFAULTS


def test_min_periods_can_still_be_set(tmp_path: Path) -> None:
    _, settings = _load(tmp_path, "[detection.retry_storms]\nmin_periods = 2\n")
    assert settings.retry_storms == RetryStormSettings()


def test_every_table_parses_to_the_right_values(tmp_path: Path) -> None:
    path, settings = _load(
        tmp_path,
        """
[detection]
lookback = "2d12h"
merge_gap = 300

[detection.anomaly]
threshold = 0.75
min_periods = 3

[detection.retry_storms]
min_retries = 4          # an integer is fine for a float field
amplification_min = 2.5
sqs_gap_from_visibility = false
edge_max_gap = 1

[detection.errors]
period_s = 300
errors_min = 5.5
count_timed_out = false

[detection.circuits]
state_namespace = "Shop/Breakers"
cool_down_s = 30
flap_min_trips = 4

[detection.dlqs]
namespace = "Custom/SQS"
expiry_fraction = 0.9
default_retention_s = 1209600
""",
    )
    assert settings == DetectSettings(
        lookback=pd.Timedelta(hours=60),
        merge_gap=pd.Timedelta(minutes=5),
        anomaly=AnomalySettings(threshold=0.75, min_periods=3),
        retry_storms=RetryStormSettings(
            min_periods=1,
            min_retries=4.0,
            amplification_min=2.5,
            sqs_gap_from_visibility=False,
            edge_max_gap=1,
        ),
        errors=ErrorSettings(min_periods=1, period_s=300, errors_min=5.5, count_timed_out=False),
        circuits=CircuitSettings(
            state_namespace="Shop/Breakers", cool_down_s=30.0, flap_min_trips=4
        ),
        dlqs=DlqSettings(
            namespace="Custom/SQS", expiry_fraction=0.9, default_retention_s=1209600.0
        ),
    )
    assert isinstance(settings.retry_storms.min_retries, float)
    config = load_config(path, env=NO_ENV)
    # kept as written, durations in seconds, only what was given
    assert config.detection["lookback"] == 216000
    assert config.detection["errors"] == {
        "period_s": 300,
        "errors_min": 5.5,
        "count_timed_out": False,
    }
    assert config.origins["detection"] == str(path)


# -- problems: file, dotted key, expected form ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[detection.errors]\nrate_min = "high"\n',
            'detection.errors.rate_min: expected a number >= 0, got "high"',
        ),
        (
            "[detection.errors]\nmin_periods = 1.5\n",
            "detection.errors.min_periods: expected an integer >= 0, got 1.5",
        ),
        (
            '[detection.retry_storms]\nasync_retries = "yes"\n',
            'detection.retry_storms.async_retries: expected true or false, got "yes"',
        ),
        (
            "[detection.circuits]\nstate_metric = 7\n",
            "detection.circuits.state_metric: expected a non-empty string, got 7",
        ),
        (
            '[detection]\nlookback = "1 week"\n',
            "detection.lookback: expected a positive duration in whole seconds or a string like "
            '"90s", "10m", "1h30m", "1d", got "1 week"',
        ),
        (
            "[detection]\nlookback = 0\n",
            "detection.lookback: expected a positive duration in whole seconds or a string like "
            '"90s", "10m", "1h30m", "1d", got 0',
        ),
        (
            "[detection]\nmerge_gap = -5\n",
            'detection.merge_gap: expected a duration in whole seconds or a string like "90s", '
            '"10m", "1h30m", "1d", got -5',
        ),
        (
            "[detection]\nerrors = 3\n",
            "detection.errors: expected a table ([detection.errors] or detection.errors = "
            "{ ... }), got 3",
        ),
        (
            "detection = []\n",
            "detection: expected a table ([detection] or detection = { ... }), got an empty list",
        ),
        (
            "[detection.errors]\nmin_periods = 0\n",
            "detection.errors.min_periods: expected a value the errors detector accepts "
            "(min_periods must be at least 1), got 0",
        ),
        (
            "[detection.dlqs]\nexpiry_fraction = 1.5\n",
            "detection.dlqs.expiry_fraction: expected a value the dlqs detector accepts "
            "(expiry_fraction must be in (0, 1]), got 1.5",
        ),
    ],
    ids=[
        "float",
        "int",
        "bool",
        "str",
        "duration",
        "empty-lookback",
        "negative-duration",
        "subtable-not-a-table",
        "section-not-a-table",
        "dataclass-check",
        "dataclass-check-range",
    ],
)
def test_a_bad_value_names_the_dotted_key_and_the_expected_form(
    tmp_path: Path, text: str, problem: str
) -> None:
    assert _problems(tmp_path, text) == [problem]


def test_unknown_keys_get_did_you_mean(tmp_path: Path) -> None:
    assert _problems(
        tmp_path,
        "[detection]\nlookbak = 60\n[detection.error]\n[detection.errors]\nrate_mni = 0.1\n",
    ) == [
        'detection.lookbak: unknown key; did you mean "lookback"? expected one of: lookback, '
        "merge_gap, anomaly, retry_storms, errors, circuits, dlqs",
        'detection.error: unknown key; did you mean "errors"? expected one of: lookback, '
        "merge_gap, anomaly, retry_storms, errors, circuits, dlqs",
        'detection.errors.rate_mni: unknown key; did you mean "rate_min"? expected one of: '
        "period_s, errors_min, rate_min, min_periods, max_gap, count_timed_out, "
        "baseline_window_s, baseline_lag_s, prior_rate, prior_invocations, surprise_p, "
        "surprise_periods, sustained_p",
    ]


def test_a_field_set_in_code_only_says_so(tmp_path: Path) -> None:
    assert _problems(tmp_path, "[detection.errors]\nseverity_rates = [0.2, 0.4, 0.6]\n") == [
        "detection.errors.severity_rates: cannot be set in the config file (only numbers, "
        "true/false, strings and durations can); expected one of: period_s, errors_min, "
        "rate_min, min_periods, max_gap, count_timed_out, baseline_window_s, baseline_lag_s, "
        "prior_rate, prior_invocations, surprise_p, surprise_periods, sustained_p"
    ]


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        '[detection]\nlookback = "x"\n[detection.anomaly]\nthreshold = true\n'
        "[detection.dlqs]\ngrowth_min_periods = 0\n",
    )
    assert [p.split(":")[0] for p in problems] == [
        "detection.lookback",
        "detection.anomaly.threshold",
        "detection.dlqs.growth_min_periods",
    ]


def test_a_command_line_override_is_reported_against_the_command_line() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        load_config(None, env=NO_ENV, overrides={"detection": {"errors": {"rate_min": "x"}}})
    assert [(p.origin, p.key) for p in caught.value.problems] == [
        ("command line", "detection.errors.rate_min")
    ]


# -- the shipped example and the reference ----------------------------------------------------

_COMMENTED = re.compile(r"^# (\[detection[.\w]*\]|\w+ = .*)$")


def _example_detection_uncommented() -> str:
    text = EXAMPLE.read_text()
    block = text[text.index("# [detection]") :]
    return "\n".join(m.group(1) for line in block.splitlines() if (m := _COMMENTED.match(line)))


def test_example_loads_with_todays_defaults() -> None:
    assert settings_from_config(load_config(EXAMPLE, env=NO_ENV)) == DetectSettings()


def test_example_shows_every_key_at_its_default(tmp_path: Path) -> None:
    text = _example_detection_uncommented()
    path = tmp_path / "uncommented.toml"
    path.write_text(text)
    detection = load_config(path, env=NO_ENV).detection  # valid, once uncommented
    detectors = [t.name for t in schema()[1:]]
    for table in schema():
        given = detection.get(table.name, {}) if table.name else detection
        expected = [k.name for k in table.keys] + ([] if table.name else detectors)
        assert sorted(given) == sorted(expected), table.dotted
    example = settings_from_config(load_config(path, env=NO_ENV))
    # default_retention_s has no default (None) to show; the example gives a sample value.
    sample = dataclasses.replace(example.dlqs, default_retention_s=None)
    assert dataclasses.replace(example, dlqs=sample) == DetectSettings()


def _reference_tables() -> dict[str, str]:
    text = REFERENCE.read_text()
    sections = re.split(r"^### ", text, flags=re.M)
    out: dict[str, str] = {}
    for section in sections:
        heading = re.match(r"`\[(detection[.\w]*)\]`", section)
        if heading:
            out[heading.group(1)] = section.split("\n## ")[0]
    return out


def _rows(section: str) -> dict[str, str]:
    """key → its default cell, for each row of the section's table."""
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0].strip("`")] = cells[2]
    return rows


def test_reference_documents_every_settings_field() -> None:
    tables = _reference_tables()
    assert sorted(tables) == sorted(t.dotted for t in schema())
    for table in schema():
        section = tables[table.dotted]
        assert sorted(_rows(section)) == sorted(k.name for k in table.keys), table.dotted
        assert [f for f in table.fixed if f"`{f}`" not in section] == [], table.dotted


def test_reference_defaults_are_the_code_defaults(tmp_path: Path) -> None:
    lines: list[str] = []
    unset: list[str] = []
    for table in schema():
        lines.append(f"[{table.dotted}]")
        for name, default in _rows(_reference_tables()[table.dotted]).items():
            if default == "none":
                unset.append(name)
            else:
                lines.append(f"{name} = {default.strip('`')}")
    path = tmp_path / "reference.toml"
    path.write_text("\n".join(lines))
    assert settings_from_config(load_config(path, env=NO_ENV)) == DetectSettings()
    assert unset == [k.name for t in schema() for k in t.keys if k.default is None]
    assert tomllib.loads(path.read_text())  # the cells are TOML values


# -- entry points -----------------------------------------------------------------------------


def _summary_window(line: str) -> pd.Timedelta:
    match = re.match(r"detect: (\S+ \S+) → (\S+ \S+) UTC", line)
    assert match, line
    return pd.Timestamp(match.group(2)) - pd.Timestamp(match.group(1))


def test_alerts_detect_uses_the_configured_lookback(tmp_path: Path) -> None:
    config = tmp_path / "stormwatch.toml"
    config.write_text('[detection]\nlookback = "2d"\n')
    store = tmp_path / "store"
    argv = ["detect", "--config", str(config), "--store", str(store), "--dry-run"]
    argv += ["--now", "2026-11-10T10:00Z"]
    out, err = io.StringIO(), io.StringIO()
    assert alerts_main(argv, out, err) == 0, err.getvalue()
    assert out.getvalue().startswith("detect: 2026-11-08 10:00 → 2026-11-10 10:00 UTC")
    out = io.StringIO()
    assert alerts_main([*argv, "--days", "0.5"], out, err) == 0, err.getvalue()
    assert out.getvalue().startswith("detect: 2026-11-09 22:00 → 2026-11-10 10:00 UTC")


def test_alerts_detect_without_config_reads_seven_days(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STORMWATCH_CONFIG", raising=False)
    argv = ["detect", "--store", str(tmp_path / "store"), "--dry-run", "--now", "2026-11-10"]
    out, err = io.StringIO(), io.StringIO()
    assert alerts_main(argv, out, err) == 0, err.getvalue()
    assert _summary_window(out.getvalue().splitlines()[0]) == pd.Timedelta(days=7)


def test_alerts_detect_reports_a_bad_section_as_usage(tmp_path: Path) -> None:
    config = tmp_path / "stormwatch.toml"
    config.write_text("[detection.errors]\nrate_mni = 0.1\n")
    err = io.StringIO()
    status = alerts_main(
        ["detect", "--config", str(config), "--store", str(tmp_path)], io.StringIO(), err
    )
    assert status == 2
    assert 'detection.errors.rate_mni: unknown key; did you mean "rate_min"?' in err.getvalue()


def test_collectors_run_detect_uses_the_configured_settings(monkeypatch, tmp_path: Path) -> None:
    import signal

    from collectors.__main__ import main as collectors_main
    from collectors.cycle import Collector

    class Report:
        failed = ()

        def summary(self) -> str:
            return "cycle 1: fine"

    def one_cycle(self, stop, *, on_cycle=None) -> None:  # instead of looping
        on_cycle(Report())

    monkeypatch.setattr(Collector, "run", one_cycle)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    config = tmp_path / "stormwatch.toml"
    config.write_text('[detection]\nlookback = "3h"\n')
    argv = ["run", "--detect", "--config", str(config), "--store", str(tmp_path / "store")]
    out, err = io.StringIO(), io.StringIO()
    assert collectors_main(argv, out, err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0] == "cycle 1: fine"
    assert _summary_window(lines[1]) == pd.Timedelta(hours=3)
