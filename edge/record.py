"""The click record: what the edge journals for each click and ships verbatim."""

from __future__ import annotations

import msgspec

# Wire layout of one journal record (a msgpack array). Append fields only; the
# control plane decodes old records forever, since journals outlive releases.
# The hot path encodes a plain tuple in this order, which msgspec writes identically.


class ClickRecord(msgspec.Struct, array_like=True, frozen=True):
    click_id: bytes  # 16 bytes: random per-process prefix + counter
    time_ms: int
    status: int  # what the edge answered: 302 redirect
    method: bytes
    host: bytes
    ip: str
    user_agent: bytes
    referer: bytes
    accept_language: bytes
    purpose: bytes  # Sec-Purpose / Purpose / X-Moz header: prefetchers announce themselves
    netloc: str
    token: bytes  # raw token bytes, MAC verified by the edge


encode_record = msgspec.msgpack.Encoder().encode
decode_record = msgspec.msgpack.Decoder(ClickRecord).decode
