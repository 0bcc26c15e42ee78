"""Field types shared by request bodies: what an identifier stored or signed may hold.

NUL is refused everywhere (PostgreSQL cannot store it in text, and a NUL in a signed
token would reach the database at every click).
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

MAX_ID: Final = 2**63 - 1  # the largest id a BIGINT (and SQLite's INTEGER) holds


def check_tenant_name(name: str) -> str:
    """A tenant's name, trimmed, or ValueError. Not all digits: the CLI takes a tenant by
    id or by name, and "clickgate apikey create 1" must not mean two tenants."""
    trimmed = name.strip()
    if not trimmed or "\x00" in trimmed:
        raise ValueError("tenant name must not be blank or hold NUL")
    if trimmed.isascii() and trimmed.isdigit():
        raise ValueError(f"tenant name {trimmed!r} is all digits, which reads as a tenant id")
    return trimmed


MessageId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="Your id for the message: 1 to 200 characters, no NUL.",
    ),
]
# POST /v1/links: "" (or none) mints a link that belongs to no message.
LinkMessageId = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00]*$")]
# Tags travel in every tracked link's token: keep them few and short so URLs stay short
# (and within CLICKGATE_EDGE_MAX_PATH). A rewrite's per-link tags are held to them too.
MAX_TAGS: Final = 20
MAX_TAG_CHARS: Final = 128
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TAG_CHARS, pattern=r"^[^\x00]*$")]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=MAX_TAGS)]
Recipient = Annotated[
    str,
    msgspec.Meta(
        max_length=320,
        pattern=r"^[^\x00]*$",
        description="An email address (hashed before it goes into a link) or your own "
        "opaque reference (at most 64 characters are kept).",
    ),
]
# A click domain or stream name given in a body; looked up, never stored as given.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=r"^[^\x00]*$")]
