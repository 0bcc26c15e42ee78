"""A bounded two-generation cache: near-LRU hit rates for the price of two dict lookups."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class GenerationalCache(Generic[K, V]):
    """Holds at most 2 * size entries; what was used in the last generation survives.

    New entries go to the young generation. When it is full it becomes the old
    one and the previous old one is dropped whole, so there is no per-entry
    bookkeeping on hits, and a key still in use is promoted back on its next hit.
    Mail traffic repeats a few hundred user agents, so nearly every lookup is a hit.
    Safe under the GIL: a racing rotation can only drop entries, never corrupt them.
    """

    __slots__ = ("_old", "_size", "_young")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("cache size must be at least 1")
        self._size = size
        self._young: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        value = self._young.get(key)
        if value is None:
            value = self._old.get(key)
            if value is not None:
                self.put(key, value)  # promote: still in use
        return value

    def put(self, key: K, value: V) -> None:
        if len(self._young) >= self._size:
            self._old = self._young
            self._young = {}
        self._young[key] = value

    def __len__(self) -> int:
        return len(self._young) + len(self._old)
