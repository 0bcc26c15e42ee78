"""DNS verification verdicts, against an in-memory resolver (no network)."""

from __future__ import annotations

from typing import Any

import dns.resolver
import dns.rrset
import pytest

from control.dnscheck import check_domain, make_resolver
from control.settings import load_control_settings, parse_resolver
from edge.envconfig import SettingsError
from tests.cluster import MASTER_KEY

TARGET = "edge.clickgate.test"
OURS = ["pebble.letsencrypt.org"]


class FakeResolver:
    """Answers from a dict {(name, type): [rdata text]}; names in `failing` SERVFAIL."""

    def __init__(
        self, records: dict[tuple[str, str], list[str]], failing: frozenset[str] = frozenset()
    ) -> None:
        self.records, self.failing = records, failing

    def resolve(self, name: str, rdtype: str, raise_on_no_answer: bool = True) -> Any:
        name = name.rstrip(".")
        if name in self.failing:
            raise dns.resolver.NoNameservers()  # type: ignore[no-untyped-call]
        values = self.records.get((name, rdtype))
        if values is None:
            raise dns.resolver.NXDOMAIN()  # type: ignore[no-untyped-call]
        rrset = dns.rrset.from_text_list(name + ".", 60, "IN", rdtype, values)
        return type("Answer", (), {"rrset": rrset})()


def verdict(resolver: FakeResolver, name: str = "click.brand.test") -> tuple[bool, str]:
    result = check_domain(resolver, name, TARGET, OURS)  # type: ignore[arg-type]
    return result.verified, result.reason


def test_cname_to_us_is_verified() -> None:
    resolver = FakeResolver({("click.brand.test", "CNAME"): [TARGET + "."]})
    assert verdict(resolver) == (True, f"CNAME to {TARGET} found")
    assert check_domain(resolver, "click.brand.test", TARGET, OURS).points_here  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("records", "failing", "expected", "points_here"),
    [
        (
            {},
            frozenset(),
            "no CNAME record: create click.brand.test. CNAME edge.clickgate.test.",
            False,
        ),
        (
            {("click.brand.test", "CNAME"): ["other.example."]},
            frozenset(),
            "CNAME points to other.example",
            False,
        ),
        # DNS trouble says nothing about where the name points.
        ({}, frozenset({"click.brand.test"}), "failed (SERVFAIL)", None),
        (
            {
                ("click.brand.test", "CNAME"): [TARGET + "."],
                ("brand.test", "CAA"): ['0 issue "letsencrypt.org"', '0 iodef "mailto:x@y"'],
            },
            frozenset(),
            "CAA record at brand.test allows only letsencrypt.org",
            True,
        ),
        (
            {("click.brand.test", "CNAME"): [TARGET + "."], ("test", "CAA"): ['0 issue ";"']},
            frozenset(),
            "allows only no CA",
            True,
        ),
    ],
)
def test_problems_are_explained(
    records: dict[tuple[str, str], list[str]],
    failing: frozenset[str],
    expected: str,
    points_here: bool | None,
) -> None:
    result = check_domain(FakeResolver(records, failing), "click.brand.test", TARGET, OURS)  # type: ignore[arg-type]
    assert not result.verified
    assert expected in result.reason
    assert result.points_here is points_here


PROOF = ("_clickgate.click.brand.test", "clickgate-verification=5ec2e7")


def proved(records: dict[tuple[str, str], list[str]]) -> tuple[bool, str]:
    result = check_domain(FakeResolver(records), "click.brand.test", TARGET, OURS, PROOF)  # type: ignore[arg-type]
    return result.verified, result.reason


CNAME = {("click.brand.test", "CNAME"): [TARGET + "."]}


def test_ownership_is_proved_by_the_txt_record() -> None:
    txt = {(PROOF[0], "TXT"): ['"v=spf1 -all"', f'"{PROOF[1]}"']}
    assert proved(CNAME | txt) == (True, f"CNAME to {TARGET} and TXT at {PROOF[0]} found")
    # A long value arrives as several strings of one record: they are one value.
    split = {(PROOF[0], "TXT"): ['"clickgate-verif" "ication=5ec2e7"']}
    assert proved(CNAME | split)[0]


@pytest.mark.parametrize(
    ("txt", "expected"),
    [
        ([], f'no TXT record at {PROOF[0]}: create {PROOF[0]}. TXT "{PROOF[1]}"'),
        # Another tenant's token (a squatter's) does not prove this registration.
        (['"clickgate-verification=0ther"'], "does not hold this domain's verification value"),
    ],
)
def test_a_cname_alone_does_not_prove_ownership(txt: list[str], expected: str) -> None:
    records = CNAME | ({(PROOF[0], "TXT"): txt} if txt else {})
    verified, reason = proved(records)
    assert not verified
    assert expected in reason


def test_caa_naming_our_ca_or_only_issuewild_allows() -> None:
    cname = {("click.brand.test", "CNAME"): [TARGET + "."]}
    ours = {("brand.test", "CAA"): ['0 issue "pebble.letsencrypt.org; validationmethods=http-01"']}
    wild = {("brand.test", "CAA"): ['0 issuewild "letsencrypt.org"']}
    assert verdict(FakeResolver(cname | ours))[0]
    assert verdict(FakeResolver(cname | wild))[0]


def test_resolver_address_forms() -> None:
    assert parse_resolver("127.0.0.1:8053") == ("127.0.0.1", 8053)
    assert parse_resolver("10.0.0.2") == ("10.0.0.2", 53)
    assert parse_resolver("[::1]:5353") == ("::1", 5353)
    for bad in ("dns.example:53", "127.0.0.1:x", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            parse_resolver(bad)
    resolver = make_resolver("127.0.0.1:8053")
    assert resolver.nameservers == ["127.0.0.1"] and resolver.port == 8053


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLICKGATE_DNS_RESOLVER", "dns.example"),
        ("CLICKGATE_ACME_DIRECTORY", "ftp://ca.example/dir"),
        ("CLICKGATE_ACME_CA_BUNDLE", "/nonexistent/ca.pem"),
        ("CLICKGATE_ACME_MAX_FAILED_VALIDATIONS", "0"),
        ("CLICKGATE_DNS_RECHECK_SECONDS", "-1"),
    ],
)
def test_bad_domain_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_control_settings({"CLICKGATE_MASTER_KEY": MASTER_KEY, variable: value})
