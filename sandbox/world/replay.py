"""What a poller would have seen: the breaker table's items minute by minute over a backfill.

DynamoDB keeps only each item's current version, so a store collected once at the end of a
backfill holds one observation per breaker: a stale heartbeat that ended a day ago, or a
flapping hour, has left no trace in the table. A collector polling the table live would have
stored every version. :func:`breaker_observations` yields those versions (the same low-level
items ``emit_state.breaker_item`` writes with ``PutItem``), one per breaker every ``every_s``
seconds, so the evaluation harness can feed them through the collectors' own item mapping as if
the collector had been running all along.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.world.emit_state import breaker_item

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sandbox.world.model import SimulationResult

MINUTE = 60


def breaker_observations(
    result: SimulationResult, *, every_s: int = MINUTE, since: float | None = None
) -> Iterator[tuple[float, dict[str, Any]]]:
    """``(observed_at epoch s, item)`` for every breaker of ``result``'s account, every
    ``every_s`` seconds (a multiple of a minute) from ``since`` (default: the first minute)."""
    if every_s % MINUTE or every_s <= 0:
        raise ValueError(f"every_s must be a positive multiple of 60, got {every_s}")
    table = result.account.breaker_table
    step = every_s // MINUTE
    timestamps = result.timestamps
    for minute in range(0, len(timestamps), step):
        observed = float(timestamps[minute]) + MINUTE  # the item as of the end of the minute
        if since is not None and observed < since:
            continue
        for name in table.breakers:
            yield observed, breaker_item(table, result.breakers[name], minute)
