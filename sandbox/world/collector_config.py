"""The stormwatch configuration that points the collectors at the simulated world.

``python -m sandbox up`` writes it next to the ground truth, so ``python -m collectors once
--config var/sandbox/stormwatch.toml`` (with ``AWS_ENDPOINT_URL`` from ``up``) collects both
simulated accounts through the same code a real deployment uses: a role assumed in each
account, and each breaker table's own attribute mapping.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sandbox.world.topology import Account

READER_ROLE = "stormwatch-read-only"


def _string(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for these characters


def collector_config(accounts: Sequence[Account], store: str) -> str:
    """TOML text: one ``[[accounts]]`` per account (role in that account) and its breaker table."""
    regions = sorted({a.region for a in accounts})
    lines = [
        "# Written by `python -m sandbox up`: the collectors' view of the simulated world.",
        f"regions = [{', '.join(_string(r) for r in regions)}]",
        f"store = {_string(store)}",
        "",
    ]
    for account in accounts:
        lines += [
            "[[accounts]]",
            f"name = {_string(account.name)}",
            f"account_id = {_string(account.account_id)}",
            f"role_arn = {_string(f'arn:aws:iam::{account.account_id}:role/{READER_ROLE}')}",
            f"regions = [{_string(account.region)}]",
            "",
        ]
    for account in accounts:
        table = account.breaker_table
        values = ", ".join(
            f"{_string(raw)} = {_string(state)}" for state, raw in table.state_values
        )
        lines += [
            "[[breakers]]",
            f"table = {_string(table.name)}",
            f"account = {_string(account.name)}",
            f"key_attr = {_string(table.key_attr)}",
            f"state_attr = {_string(table.state_attr)}",
            f"failure_attr = {_string(table.failure_attr)}",
            f"success_attr = {_string(table.success_attr)}",
            f"transition_attr = {_string(table.transition_attr)}",
            f"updated_attr = {_string(table.updated_attr)}",
            f"state_values = {{ {values} }}",
            "",
        ]
    return "\n".join(lines)
