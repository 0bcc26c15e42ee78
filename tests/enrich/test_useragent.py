"""User agents: browser, OS, device, platform and mail client of real strings; bot agents."""

from __future__ import annotations

import crawleruseragents  # type: ignore[import-untyped]
import pytest

from control.enrich.botagents import all_patterns, compile_matcher
from control.enrich.useragent import EMPTY_AGENT, AgentClassifier
from tests.enrich.agents import (
    BROWSERS,
    MAIL_CLIENTS,
    MAIL_PROXIES,
    SCANNERS,
    VENDOR_TOKENS,
    Case,
)

HUMAN_AGENTS = {**BROWSERS, **MAIL_CLIENTS}


@pytest.fixture(scope="module")
def classifier() -> AgentClassifier:
    return AgentClassifier()


@pytest.mark.parametrize("case", HUMAN_AGENTS.values(), ids=list(HUMAN_AGENTS))
def test_people_agents_parse_and_are_not_bots(classifier: AgentClassifier, case: Case) -> None:
    info = classifier.classify(case.ua)
    got = (info.browser, info.os, info.device, info.platform, info.email_client)
    assert got == (case.browser, case.os, case.device, case.platform, case.email_client)
    assert not info.known_bot
    assert not info.empty


@pytest.mark.parametrize("case", MAIL_PROXIES.values(), ids=list(MAIL_PROXIES))
def test_webmail_proxies_name_their_client_and_are_bots(
    classifier: AgentClassifier, case: Case
) -> None:
    info = classifier.classify(case.ua)
    got = (info.browser, info.os, info.device, info.platform, info.email_client)
    assert got == (case.browser, case.os, case.device, case.platform, case.email_client)
    assert info.known_bot


@pytest.mark.parametrize("ua", [*SCANNERS.values(), *VENDOR_TOKENS.values()])
def test_scanners_and_scripts_are_known_bots(classifier: AgentClassifier, ua: str) -> None:
    assert classifier.classify(ua).known_bot


def test_versions_are_dotted_as_far_as_known(classifier: AgentClassifier) -> None:
    chrome = classifier.classify(BROWSERS["chrome-ios"].ua)
    assert (chrome.browser_version, chrome.os_version) == ("142.0.7444.77", "18.6")
    firefox = classifier.classify(BROWSERS["firefox-ubuntu"].ua)
    assert (firefox.browser_version, firefox.os_version) == ("144.0", "")
    outlook_android = classifier.classify(MAIL_CLIENTS["outlook-android"].ua)
    assert outlook_android.os_version == ""  # "2.0" is the app's version, not Android's


@pytest.mark.parametrize("ua", ["", "   ", "\t"])
def test_empty_agent(classifier: AgentClassifier, ua: str) -> None:
    assert classifier.classify(ua) == EMPTY_AGENT
    assert EMPTY_AGENT.empty and EMPTY_AGENT.platform == "Unknown"


def test_hostile_long_agent_is_bounded_and_cached(classifier: AgentClassifier) -> None:
    ua = BROWSERS["chrome-windows"].ua + " " + "x" * 100_000
    first = classifier.classify(ua)
    assert first.browser == "Chrome"
    assert classifier.classify(ua) is first  # the cache answers repeats


def test_every_crawler_list_example_is_caught_natively_and_by_the_fallback() -> None:
    """The Rust matcher and Python's re agree on the list's own examples."""
    native = compile_matcher(all_patterns())
    fallback = compile_matcher(all_patterns(), native=False)
    examples = [
        str(example)
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for example in entry.get("instances", [])
    ]
    assert len(examples) > 1000
    missed = [ua for ua in examples if not native(ua)]
    assert missed == []
    assert [ua for ua in examples if not fallback(ua)] == []


def test_fallback_matcher_agrees_on_people_and_scanners() -> None:
    fallback = compile_matcher(all_patterns(), native=False)
    assert not any(fallback(case.ua) for case in HUMAN_AGENTS.values())
    assert all(fallback(ua) for ua in [*SCANNERS.values(), *VENDOR_TOKENS.values()])
