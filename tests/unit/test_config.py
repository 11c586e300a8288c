"""collectors.config: fixtures with exact messages, precedence with an injected environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from collectors.config import (
    AccountConfig,
    AwsOptions,
    Config,
    ConfigValidationError,
    DiscoveryFilters,
    Intervals,
    load_config,
)
from collectors.errors import ConfigError, StormwatchError

pytestmark = pytest.mark.unit

CASES = Path(__file__).parent / "config_cases"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "stormwatch.example.toml"
NO_ENV: dict[str, str] = {}


def _expected_message(path: Path) -> str:
    lines = [
        line.removeprefix("# expect:").removeprefix(" ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    ]
    assert lines, f"{path.name} has no '# expect:' line"
    return "\n".join(lines).replace("{file}", str(path))


BAD = sorted(CASES.glob("*.bad.toml"))
OK = sorted(CASES.glob("*.ok.toml"))


@pytest.mark.parametrize("path", BAD, ids=[p.name.removesuffix(".bad.toml") for p in BAD])
def test_bad_config_fails_with_one_exact_message(path: Path) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, env=NO_ENV)
    assert str(caught.value) == _expected_message(path)
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, StormwatchError)


# What each *.ok.toml must load to, beyond loading without an error.
OK_CHECKS: dict[str, Any] = {
    "empty": lambda c: c == Config(path=c.path, origins={}),
    "accounts": lambda c: (
        c.accounts
        == (
            AccountConfig("prod", profile="prod-sso"),
            AccountConfig(
                "staging",
                account_id="222222222222",
                profile="ops",
                role_arn="arn:aws:iam::222222222222:role/path/stormwatch-read-only",
                external_id="stormwatch-7f3a9c",
                role_session_name="stormwatch-ci",
                regions=("eu-central-1",),
            ),
        )
        and [(a.name, r) for a, r in c.targets()]
        == [("prod", "us-east-1"), ("prod", "eu-west-1"), ("staging", "eu-central-1")]
    ),
    "breakers": lambda c: (
        [(b.table, b.key_attr, b.state_attr, b.failure_attr, b.updated_attr) for b in c.breakers]
        == [
            ("circuit-breakers", "breaker_id", "state", "failure_count", "updated_at"),
            ("cb-state", "circuitName", "circuitState", None, "updated_at"),
        ]
        and c.breakers[1].state_values["tripped"] == "OPEN"
        and c.breakers[1].state_values["half open"] == "HALF_OPEN"
        and c.breakers[1].account == "prod"
        and c.breakers[1].region == "eu-west-1"
    ),
    "durations": lambda c: (
        c.intervals
        == Intervals(
            metrics=120,
            queues=90,
            breakers=90,
            xray=3600,
            inventory=86400,
            overlap=0,
            lookback=216000,
            backfill_chunk=5400,
        )
        and c.aws
        == AwsOptions(
            retry_mode="standard",
            max_attempts=3,
            connect_timeout=2.0,
            read_timeout=12.5,
            concurrency=32,
        )
    ),
    "s3_store": lambda c: (
        c.store == "s3://my-observability-bucket/stormwatch"
        and c.discovery == DiscoveryFilters(("orders-",), {"stormwatch:watch": "*"})
    ),
    "relative_store": lambda c: c.store == str(CASES / "data" / "stormwatch"),
}


@pytest.mark.parametrize("path", OK, ids=[p.name.removesuffix(".ok.toml") for p in OK])
def test_ok_config_loads(path: Path) -> None:
    config = load_config(path, env=NO_ENV)
    assert config.path == path
    check = OK_CHECKS[path.name.removesuffix(".ok.toml")]
    assert check(config), config


def test_every_ok_case_has_a_check() -> None:
    assert {p.name.removesuffix(".ok.toml") for p in OK} == set(OK_CHECKS)


# -- the shipped example ---------------------------------------------------------------------


def test_example_config_loads_with_everything_it_documents() -> None:
    config = load_config(EXAMPLE, env=NO_ENV)
    prod, staging = config.accounts
    assert (prod.name, prod.profile, prod.role_arn) == ("prod", "prod-read-only", None)
    assert staging.role_arn == "arn:aws:iam::222222222222:role/stormwatch-read-only"
    assert staging.external_id and staging.account_id == "222222222222"
    assert config.regions == ("us-east-1", "eu-west-1")
    first, second = config.breakers
    assert (first.state_attr, second.state_attr) == ("status", "circuitState")
    assert first.state_of("HALF") == first.state_of("HALF-OPEN") == "HALF_OPEN"
    assert second.state_of("tripped") == "OPEN"
    assert config.breaker_sources_for(prod, "us-east-1") == (first,)
    assert config.breaker_sources_for(prod, "eu-west-1") == ()
    assert config.breaker_sources_for(staging, "us-east-1") == (second,)
    assert config.intervals.overlap == 600
    assert config.discovery.matches("orders-api", {"team": "commerce", "stormwatch:watch": "y"})
    assert not config.discovery.matches("orders-api", {"team": "commerce"})
    assert not config.discovery.matches("billing", {"team": "commerce", "stormwatch:watch": "y"})
    assert config.store == str(ROOT / "stormwatch-data")


def test_example_sets_every_key_the_loader_knows() -> None:
    text = EXAMPLE.read_text()
    for section in (AccountConfig, Intervals, AwsOptions):
        for name in section.__dataclass_fields__:
            assert f"\n{name} =" in text or f"# {name} =" in text, name


# -- precedence: command line > environment > file > default ----------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "stormwatch.toml"
    path.write_text(
        'regions = ["eu-west-1", "eu-central-1"]\n'
        'store = "from-file"\n'
        "[[accounts]]\n"
        'name = "prod"\n'
        "[[accounts]]\n"
        'name = "staging"\n'
        'profile = "staging-sso"\n'
        'regions = ["ap-southeast-2"]\n'
        "[intervals]\n"
        "metrics = 120\n"
        "queues = 90\n"
    )
    return path


def test_defaults_without_any_file_or_environment() -> None:
    config = load_config(None, env=NO_ENV)
    assert config.accounts == (AccountConfig("default"),)
    assert config.regions == ("us-east-1",)
    assert config.store == "stormwatch-data"
    assert config.path is None
    assert config.targets() == ((AccountConfig("default"), "us-east-1"),)


def test_no_file_uses_the_default_chain_and_environment_region() -> None:
    env = {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_PROFILE": "dev"}
    config = load_config(None, env=env)
    assert config.accounts == (AccountConfig("default", profile="dev"),)
    assert config.regions == ("eu-west-2",)


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-3"),
        ({"AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2"),
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2"),
        ({}, "us-east-1"),
    ],
    ids=["AWS_REGION-first", "AWS_DEFAULT_REGION", "empty-is-unset", "default"],
)
def test_region_from_environment(env: dict[str, str], region: str) -> None:
    assert load_config(None, env=env).regions == (region,)


def test_file_beats_default(config_file: Path) -> None:
    config = load_config(config_file, env=NO_ENV)
    assert config.regions == ("eu-west-1", "eu-central-1")
    assert config.store == str(config_file.parent / "from-file")
    assert config.intervals.metrics == 120
    assert config.origins["regions"] == str(config_file)


def test_environment_beats_file(config_file: Path) -> None:
    env = {
        "STORMWATCH_STORE": "s3://env-bucket/sw",
        "AWS_REGION": "us-west-2",
        "AWS_PROFILE": "env-profile",
    }
    config = load_config(config_file, env=env)
    assert config.store == "s3://env-bucket/sw"
    assert config.regions == ("us-west-2",)
    prod, staging = config.accounts
    # AWS_PROFILE fills in where the file names no profile; a named one is more specific.
    assert prod.profile == "env-profile"
    assert staging.profile == "staging-sso"
    # An account's own regions are more specific than the top-level default.
    assert [(a.name, r) for a, r in config.targets()] == [
        ("prod", "us-west-2"),
        ("staging", "ap-southeast-2"),
    ]
    assert config.origins["store"] == "environment variable STORMWATCH_STORE"
    assert config.origins["regions"] == "environment variable AWS_REGION"


def test_relative_store_from_environment_is_relative_to_the_working_directory(
    config_file: Path,
) -> None:
    config = load_config(config_file, env={"STORMWATCH_STORE": "here"})
    assert config.store == "here"


def test_command_line_beats_environment(config_file: Path) -> None:
    env = {"STORMWATCH_STORE": "/env/store", "AWS_REGION": "us-west-2"}
    overrides = {"store": "/cli/store", "regions": ["sa-east-1"], "intervals": {"metrics": 30}}
    config = load_config(config_file, env=env, overrides=overrides)
    assert config.store == "/cli/store"
    assert config.regions == ("sa-east-1",)
    assert config.intervals.metrics == 30
    assert config.intervals.queues == 90  # the file's, untouched by the override
    assert config.origins["store"] == "command line"


def test_command_line_none_means_not_given(config_file: Path) -> None:
    env = {"STORMWATCH_STORE": "/env/store"}
    config = load_config(config_file, env=env, overrides={"store": None, "regions": None})
    assert config.store == "/env/store"
    assert config.regions == ("eu-west-1", "eu-central-1")


def test_config_path_argument_beats_STORMWATCH_CONFIG(config_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('regions = ["ca-central-1"]\n')
    assert load_config(None, env={"STORMWATCH_CONFIG": str(other)}).regions == ("ca-central-1",)
    config = load_config(config_file, env={"STORMWATCH_CONFIG": str(other)})
    assert config.path == config_file


def test_missing_file_names_where_the_path_came_from(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(None, env={"STORMWATCH_CONFIG": str(missing)})
    assert str(caught.value) == (
        f"STORMWATCH_CONFIG={missing}: cannot read the config file (No such file or directory); "
        "pass an existing TOML file with --config or STORMWATCH_CONFIG"
    )


def test_invalid_environment_value_is_reported_against_the_variable() -> None:
    env = {"AWS_REGION": "mars-1", "STORMWATCH_STORE": "ftp://x"}
    with pytest.raises(ConfigValidationError) as caught:
        load_config(None, env=env)
    assert str(caught.value) == (
        "invalid configuration (2 problems):\n"
        "  environment variable AWS_REGION: regions[0]: expected an AWS region name like "
        '"eu-west-1", got "mars-1"\n'
        "  environment variable STORMWATCH_STORE: store: expected a local folder or "
        '"s3://bucket/prefix", got "ftp://x"'
    )


def test_invalid_command_line_value_is_reported_against_the_command_line(
    config_file: Path,
) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        load_config(config_file, env=NO_ENV, overrides={"intervals": {"metrics": "soon"}})
    assert [(p.origin, p.key) for p in caught.value.problems] == [
        ("command line", "intervals.metrics")
    ]


def test_config_is_frozen() -> None:
    config = load_config(None, env=NO_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.store = "elsewhere"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.accounts[0].profile = "x"  # type: ignore[misc]


def test_account_lookup_names_the_configured_accounts(config_file: Path) -> None:
    config = load_config(config_file, env=NO_ENV)
    assert config.account("staging").profile == "staging-sso"
    with pytest.raises(ConfigError, match=r"no account named .dev.*accounts: prod, staging"):
        config.account("dev")


@pytest.mark.parametrize(
    ("name", "tags", "ok"),
    [
        ("orders-api", {"team": "a"}, True),
        ("orders-api", {"team": "b"}, False),
        ("orders-api", {}, False),
        ("billing", {"team": "a"}, False),
    ],
)
def test_discovery_filters(name: str, tags: dict[str, str], ok: bool) -> None:
    filters = DiscoveryFilters(name_prefixes=("orders-", "checkout-"), tags={"team": "a"})
    assert filters.matches(name, tags) is ok


def test_empty_discovery_filters_keep_everything() -> None:
    assert DiscoveryFilters().matches("anything", None)


def test_reference_documents_every_key() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    sections = (AccountConfig, DiscoveryFilters, Intervals, AwsOptions)
    keys = [name for section in sections for name in section.__dataclass_fields__]
    keys += ["regions", "store", "table", "key_attr", "state_attr", "state_values"]
    assert [k for k in keys if f"| `{k}` |" not in reference] == []
