"""Store rows for the detector unit tests: metric series on a minute grid, inventory snapshots.

Shared by ``test_errors``, ``test_retry_storms`` and ``test_amplification``; everything is in one
account and region, and minute 0 is :data:`T0`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from collectors.discovery import Inventory, inventory_frame
from collectors.schema import METRICS

ACCOUNT, REGION = "111111111111", "us-east-1"
T0 = pd.Timestamp("2024-06-10 12:00", tz="UTC")
COLLECTED = datetime(2024, 6, 10, tzinfo=UTC)
APP = "OrderPipeline/Resilience"
Values = list[float | None]


def minute(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=n)


def series(
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    values: Values,
    *,
    resource: str | None = "",
    start: int = 0,
    period: int = 60,
    stat: str = "Sum",
    account: str = ACCOUNT,
) -> pd.DataFrame:
    """One metric series as store rows from period ``start``; a None value is a period with no
    datapoint."""
    index = np.array([i for i, v in enumerate(values) if v is not None], dtype=np.int64)
    dims = ",".join(f"{k}={v}" for k, v in sorted(dimensions.items()))
    return pd.DataFrame(
        {
            "account": account,
            "region": REGION,
            "namespace": namespace,
            "metric": metric,
            "dimensions": dims,
            "stat": stat,
            "period_s": period,
            "ts": pd.DatetimeIndex(T0 + pd.to_timedelta((start + index) * period, unit="s"))
            .as_unit("ms")
            .to_numpy(),
            "resource": resource,
            "value": np.array([values[i] for i in index], dtype=np.float64),
        },
        columns=METRICS.columns,
    )


def frame(*parts: pd.DataFrame) -> pd.DataFrame:
    """The non-empty ``parts`` as one ``metrics`` frame (an empty one with the table's columns)."""
    parts = tuple(p for p in parts if not p.empty)
    if not parts:
        return pd.DataFrame(columns=METRICS.columns)
    return pd.concat(parts, ignore_index=True)


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def inventory(*, collected: datetime = COLLECTED, **records: Any) -> pd.DataFrame:
    """An ``inventory`` frame of ``functions``, ``queues``, ``rules`` and ``machines``."""
    return inventory_frame(
        Inventory(
            ACCOUNT,
            REGION,
            collected,
            functions=tuple(records.get("functions", ())),
            queues=tuple(records.get("queues", ())),
            rules=tuple(records.get("rules", ())),
            state_machines=tuple(records.get("machines", ())),
        )
    )
