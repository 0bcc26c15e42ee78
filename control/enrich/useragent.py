"""User agent -> browser, OS, device, platform, email client and bot flag, cached per string."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import ua_parser
from ua_parser import Domain, load_lazy_builtins
from ua_parser.core import OS, Device, Resolver, UserAgent

from control.enrich import clients
from control.enrich.botagents import MAX_UA_CHARS, all_patterns, compile_matcher
from control.enrich.cache import GenerationalCache

DEFAULT_CACHE_SIZE: Final = 20_000  # per generation; mail repeats a few hundred agents
# ua-parser reads "Outlook-Android/2.0" as Android 2.0: that is the app's version.
_APP_VERSION_AS_OS: Final = re.compile(r"^Outlook-Android/")


class AgentInfo(NamedTuple):
    """Everything a user agent string alone tells. "" means unknown."""

    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    platform: str
    email_client: str
    known_bot: bool
    empty: bool


EMPTY_AGENT: Final = AgentInfo("", "", "", "", "", clients.UNKNOWN, "", False, True)


def make_resolver() -> Resolver:
    """ua-parser's fastest resolver here: the Rust regex-filtered one (~10 us a parse),
    falling back to the pure-Python one (~1 ms) without the accelerator."""
    regex_resolver = ua_parser.RegexResolver
    if regex_resolver is not None:
        return regex_resolver(load_lazy_builtins())
    return ua_parser.BasicResolver(ua_parser.load_builtins())


class AgentClassifier:
    """Parses each distinct user agent once; later lookups are a dict hit."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._resolve = make_resolver()
        self._is_bot = compile_matcher(all_patterns())
        self._cache: GenerationalCache[str, AgentInfo] = GenerationalCache(cache_size)

    def classify(self, ua: str) -> AgentInfo:
        # Keyed by the parsed prefix only: huge unique agents cannot balloon the cache.
        key = ua if len(ua) <= MAX_UA_CHARS else ua[:MAX_UA_CHARS]
        info = self._cache.get(key)
        if info is None:
            info = self._classify(key)
            self._cache.put(key, info)
        return info

    def _classify(self, ua: str) -> AgentInfo:
        text = ua.strip()
        if not text:
            return EMPTY_AGENT
        parsed = self._resolve(text, Domain.ALL)
        agent, os, device = parsed.user_agent, parsed.os, parsed.device
        browser = agent.family if agent else ""
        device_family = device.family if device else ""
        client = clients.email_client(text, browser)
        os_family = os.family if os else ""
        brand = (device.brand or "") if device else ""
        return AgentInfo(
            browser=browser,
            browser_version=_version(agent),
            os=os_family,
            os_version="" if _APP_VERSION_AS_OS.match(text) else _version(os),
            device=device_family,
            platform=clients.platform(text, client, os_family, device_family, brand),
            email_client=client,
            # ua-parser's "Spider" device is its own, separately maintained bot list.
            known_bot=self._is_bot(text) or device_family == "Spider",
            empty=False,
        )


def _version(part: UserAgent | OS | Device | None) -> str:
    """Dotted version from ua-parser's major/minor/patch/patch_minor, as far as known."""
    if part is None or isinstance(part, Device):
        return ""
    pieces = (part.major, part.minor, part.patch, part.patch_minor)
    known: list[str] = []
    for piece in pieces:
        if not piece:
            break
        known.append(piece)
    return ".".join(known)
