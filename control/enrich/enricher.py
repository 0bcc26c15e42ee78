"""The Enricher: one click's user agent, geography, stored address and bot verdict."""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import TracebackType
from typing import Final

from control.enrich import reasons as R
from control.enrich.addresses import format_ip, parse_ip, truncate_packed
from control.enrich.geo import UNKNOWN_PLACE, GeoResolver, Place
from control.enrich.model import Enrichment
from control.enrich.networks import SEED_SCANNER_CIDRS, NetworkSet
from control.enrich.useragent import AgentClassifier, AgentInfo

DEFAULT_TOO_FAST_S: Final = 5.0
# Sec-Purpose: prefetch (Chrome, Safari), Purpose: prefetch / preview, X-Moz: prefetch.
_PREFETCH: Final = re.compile(r"(?i)prefetch|preview")

_HEAD: Final = R.bit(R.HEAD_REQUEST)
_PREFETCHED: Final = R.bit(R.PREFETCH)
_KNOWN_BOT: Final = R.bit(R.KNOWN_BOT_UA)
_EMPTY: Final = R.bit(R.EMPTY_UA)
_SCANNER: Final = R.bit(R.SCANNER_NETWORK)
_TOO_FAST: Final = R.bit(R.TOO_FAST)


class Enricher:
    """Pure and fast: no I/O after construction, caches per user agent and per network.

    Build one per process at start-up (it loads ~1,900 regexes and opens the
    databases, ~0.2 s) and reuse it; it is safe to share between threads.
    """

    def __init__(
        self,
        geo_db_path: str | None,
        asn_db_path: str | None,
        scanner_cidrs: Iterable[str] | None = None,
        *,
        too_fast_s: float = DEFAULT_TOO_FAST_S,
    ) -> None:
        """scanner_cidrs None means SEED_SCANNER_CIDRS; a list replaces the seed (pass
        [*SEED_SCANNER_CIDRS, *yours] to extend it). Raises ValueError (naming the bad
        value) for a CIDR that does not parse, and GeoDatabaseError for a configured
        database that does not open."""
        self._agents = AgentClassifier()
        self._geo = GeoResolver(geo_db_path, asn_db_path)
        self._scanners = NetworkSet(SEED_SCANNER_CIDRS if scanner_cidrs is None else scanner_cidrs)
        self._too_fast_ms = int(too_fast_s * 1000)

    def enrich(
        self,
        *,
        ip: str,
        user_agent: str,
        method: str,
        purpose: str,
        time_ms: int,
        sent_at_s: int,
        truncate_ip: bool = True,
    ) -> Enrichment:
        """Enrich one click. Geography comes from the full address; only then is the
        address truncated (when truncate_ip) for storage. sent_at_s 0 means unknown."""
        agent = self._agents.classify(user_agent)
        mask = self._request_signals(agent, method, purpose, time_ms, sent_at_s)
        packed = parse_ip(ip)
        if packed is None:
            place, stored = UNKNOWN_PLACE, ""
        else:
            if packed in self._scanners:
                mask |= _SCANNER
            network = truncate_packed(packed)
            place = self._geo.lookup(packed, network)
            stored = format_ip(network if truncate_ip else packed)
        return _assemble(agent, place, stored, R.VERDICTS[mask])

    def _request_signals(
        self, agent: AgentInfo, method: str, purpose: str, time_ms: int, sent_at_s: int
    ) -> int:
        """The reasons (as a VERDICTS mask) the user agent and the request itself give."""
        mask = (_KNOWN_BOT if agent.known_bot else 0) | (_EMPTY if agent.empty else 0)
        if method == "HEAD" or method.upper() == "HEAD":
            mask |= _HEAD
        if purpose and _PREFETCH.search(purpose):
            mask |= _PREFETCHED
        # A click before the send time is clock skew or a pre-delivery scan: fast too.
        if sent_at_s > 0 and time_ms - sent_at_s * 1000 < self._too_fast_ms:
            mask |= _TOO_FAST
        return mask

    @property
    def has_geography(self) -> bool:
        """Whether a geo or ASN database is configured."""
        return self._geo.enabled

    def close(self) -> None:
        """Release the databases' memory maps."""
        self._geo.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _assemble(agent: AgentInfo, place: Place, ip: str, verdict: R.Verdict) -> Enrichment:
    return Enrichment(
        browser=agent.browser,
        browser_version=agent.browser_version,
        os=agent.os,
        os_version=agent.os_version,
        device=agent.device,
        platform=agent.platform,
        email_client=agent.email_client,
        country=place.country,
        region=place.region,
        city=place.city,
        asn=place.asn,
        as_org=place.as_org,
        ip=ip,
        is_bot=verdict.is_bot,
        bot_reasons=verdict.reasons,
        bot_confidence=verdict.confidence,
    )
