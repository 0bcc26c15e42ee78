"""Tracked-link token wire format: the one source of truth for minting and verifying.

A tracked URL is ``<click base>/<netloc>/<token>`` when the destination's host is
plain ASCII (so a reader sees where the link goes), else ``<click base>/<token>``.

``token`` is unpadded base64url of ``raw``::

    raw  = header(1) | key_id (LEB128) | body (msgpack) | zero pad (0-2) | tag(16)
    header = VERSION << 2 | pad          pad makes len(raw) a multiple of 3, so
                                         every base64 character is significant and
                                         no two strings decode to the same token
    tag  = BLAKE3-keyed(key, netloc | "\\n" | raw without tag)[:16]

The edge decodes by mapping base64url onto standard base64, so it also takes the
standard alphabet's "+" and "/" for "-" and "_", and "=" padding after the last group
(which strict base64 decoding allows): the same raw bytes, so one token to the MAC, the
stats and the kill switch. Refusing those spellings would cost the hot path about 5 % of
a token check for no change in what is counted or blocked. (A "/" in a token with no
netloc before it reads as the end of a netloc, so that spelling fails closed: 404.)

A token never ends in "-" or "_": plain-text linkifiers drop those from the end of a
URL (Thunderbird a "-", GitHub-flavoured ones a "_"), which would cut the tag short,
and a tracked URL may land in a text body or be pasted anywhere. When one would, the
minter moves the link's ``sent_at`` on by a second and signs again (about one link in
32, rarely more than a second); a token without a send time (``sent_at`` 0) is left
as it is. Nothing changes for the edge.

The MAC covers the readable netloc, so the host a reader sees is the host the
link goes to. ``body`` is a msgpack array (see :class:`Body`); with the netloc in
the path, ``body.url`` holds only what follows it (path, query, fragment) and the
scheme is a flag, which keeps the tracked URL close to the destination's length.
The key id names a per-tenant key, so a token also names its tenant. Recipients
appear only as the opaque reference the sender chose.
"""

from __future__ import annotations

import binascii
import hmac
import re
from typing import Final

import msgspec
from blake3 import blake3

VERSION: Final = 1
TAG_LEN: Final = 16
KEY_LEN: Final = 32
MAX_URL_LEN: Final = 16384

LOCATION_HTML: Final = 0
LOCATION_TEXT: Final = 1
LOCATIONS: Final = ("html", "text")

FLAG_HTTPS: Final = 1
FLAG_NETLOC_IN_PATH: Final = 2

# A netloc we are willing to show in clear: ASCII host name or IPv4, optional port.
_READABLE_NETLOC = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?")
# Printable ASCII without space: what a Location header may carry verbatim.
_SAFE_URL = re.compile(r"[\x21-\x7e]+")
_SCHEME = re.compile(r"(?i)(https?)://([^/?#]+)")

_TO_URL = bytes.maketrans(b"+/", b"-_")
# The common destination's head: lower-case http(s) and a readable netloc. With printable
# ASCII after it (_is_safe_rest), it is what check_destination and _split accept in the
# compact form; anything else takes the general path.
_COMPACT = re.compile(r"(https?)://([A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?)(?=[/?#]|\Z)")
_HEADERS: Final = tuple(bytes((VERSION << 2 | pad,)) for pad in range(3))
_ZEROS: Final = (b"", b"\0", b"\0\0")
# Last characters that linkifiers of plain text drop from a URL ("-", "_" as bytes).
_CUT_FROM_THE_END: Final = frozenset(b"-_")
_ARRAY_OF_8: Final = b"\x98"  # msgpack fixarray header of Body's eight fields
_CACHE_SIZE: Final = 4096


class Body(msgspec.Struct, array_like=True, frozen=True):
    """The signed payload. Field order is the wire format: append only."""

    flags: int
    url: str
    message_id: str = ""
    link_index: int = 0
    location: int = LOCATION_HTML
    tags: tuple[str, ...] = ()
    sent_at: int = 0
    recipient: str = ""


class Opened(msgspec.Struct, frozen=True):
    """A token whose MAC verified: its key id, readable netloc, raw bytes and body."""

    key_id: int
    netloc: str
    raw: bytes
    body: Body

    @property
    def url(self) -> str:
        return destination(self.netloc, self.body)


_encode_body = msgspec.msgpack.Encoder().encode
_decode_body = msgspec.msgpack.Decoder(Body).decode
_SCHEMES: Final = ("http://", "https://")


def open_path(path: str, keys: dict[int, bytes]) -> tuple[int, str, bytes, Body] | None:
    """The edge's hot path: :func:`open_token` as (key_id, netloc, raw, body), or None.

    Accepts and refuses exactly what :func:`open_token` does (a test holds them to it),
    without building an :class:`Opened`. A pre-keyed hasher cloned per token
    (``blake3(key=).copy()``) measured slower than the keyed one-shot call: the clone
    is a ~2 KB allocation.
    """
    slash = path.find("/")
    netloc = path[:slash] if slash >= 0 else ""
    try:
        # str.replace beats str.translate by ~7x here, and this is the hot path.
        raw = binascii.a2b_base64(
            path[slash + 1 :].replace("-", "+").replace("_", "/"), strict_mode=True
        )
    except (binascii.Error, ValueError):
        return None
    if len(raw) < TAG_LEN + 3 or raw[0] >> 2 != VERSION:
        return None
    if raw[1] < 0x80:  # one-byte key id: the common case, no loop
        key_id, offset = raw[1], 2
    else:
        key_id, offset = _read_leb128(raw)
    key = keys.get(key_id)
    if key is None:
        return None
    tag = blake3(netloc.encode() + b"\n" + raw[:-TAG_LEN], key=key).digest(TAG_LEN)
    if not hmac.compare_digest(tag, raw[-TAG_LEN:]):
        return None
    try:
        body = _decode_body(raw[offset : len(raw) - TAG_LEN - (raw[0] & 3)])
    except msgspec.DecodeError:
        return None  # a key holder signed garbage: refuse rather than crash
    if bool(netloc) != bool(body.flags & FLAG_NETLOC_IN_PATH):
        return None
    return key_id, netloc, raw, body


def location(netloc: str, body: Body) -> bytes:
    """The Location header value: :func:`destination`, as bytes."""
    if netloc:
        return (_SCHEMES[body.flags & FLAG_HTTPS] + netloc + body.url).encode()
    return body.url.encode()


class TokenError(ValueError):
    """A destination or field that cannot be put in a token."""


def check_destination(url: str) -> None:
    """Raise TokenError unless url is an absolute http(s) URL safe to put in Location."""
    if len(url) > MAX_URL_LEN:
        raise TokenError(f"url longer than {MAX_URL_LEN} characters")
    if not _SAFE_URL.fullmatch(url):
        raise TokenError("url must be printable ASCII without spaces (percent-encode the rest)")
    if not _SCHEME.match(url):
        raise TokenError("url must start with http:// or https:// and name a host")


def mint(
    key_id: int,
    key: bytes,
    url: str,
    *,
    message_id: str = "",
    link_index: int = 0,
    location: int = LOCATION_HTML,
    tags: tuple[str, ...] = (),
    sent_at: int = 0,
    recipient: str = "",
) -> str:
    """Return the tracked path (no leading slash) that redirects to ``url``."""
    minter = TokenMinter(key_id, key, message_id=message_id, sent_at=sent_at, recipient=recipient)
    return minter.mint(url, link_index, location, tags)


class TokenMinter:
    """Mints one message's tokens under one key: :func:`mint` with the shared work done once.

    A message's links share key, message id, send time and recipient, and mostly a few
    hosts and tags. So the keyed hasher absorbs each netloc once and is cloned per token,
    and the body is spliced from pieces msgspec encoded (a msgpack array is its header,
    then its items), byte for byte what encoding :class:`Body` whole gives. ``prefix``
    (say the click base and "/") is put before every path it returns.
    """

    # msgpack of the link indexes a message has, encoded once per process.
    _INDEXES: Final = tuple(_encode_body(index) for index in range(1024))

    def __init__(
        self,
        key_id: int,
        key: bytes,
        *,
        message_id: str = "",
        sent_at: int = 0,
        recipient: str = "",
        prefix: str = "",
    ) -> None:
        if len(key) != KEY_LEN or key_id < 0:
            raise TokenError("signing key must be 32 bytes with a non-negative id")
        self._key_id = _leb128(key_id)
        self._hasher = blake3(key=key)
        self._message_id = message_id
        self._sent_at = sent_at
        self._recipient = recipient
        self._prefix = prefix
        # netloc -> the keyed hasher that absorbed netloc + "\n", cloned for each token
        self._by_netloc: dict[str, blake3] = {}
        # url -> (prefix + "netloc/" or prefix, its netloc's hasher, key id + body head)
        self._by_url: dict[str, tuple[str, blake3, bytes]] = {}
        # (location, tags) -> body tail: location | tags | sent_at | recipient
        self._tails: dict[tuple[int, tuple[str, ...]], bytes] = {}
        # The last (location, tags) and its tail: a message's links mostly share them.
        self._last: tuple[int, tuple[str, ...], bytes] = (
            LOCATION_HTML,
            (),
            self._tail(LOCATION_HTML, ()),
        )

    def mint(self, url: str, index: int, location: int, tags: tuple[str, ...]) -> str:
        """Return the tracked path (no leading slash) to ``url`` for link ``index``."""
        prefix, hasher, head = self._by_url.get(url) or self._learn(url)
        last_location, last_tags, tail = self._last
        if location != last_location or tags is not last_tags:
            tail = self._tails.get((location, tags)) or self._tail(location, tags)
            self._last = (location, tags, tail)
        indexes = self._INDEXES
        encoded = indexes[index] if 0 <= index < len(indexes) else _encode_body(index)
        text = _sign(hasher, head + encoded + tail)
        if text[-1] in _CUT_FROM_THE_END and self._sent_at:
            text = self._resigned_later(hasher, head + encoded, location, tags)
        return prefix + text.decode()

    def _resigned_later(
        self, hasher: blake3, head: bytes, location: int, tags: tuple[str, ...]
    ) -> bytes:
        """The token signed with a later send time, so it ends in neither "-" nor "_"
        (each try has a 1 in 32 chance to, so 40 tries all failing is 1e-60)."""
        for later in range(1, 41):
            tail = _encode_body((location, tags, self._sent_at + later, self._recipient))
            text = _sign(hasher, head + tail[1:])
            if text[-1] not in _CUT_FROM_THE_END:
                break
        return text

    def _learn(self, url: str) -> tuple[str, blake3, bytes]:
        """Check a new destination and encode what every token to it shares."""
        match = _COMPACT.match(url) if len(url) <= MAX_URL_LEN else None
        rest = "" if match is None else url[match.end() :]
        # The common case; the test is _is_safe_rest's, inline.
        if match is not None and rest.isascii() and rest.isprintable() and " " not in rest:
            netloc = match.group(2)
            flags = FLAG_NETLOC_IN_PATH | (FLAG_HTTPS if match.end(1) == 5 else 0)
        else:
            check_destination(url)
            netloc, flags, rest = _split(url)
        hasher = self._by_netloc.get(netloc)
        if hasher is None:  # a message's links go to a handful of hosts
            hasher = self._hasher.copy()
            hasher.update(netloc.encode() + b"\n")
            self._by_netloc[netloc] = hasher
        encoded = _encode_body((flags, rest, self._message_id))
        head = self._key_id + _ARRAY_OF_8 + encoded[1:]
        if len(self._by_url) >= _CACHE_SIZE:  # bounded for a minter kept around
            self._by_url.clear()  # (it has at least as many entries as _by_netloc)
            self._by_netloc.clear()
        prefix = f"{self._prefix}{netloc}/" if netloc else self._prefix
        known = self._by_url[url] = (prefix, hasher, head)
        return known

    def _tail(self, location: int, tags: tuple[str, ...]) -> bytes:
        if location not in (LOCATION_HTML, LOCATION_TEXT):
            raise TokenError("location must be html or text")
        tail = _encode_body((location, tags, self._sent_at, self._recipient))[1:]
        if len(self._tails) >= _CACHE_SIZE:
            self._tails.clear()
        self._tails[(location, tags)] = tail
        return tail


def _sign(hasher: blake3, body: bytes) -> bytes:
    """The base64url token of ``body`` (key id onwards), padded, under its netloc's hasher."""
    pad = -(len(body) + 1 + TAG_LEN) % 3
    signed = _HEADERS[pad] + body + _ZEROS[pad]
    hasher = hasher.copy()
    hasher.update(signed)
    raw = signed + hasher.digest(TAG_LEN)
    return binascii.b2a_base64(raw, newline=False).translate(_TO_URL)


def open_token(path: str, keys: dict[int, bytes]) -> Opened | None:
    """Verify a tracked path (no leading slash); None for anything not exactly valid."""
    found = open_path(path, keys)
    return None if found is None else Opened(*found)


def verify_raw(netloc: str, raw: bytes, key: bytes) -> bool:
    """Constant-time check of a raw token's tag under one key."""
    return hmac.compare_digest(_tag(key, netloc, raw[:-TAG_LEN]), raw[-TAG_LEN:])


def destination(netloc: str, body: Body) -> str:
    """Rebuild the exact destination URL from the readable netloc and the body."""
    if not body.flags & FLAG_NETLOC_IN_PATH:
        return body.url
    scheme = "https://" if body.flags & FLAG_HTTPS else "http://"
    return scheme + netloc + body.url


def decode_raw(netloc: str, raw: bytes) -> tuple[int, Body]:
    """Decode an already-verified token's raw bytes (as journaled) into key id and body."""
    key_id, offset = _read_leb128(raw)
    pad = raw[0] & 3
    return key_id, _decode_body(raw[offset : len(raw) - TAG_LEN - pad])


def _split(url: str) -> tuple[str, int, str]:
    """Choose the compact form (netloc in path) when it round-trips byte for byte."""
    match = _SCHEME.match(url)
    assert match is not None  # check_destination ran first
    scheme, netloc = match.group(1), match.group(2)
    rest = url[match.end() :]
    if scheme in ("http", "https") and _READABLE_NETLOC.fullmatch(netloc):
        flags = FLAG_NETLOC_IN_PATH | (FLAG_HTTPS if scheme == "https" else 0)
        return netloc, flags, rest
    return "", 0, url


def _is_safe_rest(rest: str) -> bool:
    # Every character in \x21-\x7e, as _SAFE_URL wants, by str methods at C speed: the
    # regex engine tests a character class one character at a time, several times slower.
    return rest.isascii() and rest.isprintable() and " " not in rest


def _tag(key: bytes, netloc: str, signed: bytes) -> bytes:
    return blake3(netloc.encode() + b"\n" + signed, key=key).digest(TAG_LEN)


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_leb128(raw: bytes) -> tuple[int, int]:
    """Read the key id that follows the header; returns (value, offset after it)."""
    value = shift = 0
    offset = 1
    while offset < 6:
        byte = raw[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        if not byte & 0x80:
            return value, offset
        shift += 7
    return -1, offset  # longer than 5 bytes: no such key
