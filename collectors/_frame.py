"""Rows → DataFrames typed by a store table's declared Arrow schema (shared by the sources).

Going through Arrow with the table's schema checks every value's type at the source, so a
collector cannot hand the store a frame the store would refuse: timestamps become
``datetime64[ms, UTC]``, integers nullable ``Int64``/``Int32`` (a missing count stays missing
instead of turning the column into floats), booleans nullable ``boolean``, and list columns
plain Python lists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from collectors.schema import Table

_NULLABLE: dict[pa.DataType, Any] = {
    pa.int64(): pd.Int64Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def to_frame(table: Table, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with exactly ``table``'s columns, in order; missing values are null.

    Raises ``ValueError`` naming the column when a key column holds a null (a bug in the
    collector, never a property of the data: sources substitute a placeholder and say why).
    """
    arrow = pa.Table.from_pylist([dict(row) for row in rows], schema=table.schema)
    for name in table.key:
        if arrow.column(name).null_count:
            raise ValueError(f"table {table.name}: key column {name!r} has nulls")
    frame = arrow.to_pandas(types_mapper=_NULLABLE.get)
    for field in table.schema:
        if pa.types.is_list(field.type):
            frame[field.name] = pd.Series(
                [None if value is None else list(value) for value in frame[field.name]],
                index=frame.index,
                dtype=object,
            )
    return frame


def as_utc(moment: datetime, name: str = "now") -> datetime:
    """``moment`` in UTC; a naive datetime is refused (the store's times are all UTC-aware)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)
