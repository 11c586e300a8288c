"""Run every detector over the store and update the ``incidents`` table.

:func:`run_detectors` is pure: frames in, findings out. Each detector runs on its own; one that
raises is reported by name in :attr:`Detection.errors` and the others go on, so a bug in one
rule never hides what the others found. :func:`detect` reads the window
``[now - lookback, now)`` from the store, runs the detectors, merges their findings into
incidents, gives incidents that continue stored ones their stored identity, and writes them
(idempotent: the same data gives the same rows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from alerts.anomaly import AnomalySettings, detect_anomalies
from alerts.circuits import CircuitSettings, detect_circuits
from alerts.dlqs import DlqSettings, detect_dlqs
from alerts.errors import ErrorSettings, detect_errors
from alerts.findings import Finding, utc
from alerts.incidents import DEFAULT_MERGE_GAP, Incident, merge, reconcile, to_frame
from alerts.retry_storms import RetryStormSettings, detect_retry_storms

if TYPE_CHECKING:
    from collections.abc import Callable

    from collectors.store import Store

DEFAULT_LOOKBACK = pd.Timedelta(days=7)
# Tables each run reads, and the one the anomaly band needs most history from.
TABLES = ("metrics", "breakers", "queues", "edges", "inventory")
# Key columns read as categoricals: a week of 1-minute metrics for 1,000 resources is 37 M rows,
# and a string per row per key column was most of the detector's memory (docs/benchmarks.md).
CATEGORICAL = {
    "metrics": ("account", "region", "namespace", "metric", "dimensions", "stat", "resource"),
}


@dataclass(frozen=True, slots=True)
class DetectSettings:
    """What ``alerts detect`` runs with.

    Retry storms and error rates fire on one period meeting both their absolute minimum and
    their ratio (the rules' own default asks for two): measured on the sandbox's scenarios,
    incidents often show as minute T, a quiet minute, then T again (SQS redelivery waves,
    breaker probes), so two consecutive periods confirm them minutes late, while no quiet
    minute of the quiet week meets both thresholds. The errors rule also asks that the minute
    be improbable for the resource's own baseline error rate (a low-traffic function's one
    minute of 3 errors in 40 is noise, not an incident; see alerts/errors.py).
    """

    lookback: pd.Timedelta = DEFAULT_LOOKBACK
    merge_gap: pd.Timedelta = DEFAULT_MERGE_GAP
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    retry_storms: RetryStormSettings = field(
        default_factory=lambda: RetryStormSettings(min_periods=1)
    )
    errors: ErrorSettings = field(default_factory=lambda: ErrorSettings(min_periods=1))
    circuits: CircuitSettings = field(default_factory=CircuitSettings)
    dlqs: DlqSettings = field(default_factory=DlqSettings)


@dataclass(slots=True)
class Detection:
    """What one run found: findings, per-detector errors and durations."""

    findings: list[Finding] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class DetectReport:
    now: pd.Timestamp
    window_start: pd.Timestamp
    rows_read: dict[str, int]
    detection: Detection
    incidents: list[Incident]
    read_problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.detection.errors or self.read_problems)

    def summary(self) -> str:
        ongoing = sum(1 for i in self.incidents if i.ongoing)
        by_kind: dict[str, int] = {}
        for f in self.detection.findings:
            by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())) or "none"
        lines = [
            f"detect: {self.window_start:%Y-%m-%d %H:%M} → {self.now:%Y-%m-%d %H:%M} UTC, "
            f"{sum(self.rows_read.values()):,} rows read, {len(self.detection.findings)} findings "
            f"({kinds}), {len(self.incidents)} incidents ({ongoing} ongoing)"
        ]
        for name, message in sorted(self.detection.errors.items()):
            lines.append(f"  detector {name} failed: {message}")
        lines.extend(f"  store: {p}" for p in self.read_problems)
        return "\n".join(lines)


def _latest_inventory(inventory: pd.DataFrame) -> pd.DataFrame:
    if inventory.empty:
        return inventory
    keys = ["account", "region", "kind", "name"]
    return (
        inventory.sort_values("collected_at", kind="stable")
        .drop_duplicates(keys, keep="last")
        .reset_index(drop=True)
    )


def _dlq_names(queues: pd.DataFrame, inventory: pd.DataFrame) -> set[tuple[str, str, str]]:
    """DLQs from the live snapshots and from discovery (a queue others redrive into)."""
    import json

    names: set[tuple[str, str, str]] = set()
    if not queues.empty:
        dlq = queues[queues["is_dlq"].fillna(False).astype(bool)]
        names |= set(zip(dlq["account"], dlq["region"], dlq["queue"], strict=True))
    if not inventory.empty:
        sqs = inventory[inventory["kind"] == "sqs"]
        for row in sqs.itertuples(index=False):
            try:
                config = json.loads(row.config or "{}")
            except ValueError:
                continue
            if config.get("dead_letter_sources") or config.get("failure_senders"):
                names.add((row.account, row.region, row.name))
    return names


def run_detectors(
    frames: dict[str, pd.DataFrame], *, now: pd.Timestamp, settings: DetectSettings
) -> Detection:
    """Every detector over ``frames`` (store tables by name); each isolated from the others."""
    now = utc(now)
    empty = pd.DataFrame()
    metrics = frames.get("metrics", empty)
    breakers = frames.get("breakers", empty)
    queues = frames.get("queues", empty)
    edges = frames.get("edges", empty)
    inventory = _latest_inventory(frames.get("inventory", empty))
    steps: dict[str, Callable[[], list[Finding]]] = {
        "anomaly": lambda: detect_anomalies(metrics, now=now, settings=settings.anomaly),
        "retry_storms": lambda: detect_retry_storms(
            metrics, edges, inventory, now=now, settings=settings.retry_storms
        ),
        "errors": lambda: detect_errors(metrics, now=now, settings=settings.errors),
        "circuits": lambda: detect_circuits(
            breakers, metrics, edges, now=now, settings=settings.circuits
        ),
        "dlqs": lambda: detect_dlqs(
            queues, metrics, now=now, dlqs=_dlq_names(queues, inventory), settings=settings.dlqs
        ),
    }
    out = Detection()
    for name, step in steps.items():
        started = time.perf_counter()
        try:
            out.findings += step()
        except Exception as exc:  # one failing detector never stops the others
            out.errors[name] = f"{type(exc).__name__}: {exc}"
        out.seconds[name] = round(time.perf_counter() - started, 3)
    out.findings.sort(key=lambda f: (f.start, f.kind, f.account, f.resource, f.downstream or ""))
    return out


def read_frames(
    store: Store, *, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The detectors' inputs from the store, and the problems the reads reported."""
    frames: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    for table in TABLES:
        # Inventory and breaker tables change slowly: read their latest rows from further back.
        since = start - pd.Timedelta(days=1) if table == "inventory" else start
        frames[table] = store.read(
            table, start=since, end=end, categorical=CATEGORICAL.get(table, ())
        )
        problems += [str(p) for p in store.last_read_problems]
    return frames, problems


def detect(
    store: Store,
    *,
    now: Any = None,
    settings: DetectSettings | None = None,
    write: bool = True,
) -> DetectReport:
    """Detect over ``[now - lookback, now)`` and write the incidents (unless ``write=False``).

    ``now`` defaults to the end of the newest metrics in the store (so detection over an old
    store judges its own last minutes, not the wall clock), else the current time.
    """
    settings = settings or DetectSettings()
    if now is None:
        span = store.time_range("metrics")
        now = span[1] + pd.Timedelta(minutes=1) if span else pd.Timestamp.now(tz="UTC")
    now = utc(now).floor("min")
    start = now - settings.lookback
    frames, problems = read_frames(store, start=start, end=now)
    detection = run_detectors(frames, now=now, settings=settings)
    incidents = merge(detection.findings, merge_gap=settings.merge_gap)
    stored = store.read("incidents", start=start - settings.lookback, end=now)
    problems += [str(p) for p in store.last_read_problems]
    incidents = reconcile(incidents, stored, window_start=start, merge_gap=settings.merge_gap)
    if write and incidents:
        store.write("incidents", to_frame(incidents))
    return DetectReport(
        now=now,
        window_start=start,
        rows_read={name: len(frame) for name, frame in frames.items()},
        detection=detection,
        incidents=sorted(incidents, key=lambda i: (i.start, i.key)),
        read_problems=problems,
    )
