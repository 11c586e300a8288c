"""Ground truth on disk: incidents as JSON, and metric series with their incidents in the
Numenta Anomaly Benchmark (NAB) layout.

Incidents file (``write_incidents`` / ``read_incidents``), schema ``stormwatch.ground-truth/1``::

    {
      "schema": "stormwatch.ground-truth/1",
      "incidents": [
        {
          "kind": "retry-storm",                  # see sandbox.world.scenarios for the kinds
          "account_id": "111111111111",
          "resource": "lambda:payment-processor",  # lambda: sqs: breaker: states: events:
          "downstream": "payment-api",             # or null
          "start": "2024-06-08T16:12:00Z",         # UTC, inclusive
          "end": "2024-06-08T16:46:00Z",           # UTC, exclusive
          "scenario": "demo",
          "detail": "payment-outage: payment-api answers 5xx, ...",
          "ongoing": false                         # still showing when the run ended
        }
      ]
    }

NAB corpus (``export_nab``)::

    <folder>/data/<account>/<namespace>/<metric>__<resource name>.csv   timestamp,value
    <folder>/labels/combined_windows.json   {"<path relative to data/>": [[start, end], ...]}

CSV timestamps are ``YYYY-MM-DD HH:MM:SS`` (UTC, the start of each minute); windows use NAB's
``YYYY-MM-DD HH:MM:SS.ffffff`` and are inclusive: from the first to the last anomalous minute.
A file's windows are the union of the windows of every incident on that file's resource, so a
window can cover minutes where that particular metric stays calm (NAB then counts the window as
missed for a detector that only reads that file). Breakers have no CloudWatch metric and are not
exported. Each account also gets a few control series (its entry function's invocations and
errors, its busiest queue's receives), labelled only if an incident touches them. As on
CloudWatch, a function's Duration has no row in a minute it was not invoked (a gap, not 0).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.world.model import Incident, SimulationResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

SCHEMA = "stormwatch.ground-truth/1"
_FIELDS = (
    "kind",
    "account_id",
    "resource",
    "downstream",
    "start",
    "end",
    "scenario",
    "detail",
    "ongoing",
)
_CSV_TIME = "%Y-%m-%d %H:%M:%S"
_NAB_TIME = "%Y-%m-%d %H:%M:%S.%f"


class GroundTruthError(ValueError):
    """A ground-truth file that does not follow the schema; the message names file and field."""


# --- incidents <-> JSON -----------------------------------------------------------------------


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def incidents_to_json(incidents: Iterable[Incident]) -> dict[str, Any]:
    """The JSON document (a dict) for ``incidents``, in the order given."""
    rows = []
    for inc in incidents:
        rows.append(
            {
                "kind": inc.kind,
                "account_id": inc.account_id,
                "resource": inc.resource,
                "downstream": inc.downstream,
                "start": _iso(inc.start),
                "end": _iso(inc.end),
                "scenario": inc.scenario,
                "detail": inc.detail,
                "ongoing": inc.ongoing,
            }
        )
    return {"schema": SCHEMA, "incidents": rows}


def incidents_from_json(document: Any, *, source: str = "ground truth") -> list[Incident]:
    """Incidents from a parsed document; GroundTruthError names ``source`` and the field."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise GroundTruthError(f"{source}: expected schema {SCHEMA!r}, found {found!r}")
    rows = document.get("incidents")
    if not isinstance(rows, list):
        raise GroundTruthError(f"{source}: 'incidents' must be a list")
    out = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise GroundTruthError(f"{source}: incidents[{n}] must be an object")
        missing = [f for f in _FIELDS if f not in row and f not in ("detail", "ongoing")]
        if missing:
            raise GroundTruthError(f"{source}: incidents[{n}] lacks {', '.join(missing)}")
        try:
            start, end = _epoch(row["start"]), _epoch(row["end"])
        except (TypeError, ValueError) as exc:
            raise GroundTruthError(
                f"{source}: incidents[{n}] start/end must be ISO-8601 UTC times ({exc})"
            ) from None
        out.append(
            Incident(
                kind=str(row["kind"]),
                account_id=str(row["account_id"]),
                resource=str(row["resource"]),
                downstream=None if row["downstream"] is None else str(row["downstream"]),
                start=start,
                end=end,
                scenario=str(row["scenario"]),
                detail=str(row.get("detail", "")),
                ongoing=bool(row.get("ongoing", False)),
            )
        )
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_incidents(path: str | Path, incidents: Iterable[Incident]) -> Path:
    """Write ``incidents`` to ``path`` as JSON (atomically: a reader never sees half a file)."""
    path = Path(path)
    _write_atomic(path, json.dumps(incidents_to_json(incidents), indent=2) + "\n")
    return path


def read_incidents(path: str | Path) -> list[Incident]:
    """Read an incidents file written by :func:`write_incidents`."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"{path}: not JSON ({exc})") from None
    return incidents_from_json(document, source=str(path))


# --- NAB export -------------------------------------------------------------------------------

_Series = tuple[str, str, "Callable[[SimulationResult, str], np.ndarray]"]

_LAMBDA: list[_Series] = [
    ("AWS/Lambda", "Invocations", lambda r, n: r.functions[n].invocations),
    ("AWS/Lambda", "Errors", lambda r, n: r.functions[n].errors),
    # A minute with no invocation has no Duration datapoint on CloudWatch: a gap, not 0 ms.
    (
        "AWS/Lambda",
        "Duration-p99",
        lambda r, n: np.where(
            r.functions[n].invocations > 0, r.functions[n].duration_p99_ms, np.nan
        ),
    ),
]
_SOURCE_QUEUE: list[_Series] = [
    ("AWS/SQS", "NumberOfMessagesReceived", lambda r, n: r.queues[n].received),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", lambda r, n: r.queues[n].oldest_age_s),
]
_DLQ: list[_Series] = [
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", lambda r, n: r.queues[n].visible),
]
_STATES: list[_Series] = [
    ("AWS/States", "ExecutionsFailed", lambda r, n: r.state_machines[n].failed),
]
_EVENTS: list[_Series] = [
    ("AWS/Events", "RetryInvocationAttempts", lambda r, n: r.rules[n].retry_invocation_attempts),
]


def _series_for(result: SimulationResult, resource: str) -> list[_Series]:
    kind, _, name = resource.partition(":")
    if kind == "lambda" and name in result.functions:
        return _LAMBDA
    if kind == "sqs" and name in result.queues:
        return _DLQ if result.queues[name].is_dlq else _SOURCE_QUEUE
    if kind == "states" and name in result.state_machines:
        return _STATES
    if kind == "events" and name in result.rules:
        return _EVENTS
    return []


def _controls(result: SimulationResult) -> list[str]:
    account = result.account
    out = [f"lambda:{f.name}" for f in account.functions if f.triggered_by == "api"][:1]
    sources = [q for q in result.queues.values() if not q.is_dlq]
    if sources:
        busiest = max(sources, key=lambda q: (int(q.received.sum()), q.name))
        out.append(f"sqs:{busiest.name}")
    return out


def _windows(incidents: Iterable[Incident]) -> list[list[str]]:
    spans = sorted((inc.start, inc.end) for inc in incidents)
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [
        [
            datetime.fromtimestamp(start, tz=UTC).strftime(_NAB_TIME),
            datetime.fromtimestamp(max(start, end - 60), tz=UTC).strftime(_NAB_TIME),
        ]
        for start, end in merged
    ]


def _csv_times(timestamps: np.ndarray) -> list[str]:
    return [datetime.fromtimestamp(int(t), tz=UTC).strftime(_CSV_TIME) for t in timestamps]


def _csv(times: list[str], values: np.ndarray) -> str:
    """Rows for every minute with a value; NaN (no datapoint that minute) leaves a gap."""
    if np.issubdtype(values.dtype, np.integer):
        rows = [(t, str(int(v))) for t, v in zip(times, values, strict=True)]
    else:
        rows = [
            (t, f"{float(v):.3f}".rstrip("0").rstrip("."))
            for t, v in zip(times, values, strict=True)
            if not np.isnan(v)
        ]
    lines = ["timestamp,value"] + [f"{t},{v}" for t, v in rows]
    return "\n".join(lines) + "\n"


def export_nab(
    results: SimulationResult | Iterable[SimulationResult], folder: str | Path
) -> dict[str, list[list[str]]]:
    """Write the NAB corpus for ``results`` (one per account) under ``folder``.

    Returns the labels written to ``labels/combined_windows.json``. Files for resources the
    incidents touch, plus the control series; see the module docstring for the layout.
    """
    if isinstance(results, SimulationResult):
        results = [results]
    folder = Path(folder)
    labels: dict[str, list[list[str]]] = {}
    seen_accounts: set[str] = set()
    for result in results:
        account = result.account.name
        if account in seen_accounts:
            raise ValueError(
                f"export_nab: two results for account {account!r}; pass one run per account"
            )
        seen_accounts.add(account)
        by_resource: dict[str, list[Incident]] = {}
        for inc in result.incidents:
            by_resource.setdefault(inc.resource, []).append(inc)
        resources = list(dict.fromkeys([*by_resource, *_controls(result)]))
        times = _csv_times(result.timestamps)
        for resource in resources:
            name = resource.partition(":")[2]
            for namespace, metric, extract in _series_for(result, resource):
                relative = f"{account}/{namespace}/{metric}__{name}.csv"
                path = folder / "data" / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_csv(times, extract(result, name)), encoding="utf-8")
                labels[relative] = _windows(by_resource.get(resource, []))
    _write_atomic(
        folder / "labels" / "combined_windows.json",
        json.dumps(dict(sorted(labels.items())), indent=2) + "\n",
    )
    return labels
