"""Character references in attribute values: decoded once, by the browser's rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.rewrite.entities import decode_attribute, encode_attribute


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("a&amp;b", "a&b"),
        ("&amp;amp;", "&amp;"),
        ("a&copy=1", "a&copy=1"),  # legacy name then "=": literal in attributes
        ("a&copyx", "a&copyx"),  # legacy name then alphanumeric: literal
        ("a&copy;x", "a\u00a9x"),
        ("a&copy-x", "a\u00a9-x"),  # then anything else: decoded, as browsers do
        ("a&copy\u00e9", "a\u00a9\u00e9"),  # only ASCII alphanumerics keep it literal
        ("&lt", "<"),
        ("&LT;", "<"),
        ("&notin;", "\u2209"),
        ("&notit;", "&notit;"),  # longest legacy prefix "not", then "i": literal
        ("&frac12;", "\u00bd"),
        ("&frac12x", "&frac12x"),
        ("&Aacute", "\u00c1"),
        ("&aacute=", "&aacute="),
        ("&#38;&#x26;&#X26", "&&&"),
        ("&#0;", "\ufffd"),
        ("&#x110000;", "\ufffd"),
        ("&#" + "1" * 5000 + ";", "\ufffd"),  # more digits than int() takes
        ("&#x00000041;&#xD800;", "A\ufffd"),
        ("&#1;&#x7f;&#xFFFE;&#13;", "\x01\x7f\ufffe\r"),  # kept, as browsers keep them
        ("&#x80;&#150;&#x81;", "\u20ac\u2013\x81"),  # the windows-1252 table, and a hole
        ("&#;&#x;&;& &bogus;", "&#;&#x;&;& &bogus;"),
        ("no references", "no references"),
    ],
)
def test_decoding_follows_the_attribute_value_rules(raw: str, decoded: str) -> None:
    assert decode_attribute(raw) == decoded


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(['"', "'", ""]))
def test_encoding_then_decoding_gives_the_value_back(value: str, quote: str) -> None:
    encoded = encode_attribute(value, quote)
    assert decode_attribute(encoded) == value
    if quote:
        assert quote not in encoded
    else:
        assert not any(char in encoded for char in " \t\n\f\r\"'<>=`")
