"""The sandbox's local AWS endpoint: moto's server made faithful where stormwatch needs it.

``Endpoint`` is imported lazily so that the pure backend modules (and their unit tests) do not
pull in moto and the HTTP server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.endpoint.server import Endpoint, PortInUseError

__all__ = ["Endpoint", "PortInUseError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandbox.endpoint import server

        return getattr(server, name)
    raise AttributeError(name)
