"""Click enrichment: user agent, platform, geography, privacy truncation and bot verdicts."""

from control.enrich.addresses import truncate_ip
from control.enrich.bursts import DEFAULT_MIN_LINKS, DEFAULT_WINDOW_S, reclassify_bursts
from control.enrich.enricher import DEFAULT_TOO_FAST_S, Enricher
from control.enrich.geo import GeoDatabaseError
from control.enrich.model import BurstClick, Enrichment, with_reason
from control.enrich.networks import SEED_SCANNER_CIDRS
from control.enrich.reasons import BURST, REASONS, Verdict, confidence, verdict_of

__all__ = [
    "BURST",
    "DEFAULT_MIN_LINKS",
    "DEFAULT_TOO_FAST_S",
    "DEFAULT_WINDOW_S",
    "REASONS",
    "SEED_SCANNER_CIDRS",
    "BurstClick",
    "Enricher",
    "Enrichment",
    "GeoDatabaseError",
    "Verdict",
    "confidence",
    "reclassify_bursts",
    "truncate_ip",
    "verdict_of",
    "with_reason",
]
