"""Shared, cached simulation runs for the ``test_world_*`` modules (each run is simulated once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sandbox.world.simulation import simulate
from sandbox.world.topology import account

if TYPE_CHECKING:
    from sandbox.world.model import Incident, SimulationResult

# Not minute-aligned on purpose: the engine floors to whole minutes.
NOW = datetime(2024, 6, 10, 12, 0, 30, tzinfo=UTC)
SEED = 11


@cache
def run(account_name: str, scenario: str, days: int = 2, seed: int = SEED) -> SimulationResult:
    """``days`` of backfill ending at ``NOW`` (single-incident scenarios sit ~30 h before it)."""
    return simulate(account(account_name), scenario, seed, NOW - timedelta(days=days), NOW, now=NOW)


def minutes_of(result: SimulationResult, start: float, end: float) -> slice:
    """The index range of ``[start, end)`` (epoch seconds) in ``result``'s arrays."""
    first = int(result.timestamps[0])
    lo = max(0, int((start - first) // 60))
    hi = min(len(result.timestamps), int(-(-(end - first) // 60)))
    return slice(lo, hi)


def incident(result: SimulationResult, kind: str, resource: str) -> Incident:
    found = [i for i in result.incidents if i.kind == kind and i.resource == resource]
    assert found, (
        f"no {kind} incident on {resource}: {[(i.kind, i.resource) for i in result.incidents]}"
    )
    return found[0]
