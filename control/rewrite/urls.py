"""URL checks for the rewriter: scheme, placeholders, RFC 3986 form, hosts, extra params."""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import quote, unquote_plus

from control.rewrite.model import SKIP_MALFORMED, SKIP_PLACEHOLDER, SKIP_SCHEME

# What browsers strip from both ends of an href before parsing it (WHATWG "C0 control or
# space"), so a template's stray newline around a URL does not make the link malformed.
C0_OR_SPACE: Final = "".join(chr(code) for code in range(0x21))

_PLACEHOLDER = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\*\|.*?\|\*|%%.+?%%|\[\[.*?\]\]",
    re.DOTALL,
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HTTP_SCHEME = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?:")
_WWW = re.compile(r"[Ww][Ww][Ww]\.")

_SUB_DELIMS: Final = r"A-Za-z0-9\-._~!$&'()*+,;="  # unreserved + sub-delims (RFC 3986 2.2-2.3)
_PATH_CHARS: Final = _SUB_DELIMS + ":@/"
# Deliberate relaxation of RFC 3986: "[", "]" and "|" in query and fragment are common in
# real links (filter[a]=1, ids=1|2); browsers send them verbatim and the edge redirects
# byte for byte, so tracking them cannot change where the link goes.
_QUERY_CHARS: Final = _PATH_CHARS + r"?\[\]|"


def _run(chars: str) -> str:
    """Possessive regex for a run of `chars` and valid percent-escapes (unrolled for speed)."""
    return rf"[{chars}]*+(?:%[0-9A-Fa-f]{{2}}[{chars}]*+)*+"


_HTTP_URL = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://"
    rf"(?:{_run(_SUB_DELIMS + ':')}@)?"
    r"(\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9_\-]++(?:\.[A-Za-z0-9_\-]++)*+\.?)"  # 1: host
    r"(?::([0-9]*+))?"  # 2: port
    rf"(?:/{_run(_PATH_CHARS)})?"
    rf"(?:\?{_run(_QUERY_CHARS)})?"
    rf"(?:\#{_run(_QUERY_CHARS)})?"
)
_AUTHORITY = re.compile(r"[^/?#]*+//[^/?#]*+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_LAST_LABEL_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0[xX][0-9A-Fa-f]*)\.?$")

# Visible link text that a mail client would read as a URL or a host name.
_VISIBLE_URL = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://\S*"
    r"|[Ww][Ww][Ww]\.\S+"
    r"|(?:[^\W_](?:[\w\-]*[^\W_])?\.)+[^\W\d_]{2,63}\.?(?::[0-9]+)?(?:[/?#]\S*)?"
)


class Destination:
    """An http(s) link that passed every check: where it goes, and the host to compare."""

    __slots__ = ("host", "url")

    def __init__(self, url: str, host: str) -> None:
        self.url = url
        self.host = host


def has_placeholder(value: str) -> bool:
    """True when a template placeholder ({{x}}, {%x%}, *|x|*, %%x%%, [[x]]) is left in."""
    # Substring tests first: they reject almost every real URL far faster than the regex.
    if "{" in value or "%%" in value or "*|" in value or "[[" in value:
        return _PLACEHOLDER.search(value) is not None
    return False


def check_link(found: str, prefix_www: bool) -> Destination | str:
    """Return the destination of a link, or the skip code that keeps it untouched."""
    if has_placeholder(found):
        return SKIP_PLACEHOLDER
    if not found.startswith(("https://", "http://")) and not _HTTP_SCHEME.match(found):
        if prefix_www and _WWW.match(found):
            found = "http://" + found
        else:
            return SKIP_SCHEME  # mailto:, tel:, #anchor, relative, protocol-relative, ...
    url = found if found.isascii() else _encode_non_ascii(found)
    if url is None:
        return SKIP_MALFORMED
    host = _checked_host(url)
    return SKIP_MALFORMED if host is None else Destination(url, host)


def is_http_scheme_or_www(found: str) -> bool:
    """Cheap pre-check used by callers that only care about trackable-looking links."""
    return _HTTP_SCHEME.match(found) is not None or _WWW.match(found) is not None


def has_scheme(found: str) -> bool:
    return _SCHEME.match(found) is not None


def _checked_host(url: str) -> str | None:
    """Lower-cased host[:port] of a well-formed http(s) URL, or None when malformed."""
    match = _HTTP_URL.fullmatch(url)
    if match is None:
        return None
    host, port = match.groups()
    host = host.lower().rstrip(".")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    elif (host[-1:].isdigit() or "0x" in host) and _LAST_LABEL_NUMBER.search(host) and not _is_ipv4(host):
        return None  # browsers parse a host ending in a number as IPv4, and fail
    if port:
        if int(port) > 65535:
            return None
        return f"{host}:{port}"
    return host


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _encode_non_ascii(url: str) -> str | None:
    """Percent-encode non-ASCII in path and fragment as UTF-8, as every browser does.

    A non-ASCII host (IDNA 2003 and 2008 disagree on some names) or query (browsers encode
    it in the document's charset, unknown here) cannot be encoded safely: None.
    """
    authority = _AUTHORITY.match(url)
    if authority is None or not authority.group().isascii():
        return None
    rest = url[authority.end() :]
    before_fragment, hash_mark, fragment = rest.partition("#")
    path, question, query = before_fragment.partition("?")
    if not query.isascii():
        return None
    try:
        path, fragment = _quote_non_ascii(path), _quote_non_ascii(fragment)
    except UnicodeEncodeError:
        return None  # lone surrogates have no UTF-8 form
    return authority.group() + path + question + query + hash_mark + fragment


def _quote_non_ascii(part: str) -> str:
    return _NON_ASCII.sub(lambda match: quote(match.group(), safe=""), part)


def normalize_hosts(hosts: frozenset[str]) -> frozenset[str]:
    """Click hosts in the form check_link reports them: lower case, no trailing dot."""
    return frozenset(host.lower().rstrip(".") for host in hosts)


def is_click_host(host: str, click_hosts: frozenset[str]) -> bool:
    """True for a host (with or without its port) that is one of our click domains."""
    if host in click_hosts:
        return True
    bare, colon, _ = host.rpartition(":")
    return bool(colon) and not host.endswith("]") and bare in click_hosts


def looks_like_url(visible_text: str) -> bool:
    """True when link text reads as a URL or host name (mail clients compare it to href)."""
    return _VISIBLE_URL.fullmatch(visible_text) is not None


def encode_params(params: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Pre-encode extra query parameters once per message: (name, "name=value") pairs."""
    return tuple((name, f"{quote(name, safe='')}={quote(value, safe='')}") for name, value in params.items())


def append_params(url: str, params: tuple[tuple[str, str], ...]) -> str:
    """Add parameters the URL does not already carry, before its fragment."""
    if not params:
        return url
    before_fragment, hash_mark, fragment = url.partition("#")
    _, question, query = before_fragment.partition("?")
    present = {unquote_plus(pair.partition("=")[0]) for pair in query.split("&")} if question else set()
    extra = "&".join(pair for name, pair in params if name not in present)
    if not extra:
        return url
    if not question:
        joined = f"{before_fragment}?{extra}"
    elif not query or query.endswith("&"):
        joined = before_fragment + extra
    else:
        joined = f"{before_fragment}&{extra}"
    return joined + hash_mark + fragment
