"""What a backend knows about the request it is answering: account, region and the time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller's account and region, and ``now`` (aware UTC) from the endpoint's clock."""

    account_id: str
    region: str
    now: datetime
    request_id: str = "00000000-0000-0000-0000-000000000000"
