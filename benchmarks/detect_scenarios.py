"""Detection against the sandbox's ground truth: every scenario, collected, detected, scored.

    PYTHONPATH=. .venv/bin/python benchmarks/detect_scenarios.py [--days 7] [--seed 7] \
        [--scenario NAME ...] [--out docs/detection-results.md]

For each scenario: start the sandbox world (both accounts) on a private endpoint, collect
``--days`` of history with the collectors (``Collector.backfill``, over HTTP), add the breaker
table's minute-by-minute versions as a poller would have stored them
(:mod:`sandbox.world.replay`, mapped by the collectors' own ``parse_item``), run
``alerts.detect`` over the store, and score the incidents against the ground truth
(:mod:`alerts.truth`): detected within two periods, latency, false positives per detector.
The integration test ``tests/integration/test_detection_scenarios.py`` runs the same harness on
shorter histories.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from alerts.detect import DetectReport, detect
from alerts.truth import Label, Score, detector_of, score
from collectors._frame import to_frame
from collectors.breakers import parse_item
from collectors.config import load_config
from collectors.cycle import Collector
from collectors.schema import BREAKERS
from collectors.store import Store
from sandbox.endpoint import Endpoint
from sandbox.world.collector_config import collector_config
from sandbox.world.replay import breaker_observations
from sandbox.world.runner import World
from sandbox.world.scenarios import SCENARIOS
from sandbox.world.topology import ACCOUNTS

if TYPE_CHECKING:
    from sandbox.world.model import Incident

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


@dataclasses.dataclass(slots=True)
class ScenarioRun:
    scenario: str
    labels: list[Label]
    report: DetectReport
    score: Score
    seconds: dict[str, float]
    store_location: str


def _labels(incidents: list[Incident]) -> list[Label]:
    return [
        Label(
            kind=i.kind,
            account=i.account_id,
            resource=i.resource,
            downstream=i.downstream,
            start=pd.Timestamp(i.start, unit="s", tz="UTC"),
            end=pd.Timestamp(i.end, unit="s", tz="UTC"),
        )
        for i in incidents
    ]


def replay_breakers(world: World, store: Store, config_path: Path) -> int:
    """Write every breaker item version a 1-minute poller would have stored; returns rows."""
    config = load_config(config_path, env={})
    ids = {a.name: a.account_id for a in config.accounts}
    rows = []
    for result in world.backfill_results():
        account = result.account
        source = next(
            s
            for s in config.breakers
            if s.table == account.breaker_table.name and ids.get(s.account) == account.account_id
        )
        source = dataclasses.replace(source, account=account.account_id, region=account.region)
        for observed, item in breaker_observations(result):
            rows.append(parse_item(item, source, datetime.fromtimestamp(observed, UTC)))
    store.write("breakers", to_frame(BREAKERS, rows))
    return len(rows)


def run_scenario(
    scenario: str, *, days: float, seed: int, now: datetime, workdir: Path
) -> ScenarioRun:
    seconds: dict[str, float] = {}
    with Endpoint() as endpoint:
        saved = os.environ.get("AWS_ENDPOINT_URL")
        os.environ["AWS_ENDPOINT_URL"] = endpoint.url
        try:
            started = time.perf_counter()
            world = World(endpoint, scenario=scenario, seed=seed, days=days, now=now, trace_hours=1)
            world.start()
            seconds["world"] = time.perf_counter() - started
            config_path = workdir / "stormwatch.toml"
            config_path.write_text(
                collector_config(ACCOUNTS, str(workdir / "store"))
                + '\n[intervals]\nbackfill_chunk = "1d"\n'
            )
            config = load_config(config_path, env={})
            store = Store(config.store)
            started = time.perf_counter()
            Collector(config, store, clock=lambda: now).backfill(days, now=now)
            seconds["collect"] = time.perf_counter() - started
            started = time.perf_counter()
            replay_breakers(world, store, config_path)
            seconds["replay"] = time.perf_counter() - started
            labels = _labels(world.incidents())
        finally:
            if saved is None:
                os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                os.environ["AWS_ENDPOINT_URL"] = saved
    started = time.perf_counter()
    report = detect(store, now=pd.Timestamp(now))
    seconds["detect"] = time.perf_counter() - started
    return ScenarioRun(
        scenario, labels, report, score(report.incidents, labels), seconds, store.location
    )


def table(runs: list[ScenarioRun]) -> str:
    """Markdown: scenario × detector — detected/labelled, max latency, false positives."""
    detectors = ["retry_storms", "errors", "circuits", "dlqs", "anomaly"]
    lines = [
        "| scenario | labelled | detected ≤ 2 periods | max latency | "
        + " | ".join(f"FP {d}" for d in detectors)
        + " |",
        "|---" * (4 + len(detectors)) + "|",
    ]
    for run in runs:
        latencies = [m.latency_s for m in run.score.matches if m.latency_s is not None]
        fps = dict.fromkeys(detectors, 0)
        for inc in run.score.false_positives:
            fps[detector_of(inc.kind)] = fps.get(detector_of(inc.kind), 0) + 1
        lines.append(
            f"| {run.scenario} | {len(run.labels)} | {run.score.detected} | "
            f"{max(latencies) if latencies else 0:.0f} s | "
            + " | ".join(str(fps[d]) for d in detectors)
            + " |"
        )
    return "\n".join(lines)


def main() -> int:
    # The sandbox takes any credentials; never reach for real ones.
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = []
    for scenario in args.scenario or SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            run = run_scenario(scenario, days=args.days, seed=args.seed, now=NOW, workdir=Path(tmp))
        runs.append(run)
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
        print(f"{scenario}: {run.score.detected}/{len(run.labels)} detected; {timing}")
        for m in run.score.missed:
            print(f"  missed {m.label.kind} {m.label.resource} at {m.label.start}")
        for inc in run.score.false_positives:
            print(f"  false  {inc.kind} {inc.resource} {inc.start} {inc.summary}")
    text = table(runs)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if all(r.score.detected == len(r.labels) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
