"""Splice ordered, non-overlapping edits into a string, leaving every other byte alone."""

from __future__ import annotations

Edit = tuple[int, int, str]  # replace source[start:end] with the string


def apply_edits(source: str, edits: list[Edit]) -> str:
    """Return source with each (start, end, replacement) applied; edits sorted by start."""
    if not edits:
        return source
    pieces: list[str] = []
    last = 0
    for start, end, replacement in edits:
        pieces.append(source[last:start])
        pieces.append(replacement)
        last = end
    pieces.append(source[last:])
    return "".join(pieces)
