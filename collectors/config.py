"""stormwatch's configuration: one TOML file, the environment and the command line, checked once.

:func:`load_config` merges four layers, key by key, highest first:

1. the command line (``overrides``, shaped like the file; ``None`` values mean "not given"),
2. the environment: ``STORMWATCH_STORE`` → ``store``; ``AWS_REGION``, else ``AWS_DEFAULT_REGION``
   → ``regions`` (the top-level default; an account's own ``regions`` are more specific and
   stay); ``AWS_PROFILE`` → the ``profile`` of every account that names none,
3. the TOML file (``path``, else ``STORMWATCH_CONFIG``; none at all is fine),
4. the defaults in the dataclasses below.

With no ``[[accounts]]`` there is one account, ``default``, whose credentials come from botocore's
default chain, so the sandbox is reached by ``AWS_ENDPOINT_URL`` alone.

Every problem is found at load time and reported together in one :class:`ConfigValidationError`
whose lines each name the origin (the file, the environment variable or the command line), the
key as a dotted path (``accounts[1].role_arn``) and what was expected. Durations are whole
seconds; in the file they may also be written ``"90s"``, ``"10m"``, ``"1h30m"``, ``"1d"``.

``[detection]`` tunes ``alerts detect``. Its keys are not listed here: they are the single-value
fields of the detectors' settings dataclasses, and :mod:`alerts.settings` derives them. That
module is imported only when the file has a ``[detection]`` table (collectors do not otherwise
import the detectors); the values are checked here like every other key and kept on
:attr:`Config.detection` as written, and ``alerts.settings.settings_from_config`` makes the
``DetectSettings``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from collectors.breakers import BreakerSource
from collectors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from alerts.settings import Table

ENV_CONFIG: Final = "STORMWATCH_CONFIG"
ENV_STORE: Final = "STORMWATCH_STORE"
ENV_REGIONS: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")  # boto3 itself reads only the latter
ENV_PROFILE: Final = "AWS_PROFILE"
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_STORE: Final = "stormwatch-data"
DEFAULT_ACCOUNT: Final = "default"
DEFAULT_SESSION_NAME: Final = "stormwatch"
BREAKER_STATES: Final = ("CLOSED", "OPEN", "HALF_OPEN")
__all__ = [
    "AccountConfig",
    "AwsOptions",
    "BreakerSource",
    "Config",
    "ConfigValidationError",
    "DiscoveryFilters",
    "Intervals",
    "Problem",
    "load_config",
]
COMMAND_LINE: Final = "command line"

RetryMode = Literal["adaptive", "standard"]


# --------------------------------------------------------------------------------------------
# The configuration, as frozen dataclasses. The signatures are the documentation of defaults.


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One AWS account to collect from.

    Credentials: ``profile`` (botocore profile, including SSO profiles) or the default chain;
    with ``role_arn`` those are the source credentials from which the role is assumed (with
    ``external_id`` when the role's trust policy asks for one). ``account_id`` is taken from
    ``role_arn`` when not given, and otherwise learnt at run time with sts:GetCallerIdentity.
    Empty ``regions`` means the configuration's top-level ``regions``.
    """

    name: str
    account_id: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    role_session_name: str = DEFAULT_SESSION_NAME
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DiscoveryFilters:
    """Which resources discovery keeps: a name starting with one of ``name_prefixes`` (any name
    when empty) and carrying every tag in ``tags`` (value ``"*"``: the tag with any value)."""

    name_prefixes: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    def name_ok(self, name: str) -> bool:
        """Whether ``name`` starts with one of the prefixes (any name when there are none)."""
        return not self.name_prefixes or name.startswith(self.name_prefixes)

    def tags_ok(self, tags: Mapping[str, str]) -> bool:
        """Whether ``tags`` carry every required tag (``"*"``: with any value)."""
        return all(k in tags and (v == "*" or tags[k] == v) for k, v in self.tags.items())

    def matches(self, name: str, tags: Mapping[str, str] | None = None) -> bool:
        """Whether a resource named ``name`` with ``tags`` passes both filters."""
        return self.name_ok(name) and self.tags_ok(tags or {})


@dataclass(frozen=True, slots=True)
class Intervals:
    """How often each source is collected, and how metric windows are read; all in seconds.

    ``overlap``: each metrics pull re-reads this much before the series' watermark, because
    CloudWatch revises recent datapoints. ``lookback``: how far back the first pull of a series
    reads. ``backfill_chunk``: the window one ``backfill`` step collects and commits.
    """

    metrics: int = 60
    queues: int = 60
    breakers: int = 30
    xray: int = 300
    inventory: int = 3600
    overlap: int = 600
    lookback: int = 3 * 3600
    backfill_chunk: int = 6 * 3600


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """How clients talk to AWS (see ``collectors.aws``).

    ``max_attempts`` is botocore's total attempts per request (first try included) in
    ``retry_mode``; ``backoff_*`` drive stormwatch's own capped, fully jittered backoff around
    whole steps, for failures that outlast botocore's retries. ``concurrency`` is the number of
    collection workers; client connection pools are sized for it. Timeouts are in seconds.
    """

    retry_mode: RetryMode = "adaptive"
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    concurrency: int = 8
    backoff_attempts: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 30.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. ``origins`` says where each top-level key's value came from.

    ``detection``: the validated ``[detection]`` values as written (durations in whole seconds),
    e.g. ``{"lookback": 86400, "errors": {"rate_min": 0.1}}``; only the keys that were given.
    """

    accounts: tuple[AccountConfig, ...] = (AccountConfig(DEFAULT_ACCOUNT),)
    regions: tuple[str, ...] = (DEFAULT_REGION,)
    discovery: DiscoveryFilters = field(default_factory=DiscoveryFilters)
    breakers: tuple[BreakerSource, ...] = ()
    intervals: Intervals = field(default_factory=Intervals)
    aws: AwsOptions = field(default_factory=AwsOptions)
    detection: dict[str, Any] = field(default_factory=dict)
    store: str = DEFAULT_STORE
    path: Path | None = None
    origins: dict[str, str] = field(default_factory=dict)

    def account(self, name: str) -> AccountConfig:
        """The account called ``name``; ConfigError lists the configured names."""
        for account in self.accounts:
            if account.name == name:
                return account
        names = ", ".join(a.name for a in self.accounts)
        raise ConfigError(f"no account named {name!r} in the configuration; accounts: {names}")

    def regions_for(self, account: AccountConfig) -> tuple[str, ...]:
        """The regions collected in ``account``: its own, else the top-level ``regions``."""
        return account.regions or self.regions

    def targets(self) -> tuple[tuple[AccountConfig, str], ...]:
        """Every (account, region) pair to collect, in configuration order."""
        return tuple((a, r) for a in self.accounts for r in self.regions_for(a))

    def breaker_sources_for(self, account: AccountConfig, region: str) -> tuple[BreakerSource, ...]:
        """The breaker tables to read in ``account`` and ``region``."""
        return tuple(
            s
            for s in self.breakers
            if s.account in (None, account.name) and s.region in (None, region)
        )


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid value: where it came from, its dotted key and what was expected."""

    origin: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.key}: {self.message}" if self.key else self.message


class ConfigValidationError(ConfigError):
    """Every problem found while loading, in one message (one line per problem)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        if len(problems) == 1:
            message = str(problems[0])
        else:
            lines = "\n".join(f"  {p}" for p in problems)
            message = f"invalid configuration ({len(problems)} problems):\n{lines}"
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# Loading


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge and validate the configuration.

    Parameters
    ----------
    path
        The TOML file given on the command line (``--config``); ``None`` falls back to
        ``STORMWATCH_CONFIG``, and to no file at all.
    env
        The environment to read (injectable for tests).
    overrides
        Command-line values shaped like the file, e.g. ``{"store": "s3://b/p",
        "regions": ["eu-west-1"]}``; ``None`` values are ignored.

    Raises
    ------
    ConfigValidationError
        Naming the origin, the dotted key and the expected form of every invalid value.

    Examples
    --------
    >>> load_config(None, env={"AWS_REGION": "eu-west-1"}).targets()[0][1]
    'eu-west-1'
    """
    file_path, file_origin = _config_path(path, env)
    layers: list[tuple[str, dict[str, Any]]] = []
    if file_path is not None:
        layers.append((str(file_path), _read_toml(file_path, file_origin)))
    layers.append(("", _env_layer(env)))
    if overrides:
        layers.append((COMMAND_LINE, _drop_none(dict(overrides))))

    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, layer in layers:
        for key, value in layer.items():
            label = origin or _ENV_ORIGIN.get(key, "environment")
            if key == "regions" and not origin:
                label = _env_region_origin(env)
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                # A table merges key by key; each key keeps the origin of the layer it came from.
                merged[key] = {**merged[key], **value}
                origins.update({f"{key}.{sub}": label for sub in value})
            else:
                merged[key] = value
                origins = {k: v for k, v in origins.items() if not k.startswith(f"{key}.")}
                origins[key] = label

    checker = _Checker(origins, default_origin=str(file_path) if file_path else COMMAND_LINE)
    config = checker.config(merged, file_path=file_path, env=env)
    if checker.problems:
        raise ConfigValidationError(checker.problems)
    return config


_ENV_ORIGIN: Final = {"store": f"environment variable {ENV_STORE}"}


def _env_region_origin(env: Mapping[str, str]) -> str:
    name = next(n for n in ENV_REGIONS if env.get(n))
    return f"environment variable {name}"


def _config_path(path: str | Path | None, env: Mapping[str, str]) -> tuple[Path | None, str]:
    if path is not None and str(path) != "":
        return Path(path).expanduser(), str(path)
    from_env = env.get(ENV_CONFIG, "")
    if from_env:
        return Path(from_env).expanduser(), f"{ENV_CONFIG}={from_env}"
    return None, ""


def _read_toml(path: Path, origin: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigValidationError(
            [
                Problem(
                    origin,
                    "",
                    f"{origin}: cannot read the config file ({reason}); pass an existing TOML "
                    f"file with --config or {ENV_CONFIG}",
                )
            ]
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigValidationError(
            [Problem(str(path), "", f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8")]
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigValidationError(
            [Problem(str(path), "", f"{path}: invalid TOML: {exc}")]
        ) from exc


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    if env.get(ENV_STORE):
        layer["store"] = env[ENV_STORE]
    for name in ENV_REGIONS:
        if env.get(name):
            layer["regions"] = [env[name]]
            break
    return layer


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        out[key] = _drop_none(item) if isinstance(item, dict) else item
    return out


# --------------------------------------------------------------------------------------------
# Validation: each parser returns a value (or a default after recording a problem), so one pass
# finds every problem.

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

EXAMPLE_ROLE_ARN: Final = "arn:aws:iam::123456789012:role/stormwatch-read-only"

T = TypeVar("T")

_TOP_KEYS: Final = (
    "accounts",
    "regions",
    "store",
    "discovery",
    "breakers",
    "intervals",
    "aws",
    "detection",
)
_ACCOUNT_KEYS: Final = (
    "name",
    "account_id",
    "profile",
    "role_arn",
    "external_id",
    "role_session_name",
    "regions",
)
_DISCOVERY_KEYS: Final = ("name_prefixes", "tags")
_BREAKER_ATTRS: Final = (
    "key_attr",
    "state_attr",
    "failure_attr",
    "success_attr",
    "transition_attr",
    "updated_attr",
)
_BREAKER_KEYS: Final = ("table", "account", "region", *_BREAKER_ATTRS, "state_values")
_INTERVAL_KEYS: Final = tuple(Intervals.__dataclass_fields__)
_AWS_KEYS: Final = tuple(AwsOptions.__dataclass_fields__)


class _Checker:
    def __init__(self, origins: Mapping[str, str], default_origin: str) -> None:
        self.origins = origins
        self.default_origin = default_origin
        self.problems: list[Problem] = []

    # -- reporting ------------------------------------------------------------------------

    def origin(self, key: str) -> str:
        probe = key
        while probe:
            if probe in self.origins:
                return self.origins[probe]
            probe = re.sub(r"(\[\d+\]|\.[^.\[]+|^[^.\[]+)$", "", probe)
        return self.default_origin

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.origin(key), key, message))

    def expected(self, key: str, what: str, got: Any) -> None:
        self.fail(key, f"expected {what}, got {_show(got)}")

    def known_keys(self, key: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for name in table:
            if name in allowed:
                continue
            dotted = f"{key}.{name}" if key else name
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            self.fail(dotted, f"unknown key; {hint}expected one of: {', '.join(allowed)}")

    # -- scalars --------------------------------------------------------------------------

    def string(
        self, key: str, value: Any, what: str, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            self.expected(key, what, value)
            return None
        return value

    def optional_string(
        self, key: str, table: Mapping[str, Any], name: str, what: str, pattern: Any = None
    ) -> str | None:
        if name not in table:
            return None
        return self.string(f"{key}.{name}", table[name], what, pattern)

    def integer(self, key: str, value: Any, minimum: int, what: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.expected(key, what, value)
            return None
        return value

    def number(self, key: str, value: Any, minimum: float, what: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.expected(key, what, value)
            return None
        return float(value)

    def duration(self, key: str, value: Any, minimum: int) -> int | None:
        what = (
            f"{'a positive duration' if minimum else 'a duration'} in whole seconds or a string "
            'like "90s", "10m", "1h30m", "1d"'
        )
        seconds: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str) and value and (m := _DURATION.match(value.strip())):
            d, h, mi, s = (int(g or 0) for g in m.groups())
            seconds = ((d * 24 + h) * 60 + mi) * 60 + s
        if seconds is None or seconds < minimum:
            self.expected(key, what, value)
            return None
        return seconds

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.expected(key, f"a table ([{key}] or {key} = {{ ... }})", value)
            return {}
        return value

    def string_list(
        self, key: str, value: Any, what: str, item: Callable[[str, Any], T | None]
    ) -> tuple[T, ...] | None:
        if not isinstance(value, list) or not value:
            self.expected(key, f"a non-empty list of {what}", value)
            return None
        parsed = [item(f"{key}[{i}]", v) for i, v in enumerate(value)]
        return tuple(p for p in parsed if p is not None)

    def region(self, key: str, value: Any) -> str | None:
        return self.string(key, value, 'an AWS region name like "eu-west-1"', _REGION)

    # -- sections -------------------------------------------------------------------------

    def config(
        self, raw: dict[str, Any], *, file_path: Path | None, env: Mapping[str, str]
    ) -> Config:
        self.known_keys("", raw, _TOP_KEYS)
        defaults = Config()
        regions = defaults.regions
        if "regions" in raw:
            regions = self.string_list("regions", raw["regions"], "region names", self.region) or (
                regions
            )
        accounts = self.accounts(raw.get("accounts"), env)
        store = self.store(raw.get("store"), file_path)
        discovery = self.discovery(self.table("discovery", raw.get("discovery", {})))
        breakers = self.breakers(raw.get("breakers"), accounts)
        intervals = self.intervals(self.table("intervals", raw.get("intervals", {})))
        aws = self.aws(self.table("aws", raw.get("aws", {})))
        detection = self.detection(self.table("detection", raw.get("detection", {})))
        return Config(
            accounts=accounts,
            regions=regions,
            discovery=discovery,
            breakers=breakers,
            intervals=intervals,
            aws=aws,
            detection=detection,
            store=store,
            path=file_path,
            origins=dict(self.origins),
        )

    def accounts(self, value: Any, env: Mapping[str, str]) -> tuple[AccountConfig, ...]:
        profile = env.get(ENV_PROFILE) or None
        if value is None:
            return (AccountConfig(DEFAULT_ACCOUNT, profile=profile),)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            self.expected("accounts", "one or more [[accounts]] tables", value)
            return (AccountConfig(DEFAULT_ACCOUNT, profile=profile),)
        accounts: list[AccountConfig] = []
        seen: dict[str, int] = {}
        for i, table in enumerate(value):
            key = f"accounts[{i}]"
            account = self.account(key, table, profile)
            if account is None:
                continue
            if account.name in seen:
                self.fail(
                    f"{key}.name",
                    f"expected a unique account name, got {_show(account.name)} "
                    f"(already used by accounts[{seen[account.name]}])",
                )
                continue
            seen[account.name] = i
            accounts.append(account)
        return tuple(accounts) or (AccountConfig(DEFAULT_ACCOUNT, profile=profile),)

    def account(
        self, key: str, table: dict[str, Any], env_profile: str | None
    ) -> AccountConfig | None:
        self.known_keys(key, table, _ACCOUNT_KEYS)
        if "name" not in table:
            self.fail(f"{key}.name", 'missing; expected a short account name like "prod"')
            name = None
        else:
            name = self.string(
                f"{key}.name",
                table["name"],
                "a short account name (letters, digits, '.', '_', '-'; at most 64)",
                _NAME,
            )
        account_id = self.optional_string(
            key,
            table,
            "account_id",
            'a 12-digit AWS account id as a string like "123456789012"',
            _ACCOUNT_ID,
        )
        profile = self.optional_string(key, table, "profile", "an AWS profile name")
        role_arn = self.optional_string(
            key, table, "role_arn", f'an IAM role ARN like "{EXAMPLE_ROLE_ARN}"', _ROLE_ARN
        )
        external_id = self.optional_string(
            key,
            table,
            "external_id",
            "an external id of 2 to 1224 characters (letters, digits, +=,.@:/-)",
            _EXTERNAL_ID,
        )
        session_name = self.optional_string(
            key,
            table,
            "role_session_name",
            "a role session name of 2 to 64 characters (letters, digits, +=,.@-)",
            _SESSION_NAME,
        )
        regions: tuple[str, ...] = ()
        if "regions" in table:
            regions = (
                self.string_list(f"{key}.regions", table["regions"], "region names", self.region)
                or ()
            )
        if external_id is not None and "role_arn" not in table:
            self.fail(
                f"{key}.external_id",
                "expected together with role_arn (an external id is only sent when assuming a "
                "role); add role_arn or remove external_id",
            )
        if role_arn is not None:
            arn_match = _ROLE_ARN.match(role_arn)
            assert arn_match is not None  # validated above
            arn_account = arn_match.group(1)
            if account_id is not None and account_id != arn_account:
                self.fail(
                    f"{key}.account_id",
                    f"expected the account of role_arn ({arn_account}), got {_show(account_id)}",
                )
            account_id = account_id or arn_account
        if name is None:
            return None
        return AccountConfig(
            name=name,
            account_id=account_id,
            profile=profile if "profile" in table else env_profile,
            role_arn=role_arn,
            external_id=external_id,
            role_session_name=session_name or DEFAULT_SESSION_NAME,
            regions=regions,
        )

    def store(self, value: Any, file_path: Path | None) -> str:
        if value is None:
            return DEFAULT_STORE
        what = 'a local folder or "s3://bucket/prefix"'
        text = self.string("store", value, what)
        if text is None:
            return DEFAULT_STORE
        if text.startswith("s3://"):
            if not _S3_URI.match(text):
                self.expected(
                    "store", 'an S3 location "s3://bucket/prefix" with a valid bucket name', text
                )
                return DEFAULT_STORE
            return text.rstrip("/")
        if _URI_SCHEME.match(text):
            self.expected("store", what, text)
            return DEFAULT_STORE
        local = Path(text).expanduser()
        # A relative path written in the file is relative to the file; one given on the command
        # line or in the environment is relative to the working directory.
        if (
            file_path is not None
            and not local.is_absolute()
            and self.origin("store") == str(file_path)
        ):
            local = file_path.parent.absolute() / local
        return str(local)

    def discovery(self, table: dict[str, Any]) -> DiscoveryFilters:
        self.known_keys("discovery", table, _DISCOVERY_KEYS)
        prefixes: tuple[str, ...] = ()
        if "name_prefixes" in table:
            prefixes = (
                self.string_list(
                    "discovery.name_prefixes",
                    table["name_prefixes"],
                    "name prefixes",
                    lambda k, v: self.string(k, v, "a non-empty name prefix"),
                )
                or ()
            )
        tags: dict[str, str] = {}
        if "tags" in table:
            raw_tags = self.table("discovery.tags", table["tags"])
            for tag, tag_value in raw_tags.items():
                parsed = self.string(
                    f"discovery.tags.{_key(tag)}",
                    tag_value,
                    'a tag value as a string ("*" for any value)',
                )
                if parsed is not None:
                    tags[tag] = parsed
        return DiscoveryFilters(name_prefixes=prefixes, tags=tags)

    def breakers(
        self, value: Any, accounts: tuple[AccountConfig, ...]
    ) -> tuple[BreakerSource, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.expected("breakers", "[[breakers]] tables", value)
            return ()
        sources: list[BreakerSource] = []
        names = {a.name for a in accounts}
        for i, table in enumerate(value):
            source = self.breaker(f"breakers[{i}]", table, names)
            if source is not None:
                sources.append(source)
        return tuple(sources)

    def breaker(self, key: str, table: dict[str, Any], accounts: set[str]) -> BreakerSource | None:
        self.known_keys(key, table, _BREAKER_KEYS)
        if "table" not in table:
            self.fail(f"{key}.table", 'missing; expected the DynamoDB table name like "cb-state"')
            name = None
        else:
            name = self.string(
                f"{key}.table",
                table["table"],
                "a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)",
                _TABLE,
            )
        account = self.optional_string(key, table, "account", "an account name from [[accounts]]")
        if account is not None and account not in accounts:
            self.expected(
                f"{key}.account",
                f"one of the configured accounts ({', '.join(sorted(accounts))})",
                account,
            )
        region = None
        if "region" in table:
            region = self.region(f"{key}.region", table["region"])
        # Attributes the file leaves out take BreakerSource's defaults; "" means "none".
        fields: dict[str, Any] = {}
        for attr in _BREAKER_ATTRS:
            if attr not in table:
                continue
            required = attr in ("key_attr", "state_attr")
            if table[attr] == "" and not required:
                fields[attr] = None
                continue
            what = "an attribute name" + ("" if required else ' ("" when the table has none)')
            fields[attr] = self.string(f"{key}.{attr}", table[attr], what)
        if "state_values" in table:
            fields["state_values"] = self.state_values(f"{key}.state_values", table["state_values"])
        if name is None or any(
            v is None for k, v in fields.items() if k in ("key_attr", "state_attr")
        ):
            return None
        try:
            return BreakerSource(table=name, account=account, region=region, **fields)
        except ConfigError as exc:  # BreakerSource's own checks; ours above should catch all
            self.fail(key, f"expected a valid breaker source: {exc}")
            return None

    def state_values(self, key: str, value: Any) -> dict[str, str]:
        table = self.table(key, value)
        mapping: dict[str, str] = {}
        for raw, state in table.items():
            if state not in BREAKER_STATES:
                self.expected(f"{key}.{_key(raw)}", f"one of {', '.join(BREAKER_STATES)}", state)
                continue
            mapping[raw] = state
        return mapping

    def intervals(self, table: dict[str, Any]) -> Intervals:
        self.known_keys("intervals", table, _INTERVAL_KEYS)
        values: dict[str, int] = {}
        for name in _INTERVAL_KEYS:
            if name in table:
                parsed = self.duration(
                    f"intervals.{name}", table[name], 0 if name == "overlap" else 1
                )
                if parsed is not None:
                    values[name] = parsed
        return Intervals(**values)

    def aws(self, table: dict[str, Any]) -> AwsOptions:
        self.known_keys("aws", table, _AWS_KEYS)
        values: dict[str, Any] = {}
        if "retry_mode" in table:
            mode = table["retry_mode"]
            if mode in ("adaptive", "standard"):
                values["retry_mode"] = mode
            else:
                self.expected("aws.retry_mode", '"adaptive" or "standard"', mode)
        for name, minimum in (("max_attempts", 1), ("concurrency", 1), ("backoff_attempts", 1)):
            if name in table:
                parsed_int = self.integer(
                    f"aws.{name}", table[name], minimum, f"an integer >= {minimum}"
                )
                if parsed_int is not None:
                    values[name] = parsed_int
        for name in ("connect_timeout", "read_timeout", "backoff_base", "backoff_cap"):
            if name in table:
                parsed = self.number(
                    f"aws.{name}", table[name], 0.001, "a positive number of seconds"
                )
                if parsed is not None:
                    values[name] = parsed
        options = AwsOptions(**values)
        if options.backoff_cap < options.backoff_base:
            self.fail(
                "aws.backoff_cap",
                f"expected at least backoff_base ({options.backoff_base:g}), "
                f"got {options.backoff_cap:g}",
            )
        return options

    def detection(self, table: dict[str, Any]) -> dict[str, Any]:
        """The ``[detection]`` values that were given, checked against the settings' schema."""
        if not table:
            return {}
        # Lazily: the schema comes from the detectors' settings dataclasses (see the docstring).
        from alerts.settings import rejected, schema

        top, *tables = schema()
        out = self.detection_table(top, table, subtables=tuple(t.name for t in tables))
        for sub in tables:
            if sub.name in table:
                values = self.detection_table(sub, self.table(sub.dotted, table[sub.name]))
                if values:
                    out[sub.name] = values
        for key, reason in rejected(out):
            detector, *name = key.split(".")[1:]
            got = out[detector][name[0]] if name else out[detector]
            why = re.sub(r",? got .*$", "", reason)  # the value is shown once, below
            self.expected(key, f"a value the {detector} detector accepts ({why})", got)
        return out

    def detection_table(
        self, spec: Table, table: dict[str, Any], subtables: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The given values of one table of ``[detection]``, each checked against ``spec``."""
        allowed = (*(k.name for k in spec.keys), *subtables)
        fixed = set(spec.fixed)
        for name in table:
            if name in fixed:
                self.fail(
                    f"{spec.dotted}.{_key(name)}",
                    "cannot be set in the config file (only numbers, true/false, strings and "
                    f"durations can); expected one of: {', '.join(allowed)}",
                )
        self.known_keys(spec.dotted, {k: v for k, v in table.items() if k not in fixed}, allowed)
        values: dict[str, Any] = {}
        for key in spec.keys:
            if key.name not in table:
                continue
            dotted, value = f"{spec.dotted}.{key.name}", table[key.name]
            parsed: Any = None
            if key.kind == "int":
                parsed = self.integer(dotted, value, key.minimum, f"an integer >= {key.minimum}")
            elif key.kind == "float":
                parsed = self.number(dotted, value, key.minimum, f"a number >= {key.minimum}")
            elif key.kind == "bool":
                if isinstance(value, bool):
                    parsed = value
                else:
                    self.expected(dotted, "true or false", value)
            elif key.kind == "str":
                parsed = self.string(dotted, value, "a non-empty string")
            else:
                parsed = self.duration(dotted, value, key.minimum)
            if parsed is not None:
                values[key.name] = parsed
        return values


def _key(name: str) -> str:
    """A table key as written in a dotted path (quoted when it is not a bare TOML key)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    return repr(value)
