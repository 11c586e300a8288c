"""A small client for the endpoint's admin routes, for tests and scripts in another process."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class SandboxAdmin:
    """Fault rules and reset over HTTP: ``SandboxAdmin(url).add_fault("throttle", service=...)``."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, document: Any = None) -> Any:
        data = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"null")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/health")

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset")

    def add_fault(self, kind: str, **selector: Any) -> dict[str, Any]:
        return self._call("POST", "/_sandbox/faults", {"kind": kind, **selector})

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_sandbox/faults")["rules"]

    def remove_fault(self, rule_id: int) -> None:
        self._call("DELETE", f"/_sandbox/faults/{rule_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")
