"""Write a NAB-layout corpus from every sandbox scenario's simulated week (no endpoint needed).

    .venv/bin/python benchmarks/sandbox_corpus.py OUT_DIR [--days 7] [--seed 7]

Each scenario's backfill (both accounts) is exported with ``sandbox.world.ground_truth.export_nab``
under ``OUT_DIR/data/<scenario>/...``, and the labels of all of them are merged into
``OUT_DIR/labels/combined_windows.json`` so ``python -m alerts.evaluate OUT_DIR/data
OUT_DIR/labels/combined_windows.json`` scores the whole set.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.world.ground_truth import export_nab
from sandbox.world.scenarios import SCENARIOS
from sandbox.world.simulation import Simulator
from sandbox.world.topology import ACCOUNTS


def build(out: Path, *, days: int, seed: int, now: datetime) -> dict[str, list[list[str]]]:
    labels: dict[str, list[list[str]]] = {}
    for scenario in SCENARIOS:
        results = []
        for account in ACCOUNTS:
            sim = Simulator(account, scenario, seed, now=now, start=now - timedelta(days=days))
            results.append(sim.advance(now))
        with tempfile.TemporaryDirectory() as tmp:
            written = export_nab(results, tmp)
            for relative, windows in written.items():
                source = Path(tmp) / "data" / relative
                target = out / "data" / scenario / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
                labels[f"{scenario}/{relative}"] = windows
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "combined_windows.json").write_text(json.dumps(labels, indent=1))
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", default="2026-11-16T12:00:00Z")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(UTC)
    labels = build(args.out, days=args.days, seed=args.seed, now=now)
    windows = sum(len(w) for w in labels.values())
    print(f"{len(labels)} series, {windows} windows in {args.out}")


if __name__ == "__main__":
    main()
