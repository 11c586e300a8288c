"""The ``[detection]`` section of the configuration file, and the :class:`DetectSettings` it gives.

The section's keys are derived from the settings dataclasses with :func:`dataclasses.fields`, so
a new field of a detector's settings is configurable without touching the loader:

- ``[detection]``: the fields of :class:`~alerts.detect.DetectSettings` that are single values
  (``lookback``, ``merge_gap``);
- ``[detection.<name>]``: one table per field of :class:`~alerts.detect.DetectSettings` whose
  default is a settings dataclass (``anomaly``, ``retry_storms``, ``errors``, ``circuits``,
  ``dlqs``), holding that dataclass's fields typed ``int``, ``float``, ``bool``, ``str`` or a
  duration (``pd.Timedelta``, ``datetime.timedelta``), each possibly ``| None``.

Fields of any other type (tuples, mappings, nested settings such as ``AppMetrics``) are set in
code only; :attr:`Table.fixed` names them, so the loader can say so instead of "unknown key".

Who does what: :func:`schema` is the list of keys; :mod:`collectors.config` checks the file
against it at load time (types, minimums, unknown keys, and :func:`rejected` for the dataclasses'
own ``__post_init__`` checks) and keeps the values on ``Config.detection`` as written (durations
in whole seconds); :func:`settings_from_config` turns them into settings. A key not given keeps
:class:`~alerts.detect.DetectSettings`'s default, which for ``retry_storms`` and ``errors`` is
``min_periods=1``, not those dataclasses' own default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import pandas as pd

from alerts.detect import DetectSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from collectors.config import Config

__all__ = ["Key", "Table", "detect_settings", "rejected", "schema", "settings_from_config"]

Kind = Literal["int", "float", "bool", "str", "duration"]

# Annotation (as written, the detector modules use ``from __future__ import annotations``, or the
# type's name) → the kind of value it takes, and how a value from the file becomes one.
_TYPES: Final[dict[str, tuple[Kind, Callable[[Any], Any]]]] = {
    "int": ("int", int),
    "float": ("float", float),
    "bool": ("bool", bool),
    "str": ("str", str),
    "pd.Timedelta": ("duration", lambda s: pd.Timedelta(seconds=s)),
    "pandas.Timedelta": ("duration", lambda s: pd.Timedelta(seconds=s)),
    "Timedelta": ("duration", lambda s: pd.Timedelta(seconds=s)),
    "timedelta": ("duration", lambda s: dt.timedelta(seconds=s)),
    "dt.timedelta": ("duration", lambda s: dt.timedelta(seconds=s)),
    "datetime.timedelta": ("duration", lambda s: dt.timedelta(seconds=s)),
}
# Durations that must be positive (an empty window detects nothing); the others may be 0.
_POSITIVE_DURATIONS: Final = frozenset({"lookback"})


@dataclass(frozen=True, slots=True)
class Key:
    """One settable key: its field name, kind, default (as in ``DetectSettings()``) and minimum.

    Numbers and durations may not be negative; durations in :data:`_POSITIVE_DURATIONS` not 0.
    """

    name: str
    kind: Kind
    default: Any
    minimum: int = 0
    convert: Callable[[Any], Any] = field(default=int, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Table:
    """``[detection]`` (``name == ""``) or ``[detection.<name>]``: its keys, and the fields of the
    same dataclass that are set in code only."""

    name: str
    keys: tuple[Key, ...]
    fixed: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return f"detection.{self.name}" if self.name else "detection"

    def key(self, name: str) -> Key:
        return next(k for k in self.keys if k.name == name)


def _kind(annotation: object) -> tuple[Kind, Callable[[Any], Any]] | None:
    """The kind of a field annotated ``annotation``; None for anything but a single value."""
    if isinstance(annotation, str):
        text = annotation
    elif isinstance(annotation, type):
        text = annotation.__name__
    else:  # e.g. ``int | None`` written without postponed annotations
        text = str(annotation)
    parts = [p.strip() for p in text.split("|")]
    rest = [p for p in parts if p != "None"]
    if len(rest) != 1:
        return None
    return _TYPES.get(rest[0])


def _key(f: dataclasses.Field[Any], default: Any) -> Key | None:
    """The key for field ``f`` (None when it is not a single value)."""
    kind = _kind(f.type)
    if kind is None or not f.init:
        return None
    minimum = 1 if kind[0] == "duration" and f.name in _POSITIVE_DURATIONS else 0
    return Key(f.name, kind[0], default, minimum, kind[1])


def _table(name: str, cls: type, defaults: object) -> Table:
    keys: list[Key] = []
    fixed: list[str] = []
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if name == "" and dataclasses.is_dataclass(value):
            continue  # a detector's own table
        key = _key(f, value)
        if key is not None:
            keys.append(key)
        elif f.init:
            fixed.append(f.name)
    return Table(name, tuple(keys), tuple(fixed))


@functools.cache
def schema() -> tuple[Table, ...]:
    """``[detection]`` first, then one table per detector, in :class:`DetectSettings`'s order."""
    defaults = DetectSettings()
    tables = [_table("", DetectSettings, defaults)]
    for f in dataclasses.fields(DetectSettings):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            tables.append(_table(f.name, type(value), value))
    return tuple(tables)


def _table_changes(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: table.key(name).convert(value) for name, value in values.items()}


def _values(detection: Mapping[str, Any], table: Table) -> dict[str, Any]:
    if table.name:
        return dict(detection.get(table.name, {}))
    names = {k.name for k in table.keys}
    return {k: v for k, v in detection.items() if k in names}


def detect_settings(detection: Mapping[str, Any]) -> DetectSettings:
    """``DetectSettings()`` with the validated ``[detection]`` values (``Config.detection``).

    Raises ValueError (from a settings dataclass) for values :func:`rejected` would report.
    """
    base = DetectSettings()
    changes: dict[str, Any] = {}
    for table in schema():
        values = _values(detection, table)
        if not values:
            continue
        if table.name:
            current = getattr(base, table.name)
            changes[table.name] = dataclasses.replace(current, **_table_changes(table, values))
        else:
            changes.update(_table_changes(table, values))
    return dataclasses.replace(base, **changes) if changes else base


def settings_from_config(config: Config) -> DetectSettings:
    """The :class:`DetectSettings` the configuration asks for (defaults for what it omits)."""
    return detect_settings(config.detection)


def rejected(detection: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(dotted key, reason)`` for each table whose values its dataclass refuses.

    The key is the first given key the dataclass's message names (``min_periods must be at
    least 1`` → ``detection.errors.min_periods``), else the table's own.
    """
    problems: list[tuple[str, str]] = []
    base = DetectSettings()
    for table in schema()[1:]:
        values = _values(detection, table)
        if not values:
            continue
        try:
            dataclasses.replace(getattr(base, table.name), **_table_changes(table, values))
        except (TypeError, ValueError) as exc:
            reason = str(exc)
            named = [n for n in values if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", reason)]
            key = f"{table.dotted}.{named[0]}" if named else table.dotted
            problems.append((key, reason))
    return problems
