"""Decode and encode HTML character references in attribute values, exactly as browsers do."""

from __future__ import annotations

import re
from html.entities import html5
from typing import Final

_CHARREF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9A-Fa-f]+;?|([A-Za-z][A-Za-z0-9]*)(;?))")
# Legacy names that browsers also accept without ";" ("&amp", "&copy") are at most 6 long.
_LEGACY_MAX: Final = 6
_UNQUOTED_ESCAPES: Final = {
    ord("&"): "&amp;",
    ord('"'): "&quot;",
    ord("'"): "&#39;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord("="): "&#61;",
    ord("`"): "&#96;",
    ord(" "): "&#32;",
    ord("\t"): "&#9;",
    ord("\n"): "&#10;",
    ord("\f"): "&#12;",
    ord("\r"): "&#13;",
}


def decode_attribute(value: str) -> str:
    """Decode character references once, with the HTML attribute-value rules.

    Unlike text, an attribute keeps "&copy=2" or "&notit" literal when a legacy name
    without ";" is followed by "=" or an alphanumeric: that is how "?a=1&copy=2" survives.
    """
    if "&" not in value:
        return value
    # The common case, only escaped query separators: each "&amp;" replaced shortens the
    # value by 4, so the lengths tell how many there were, without counting them apart.
    replaced = value.replace("&amp;", "&")
    if (len(value) - len(replaced)) // 4 == value.count("&"):
        return replaced
    return _CHARREF.sub(_in_attribute, value)


def decode_text(value: str) -> str:
    """Decode character references once, as in text content (a link's visible text)."""
    return _CHARREF.sub(_in_text, value) if "&" in value else value


def _in_attribute(match: re.Match[str]) -> str:
    return _replace(match, True)


def _in_text(match: re.Match[str]) -> str:
    return _replace(match, False)


def _replace(match: re.Match[str], attribute: bool) -> str:
    name = match.group(1)
    if name is None:
        return _numeric(match.group())
    if match.group(2) and name + ";" in html5:
        return html5[name + ";"]
    # Longest legacy name that prefixes the reference, as the tokenizer would consume it.
    for length in range(min(len(name), _LEGACY_MAX), 1, -1):
        if name[:length] in html5:
            following = name[length : length + 1] or _char_after(match)
            if attribute and (following == "=" or (following.isascii() and following.isalnum())):
                return match.group()  # historical attribute rule: leave it literal
            return html5[name[:length]] + match.group()[length + 1 :]
    return match.group()


def _numeric(reference: str) -> str:
    """ "&#65;" or "&#x41;" as the tokenizer decodes it (html.unescape would drop U+0001
    where browsers keep it, and raise on more than 4300 digits)."""
    hexadecimal = reference[2] in "xX"
    digits = reference[3 if hexadecimal else 2 :].rstrip(";").lstrip("0")
    if len(digits) > 8:
        return "\ufffd"  # far beyond U+10FFFF
    code = int(digits or "0", 16 if hexadecimal else 10)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    if 0x80 <= code <= 0x9F:  # the spec's windows-1252 table; its five holes stay as is
        try:
            return bytes((code,)).decode("cp1252")
        except UnicodeDecodeError:
            pass
    return chr(code)


def _char_after(match: re.Match[str]) -> str:
    if match.group(2):
        return ";"
    end = match.end()
    return match.string[end : end + 1]


def encode_attribute(value: str, quote: str) -> str:
    """Escape a value for writing back between `quote` ('"', "'" or "" for unquoted)."""
    if quote == '"':
        return value.replace("&", "&amp;").replace('"', "&quot;")
    if quote == "'":
        return value.replace("&", "&amp;").replace("'", "&#39;")
    return value.translate(_UNQUOTED_ESCAPES)
