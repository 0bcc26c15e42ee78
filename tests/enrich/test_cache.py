"""The generational cache: bounded, and what is still used survives a rotation."""

from __future__ import annotations

import pytest

from control.enrich.cache import GenerationalCache


def test_bounded_and_keeps_what_is_used() -> None:
    cache: GenerationalCache[int, str] = GenerationalCache(3)
    for n in range(3):
        cache.put(n, str(n))
    cache.put(3, "3")  # rotation: 0..2 are now the old generation
    assert cache.get(0) == "0"  # promoted back into the young one
    for n in range(4, 10):
        cache.put(n, str(n))
    assert len(cache) <= 6
    assert cache.get(1) is None  # never used again: dropped


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GenerationalCache[str, str](0)
