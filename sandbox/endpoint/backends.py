"""Per-account, per-region backend instances, as moto keys its own (account → region → state)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")


class AccountRegionBackends(Generic[T]):
    """Lazily creates one backend per (account id, region); thread-safe; ``reset`` forgets all."""

    def __init__(self, factory: Callable[[str, str], T]) -> None:
        self._factory = factory
        self._backends: dict[tuple[str, str], T] = {}
        self._lock = threading.Lock()

    def get(self, account_id: str, region: str) -> T:
        key = (account_id, region)
        backend = self._backends.get(key)
        if backend is None:
            with self._lock:
                backend = self._backends.get(key)
                if backend is None:
                    backend = self._factory(account_id, region)
                    self._backends[key] = backend
        return backend

    def items(self) -> Iterator[tuple[tuple[str, str], T]]:
        with self._lock:
            return iter(list(self._backends.items()))

    def reset(self) -> None:
        with self._lock:
            self._backends.clear()
