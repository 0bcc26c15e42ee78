"""URL checks for the rewriter: scheme, placeholders, RFC 3986 form, hosts, extra params."""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final
from urllib.parse import quote, unquote, unquote_plus

from publicsuffixlist import PublicSuffixList

from control.rewrite.model import SKIP_MALFORMED, SKIP_PLACEHOLDER, SKIP_SCHEME

# What browsers strip from both ends of an href before parsing it (WHATWG "C0 control or
# space"), so a template's stray newline around a URL does not make the link malformed.
C0_OR_SPACE: Final = "".join(chr(code) for code in range(0x21))

# Template placeholders as (opener, closer, least characters between), with the
# senders that write them.
_PLACEHOLDERS: Final = (
    ("{{", "}}", 0),  # Liquid, Handlebars, Jinja, Mustache (Postmark, SES, SendGrid, HubSpot)
    ("{%", "%}", 0),  # Liquid and Jinja tags
    ("*|", "|*", 0),  # Mailchimp, Mandrill
    ("%%", "%%", 1),  # Salesforce Marketing Cloud, Pardot, Acoustic
    ("[[", "]]", 0),  # GetResponse, Mailjet, Constant Contact
    ("$(", ")$", 1),  # Oracle Responsys: $(EMAIL_ADDRESS_)$
    ("${", "}", 1),  # Responsys RPL, FreeMarker
    ("$[", "]$", 1),  # Zoho Campaigns: $[LI:EMAIL]$
    ("~~", "~~", 1),  # Oracle Eloqua field merges: ~~eloqua..type--emailfield..~~
    ("<%", "%>", 0),  # Adobe Campaign, ERB
)
# Merge tags spelled as one name between single delimiters, matched whole so that
# ordinary URLs (medium.com/@user, filter[a]=1, caf%C3%A9, $top=10) are not taken
# for them. A "%NAME%" never starts with two hex digits: that would be an escape.
_NAMED_PLACEHOLDER = re.compile(
    r"@[A-Z][A-Z0-9_]++@"  # dotdigital: @FIRSTNAME@
    r"|\$[A-Za-z_]\w*+\$"  # Emarsys: $email$
    r"|%(?![0-9A-Fa-f]{2})[A-Za-z_][\w.]*+%"  # ActiveCampaign %EMAIL%, Mailgun %recipient.x%
    r"|\{[!$]?[A-Za-z_][\w.:=\-]*+\}"  # Mautic {contactfield=email}, AWeber {!email}
    # Campaign Monitor, Sendy: [email], [firstname,fallback=there], as a whole value
    r"|(?<=[=/?&#])\[[A-Za-z_][\w.\-]*+(?:,fallback=[^\]]*+)?\]"
)
# What each placeholder that fits the URL grammar holds: a cheap test before the full one.
_FITS_URL_PLACEHOLDER: Final = re.compile(r"\*\||[\[$@]|~~").search
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


def _plain_run(chars: str) -> str:
    """_run without the escapes that can spell a placeholder: %25 %5B %5D %7B %7C %7D."""
    return _run(chars).replace("%[0-9A-Fa-f]", "%(?!25|[57][BbDd]|7[Cc])[0-9A-Fa-f]")


# The common link, checked in one regex call: lower-case "http(s)://", a lower-case host
# name whose last label starts with a letter (so no IPv4 look-alike), no userinfo, no
# port, no trailing dot, and no "[", "]" or "|" after it (so no placeholder either).
# Whatever it accepts, check_link accepts too, as is, with this host (lower case, no
# port); anything else goes the long way. tests/rewrite/test_rewrite_urls.py holds both
# to that.
# Each part is possessive ("?+"): it starts with a character nothing else here can take,
# so giving it back could never let the full match succeed, and the engine skips the
# backtracking frames a greedy "?" costs.
# Nor an escape that can spell a placeholder (_plain_run): "*%7CX%7C*" goes the long way,
# as do "$", "@" and "~", which the single-delimiter merge tags are made of ($(X)$,
# @X@, ~~X~~), rare in other links.
_PLAIN_CHARS: Final = _PATH_CHARS.replace("$", "").replace("@", "").replace("~", "")
_PLAIN_HTTP_URL = re.compile(
    r"https?://((?:[a-z0-9_\-]++\.)*+[a-z][a-z0-9_\-]*+)"
    rf"(?:/{_plain_run(_PLAIN_CHARS)})?+"
    rf"(?:\?{_plain_run(_PLAIN_CHARS + '?')})?+"
    rf"(?:\#{_plain_run(_PLAIN_CHARS + '?')})?+"
)
plain_http_url: Final = _PLAIN_HTTP_URL.fullmatch  # group 1: the host
_AUTHORITY = re.compile(r"[^/?#]*+//[^/?#]*+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_DIGIT_OR_DOT: Final = "0123456789."
_TAB_OR_NEWLINE: Final = str.maketrans("", "", "\t\n\r")
_LAST_LABEL_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0[xX][0-9A-Fa-f]*)\.?\Z")

# Visible link text that a mail client would read as a URL or a host name. Labels are
# matched possessively (a label may not end in "-" or "_"), so long text stays linear.
_VISIBLE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*+://\S*+|[Ww][Ww][Ww]\.\S++")
# Text shaped like a host name; it is one only if its last label (group 1) is a real
# top-level domain: "shop.example.com" is, "invoice.pdf" and "Node.js" are not.
_VISIBLE_HOST = re.compile(
    r"(?:[^\W_][\w\-]*+(?<![_\-])\.)++([^\W\d_]{2,63})(?::[0-9]++)?(?:[/?#]\S*+)?"
)


class Destination:
    """An http(s) link that passed every check: where it goes, and (lazily) its host."""

    __slots__ = ("_match", "url")

    def __init__(self, match: re.Match[str]) -> None:
        self._match = match
        self.url = match.string

    @property
    def host(self) -> str:
        """Lower-cased host, with ":port" when the URL names one."""
        host, port = self._match.groups()
        host = host.lower().rstrip(".")
        return f"{host}:{port}" if port else host


def has_placeholder(value: str) -> bool:
    """True when a template placeholder ({{x}}, *|x|*, %%x%%, $(x)$, ...) is left in."""
    for opener, closer, least in _PLACEHOLDERS:
        # If the first opener has no closer after it, no later one has: linear time.
        start = value.find(opener)
        if start >= 0 and value.find(closer, start + len(opener) + least) >= 0:
            return True
    return _NAMED_PLACEHOLDER.search(value) is not None


def check_link(found: str, prefix_www: bool) -> Destination | str:
    """Return the destination of a link, or the skip code that keeps it untouched."""
    if "\n" in found or "\t" in found or "\r" in found:
        # A URL parser drops ASCII tabs and newlines wherever they are (WHATWG URL,
        # "remove all ASCII tab or newline"): a template or mailer that wrapped a long
        # href still links where the browser goes.
        found = found.translate(_TAB_OR_NEWLINE)
    if not found.startswith(("https://", "http://")) and not _HTTP_SCHEME.match(found):
        if has_placeholder(found):
            return SKIP_PLACEHOLDER
        if not (prefix_www and _WWW.match(found)):
            return SKIP_SCHEME  # mailto:, tel:, #anchor, relative, protocol-relative, ...
        found = "http://" + found
    url = found if found.isascii() else _encode_non_ascii(found)
    if url is not None and " " in url:
        url = _encode_spaces(url)
    match = None if url is None else _well_formed(url)
    if url is None or match is None:
        return SKIP_PLACEHOLDER if has_placeholder(found) else SKIP_MALFORMED
    # Some placeholders fit the URL grammar (*|x|*, [[x]], $(x)$, ~~x~~, @X@, =[x]); test
    # for them last, as well-formed links are the common case.
    if _FITS_URL_PLACEHOLDER(url) is not None and has_placeholder(url):
        return SKIP_PLACEHOLDER
    # Editors percent-encode placeholders in links ("*%7CEMAIL%7C*", "%7B%7Bemail%7D%7D"),
    # and senders fill them in so: tracked, the placeholder would be frozen in the token.
    if "%" in url and has_placeholder(unquote(url)):
        return SKIP_PLACEHOLDER
    return Destination(match)


def _well_formed(url: str) -> re.Match[str] | None:
    """The match of a well-formed http(s) URL (groups: host, port), or None."""
    match = _HTTP_URL.fullmatch(url)
    if match is None:
        return None
    host, port = match.groups()
    if host[-1] == "]":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    elif (
        (host[-1] in _DIGIT_OR_DOT or "0x" in host or "0X" in host)
        and _LAST_LABEL_NUMBER.search(host)
        and not _is_ipv4(host.rstrip("."))
    ):
        return None  # browsers parse a host ending in a number as IPv4, and fail
    # Length first: int() refuses more than 4300 digits, and no port needs six. Port 0
    # is no port a browser connects to.
    if port and (len(port.lstrip("0")) > 5 or not 0 < int(port) <= 65535):
        return None
    return match


_SCHEME_AUTHORITY = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*+")


def host_reads_as_written(url: str) -> bool:
    """True when a browser goes to the host the URL spells, as host revocations compare it.

    The authority (RFC 3986: up to the first "/", "?" or "#") must be well-formed: an
    ASCII host name, dotted-decimal IPv4 or an [IPv6] literal, with optional userinfo and
    port. A browser reads other spellings as some other host: "\\" ends the authority,
    a percent-escaped host is decoded and IDNA-mapped ("%EF%BD%85vil.com" is evil.com),
    and "0x7f.1" or "2130706433" are IPv4 addresses.
    """
    match = _SCHEME_AUTHORITY.match(url)
    return match is not None and _well_formed(match.group()) is not None


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


def _encode_spaces(url: str) -> str | None:
    """Spaces after the host percent-encoded, as every browser sends them (the path,
    query and fragment percent-encode sets all hold U+0020); None for one in the host."""
    authority = _AUTHORITY.match(url)
    if authority is None or " " in authority.group():
        return None
    return authority.group() + url[authority.end() :].replace(" ", "%20")


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
    if "." not in visible_text and ":" not in visible_text:
        return False  # "Shop now": every URL or host name has one or the other
    text = visible_text.removesuffix(".")
    if _VISIBLE_URL.fullmatch(text) is not None:
        return True
    host = _VISIBLE_HOST.fullmatch(text)
    return host is not None and _is_tld(host.group(1))


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # Loaded on first use (a link whose text reads like a host name): about 10k rules.
    return PublicSuffixList()


def _is_tld(label: str) -> bool:
    """True for a top-level domain of the Public Suffix List ("com", "io", "рф")."""
    return _public_suffixes().publicsuffix("x." + label.lower(), accept_unknown=False) is not None


Params = tuple[tuple[str, str], ...]  # (name, "name=value" percent-encoded)


def encode_params(params: dict[str, str]) -> Params:
    """Pre-encode extra query parameters once per message."""
    return tuple(
        (name, f"{quote(name, safe='')}={quote(value, safe='')}") for name, value in params.items()
    )


def append_params(url: str, params: Params) -> str:
    """Add parameters the URL does not already carry, before its fragment."""
    if not params:
        return url
    before_fragment, hash_mark, fragment = url.partition("#")
    _, question, query = before_fragment.partition("?")
    extra = "&".join([pair for name, pair in params if not _has_key(query, name)])
    if not extra:
        return url
    if not question:
        joined = f"{before_fragment}?{extra}"
    elif not query or query.endswith("&"):
        joined = before_fragment + extra
    else:
        joined = f"{before_fragment}&{extra}"
    return joined + hash_mark + fragment


def _has_key(query: str, name: str) -> bool:
    if "%" not in query and "+" not in query and "&" not in name and "=" not in name:
        # Every key is spelled literally: substring tests decide without splitting (a
        # name holding "&" or "=" matched across pairs: "a&b" in "?a&b=1").
        if name not in query:
            return False
        padded = f"&{query}&"
        return f"&{name}=" in padded or f"&{name}&" in padded
    return any(unquote_plus(pair.partition("=")[0]) == name for pair in query.split("&"))
