"""The sandbox's own X-Ray: segments, traces, filter expressions, service graph, statistics.

moto 5.2.5 answers GetServiceGraph with no services, takes trace flags from the top-level
segment only, has no filter expressions and no GetTimeSeriesServiceStatistics, so the sandbox
answers these X-Ray operations itself. :class:`XRayBackend` holds one account and region;
``XRAY_OPERATIONS`` maps each API operation to its backend method.
"""

from __future__ import annotations

from sandbox.endpoint.xray.backend import XRAY_OPERATIONS, XRayBackend

__all__ = ["XRAY_OPERATIONS", "XRayBackend"]
