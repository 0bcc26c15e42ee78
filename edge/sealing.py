"""AES-256-GCM sealing of secrets at rest: signing keys in the database, edge snapshots."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_LEN = 12


class SealError(ValueError):
    """A sealed value that does not open under this key (wrong key or tampered)."""


def parse_key(text: str) -> bytes:
    """A 32-byte key from base64 (standard or URL-safe); ValueError otherwise."""
    try:
        key = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(key) != 32:
        raise ValueError(f"must decode to 32 bytes, got {len(key)}")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """nonce | ciphertext+tag; context (e.g. the row it belongs to) is authenticated."""
        nonce = os.urandom(NONCE_LEN)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_LEN], sealed[NONCE_LEN:], context)
        except (InvalidTag, ValueError):
            raise SealError("cannot open sealed value") from None
