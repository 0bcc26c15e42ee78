"""Burst reclassification: many distinct links of one message within seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.enrich import BurstClick, reclassify_bursts


def clicks(*spec: tuple[str, int, str]) -> list[BurstClick]:
    return [BurstClick(click_id, time_ms, link) for click_id, time_ms, link in spec]


def test_scanner_walking_every_link_is_a_burst() -> None:
    found = clicks(("a", 1000, "0"), ("b", 1300, "1"), ("c", 1700, "2"), ("d", 2100, "3"))
    assert reclassify_bursts(found) == {"a", "b", "c", "d"}


def test_later_clicks_reclassify_earlier_ones() -> None:
    stored = clicks(("a", 1000, "0"), ("b", 1500, "1"))
    assert reclassify_bursts(stored) == set()  # two links: not yet a burst
    arriving = clicks(("c", 2000, "2"))
    assert reclassify_bursts(stored + arriving) == {"a", "b", "c"}


def test_a_person_reading_and_clicking_is_not_a_burst() -> None:
    person = clicks(("a", 0, "0"), ("b", 20_000, "1"), ("c", 95_000, "2"), ("d", 96_000, "2"))
    assert reclassify_bursts(person) == set()


def test_repeats_of_one_link_are_not_a_burst_but_ride_along_in_one() -> None:
    double = clicks(("a", 0, "0"), ("b", 200, "0"), ("c", 400, "0"), ("d", 600, "0"))
    assert reclassify_bursts(double) == set()
    mixed = clicks(("a", 0, "0"), ("b", 100, "0"), ("c", 200, "1"), ("d", 300, "2"))
    assert reclassify_bursts(mixed) == {"a", "b", "c", "d"}


def test_only_clicks_inside_the_bursting_span_are_flagged() -> None:
    found = clicks(
        ("early", 0, "9"),  # a person, long before
        ("a", 60_000, "0"),
        ("b", 60_500, "1"),
        ("c", 61_000, "2"),
        ("late", 200_000, "3"),  # a person, long after
    )
    assert reclassify_bursts(found) == {"a", "b", "c"}


def test_order_of_input_does_not_matter_and_parameters_apply() -> None:
    found = clicks(("c", 9_000, "2"), ("a", 1_000, "0"), ("b", 5_000, "1"))
    assert reclassify_bursts(found) == set()
    assert reclassify_bursts(found, window_s=10) == {"a", "b", "c"}
    assert reclassify_bursts(found, window_s=4.0, min_links=2) == {"a", "b", "c"}
    with pytest.raises(ValueError):
        reclassify_bursts(found, min_links=1)


def test_no_clicks() -> None:
    assert reclassify_bursts([]) == set()


def brute_force(found: list[BurstClick], window_ms: int, min_links: int) -> set[str]:
    flagged: set[str] = set()
    for first in found:
        span = [c for c in found if first.time_ms <= c.time_ms <= first.time_ms + window_ms]
        if len({c.link for c in span}) >= min_links:
            flagged.update(c.click_id for c in span)
    return flagged


@given(
    st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from("01234")), max_size=25),
    st.integers(2, 4),
)
def test_matches_brute_force(events: list[tuple[int, str]], min_links: int) -> None:
    found = [BurstClick(str(n), t, link) for n, (t, link) in enumerate(events)]
    assert reclassify_bursts(found, 3.0, min_links) == brute_force(found, 3000, min_links)
