"""DNS verification of a customer click domain: its CNAME points at us, a TXT record proves
ownership, and CAA lets our CA issue."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from control.settings import parse_resolver

LIFETIME_SECONDS = 3.0  # one check never holds a worker thread for long
PROOF_LABEL = "_clickgate"  # TXT ownership proof lives at _clickgate.<domain>
PROOF_PREFIX = "clickgate-verification="


def proof_name(domain: str) -> str:
    return f"{PROOF_LABEL}.{domain}"


def proof_value(token: str) -> str:
    return f"{PROOF_PREFIX}{token}"


@dataclass(frozen=True)
class DnsResult:
    verified: bool
    reason: str  # human-readable; says what to fix when not verified
    # Whether the name is a CNAME to us, whatever else is wrong (proof, CAA); None when
    # DNS gave no answer to tell (SERVFAIL, timeout).
    points_here: bool | None = None


class DnsTrouble(Exception):
    """The resolver could not give an answer (SERVFAIL, timeout): not the customer's record."""


def make_resolver(address: str) -> dns.resolver.Resolver:
    """A resolver that asks only `address` (ip[:port]); the system's when address is empty."""
    if not address:
        resolver = dns.resolver.Resolver()
    else:
        host, port = parse_resolver(address)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = resolver.timeout = LIFETIME_SECONDS
    resolver.cache = None  # a recheck must see the customer's fix at once
    return resolver


def check_domain(
    resolver: dns.resolver.Resolver,
    name: str,
    target: str,
    caa_identities: list[str],
    proof: tuple[str, str] | None = None,
) -> DnsResult:
    """Verified when `name` is a CNAME to `target`, the ownership proof (a TXT record's
    name and value, when given) is published, and no CAA record forbids our CA."""
    try:
        cname = _cname(resolver, name)
        if cname is None:
            return DnsResult(False, f"no CNAME record: create {name}. CNAME {target}.", False)
        if cname != target.rstrip(".").lower():
            fix = f"change it to {name}. CNAME {target}."
            return DnsResult(False, f"CNAME points to {cname}, not {target}: {fix}", False)
        problem = _proof_problem(resolver, *proof) if proof else ""
        problem = problem or _caa_problem(resolver, name, caa_identities)
    except DnsTrouble as exc:
        return DnsResult(False, str(exc))
    if problem:
        return DnsResult(False, problem, True)
    found = f"CNAME to {target}" + (f" and TXT at {proof[0]}" if proof else "")
    return DnsResult(True, f"{found} found", True)


def _proof_problem(resolver: dns.resolver.Resolver, name: str, value: str) -> str:
    """What is wrong with the ownership TXT record, or "" when one holds `value`."""
    answer = _query(resolver, name, "TXT")
    texts = [] if answer is None or answer.rrset is None else _texts(answer)
    if value in texts:
        return ""
    create = f'create {name}. TXT "{value}" to prove you own the domain'
    if not texts:
        return f"no TXT record at {name}: {create}"
    return f"TXT record at {name} does not hold this domain's verification value: {create}"


def _texts(answer: dns.resolver.Answer) -> list[str]:
    """Each TXT record's strings joined (a long value is split into 255-byte strings)."""
    assert answer.rrset is not None
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in answer.rrset
        if rdata.rdtype == dns.rdatatype.TXT
    ]


def _query(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> dns.resolver.Answer | None:
    """The answer, or None when the name or the record type does not exist."""
    try:
        return resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.resolver.NoNameservers:
        # dnspython reports SERVFAIL/REFUSED from every server this way.
        raise DnsTrouble(f"DNS lookup of {name} failed (SERVFAIL); retrying later") from None
    except dns.exception.Timeout:
        raise DnsTrouble(f"DNS lookup of {name} timed out; retrying later") from None


def _cname(resolver: dns.resolver.Resolver, name: str) -> str | None:
    answer = _query(resolver, name, "CNAME")
    if answer is None or answer.rrset is None:
        return None
    for rdata in answer.rrset:
        return str(rdata.target).rstrip(".").lower()
    return None


def _caa_problem(resolver: dns.resolver.Resolver, name: str, identities: list[str]) -> str:
    """RFC 8659: the closest CAA record set up the tree decides; none at all allows any CA."""
    ours = {i.lower() for i in identities}
    node = dns.name.from_text(name)
    while len(node.labels) > 1:  # stop before the root
        answer = _query(resolver, node.to_text(), "CAA")
        issuers = _issuers(answer)
        if issuers is not None:
            if issuers & ours:
                return ""
            allowed = ", ".join(sorted(i or "no CA" for i in issuers)) or "no CA"
            return (
                f"CAA record at {node.to_text(omit_final_dot=True)} allows only {allowed}; "
                f'add: CAA 0 issue "{sorted(ours)[0]}"'
            )
        node = node.parent()
    return ""


def _issuers(answer: dns.resolver.Answer | None) -> set[str] | None:
    """CA names in `issue` properties; None when the set has none (so it does not restrict)."""
    if answer is None or answer.rrset is None:
        return None
    issuers = {
        rdata.value.decode().split(";")[0].strip().lower()
        for rdata in answer.rrset
        if rdata.rdtype == dns.rdatatype.CAA and rdata.tag.lower() == b"issue"
    }
    return issuers or None
