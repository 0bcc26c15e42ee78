"""Click enrichment throughput per core: control.enrich vs the bare ua-parser call, same run.

A realistic mix of mail clicks (a few hundred user agents repeating with a long tail,
1% never-seen agents, corporate NATs and scanner ranges, HEAD and prefetch requests)
is enriched on one core. The baseline is what enrichment would cost with no cache of
our own: ua-parser's Rust-accelerated resolver called for every click. The databases
are synthetic GeoLite2-City/ASN look-alikes (records of the real size, 8 languages)
unless --geo-db/--asn-db name real ones. Run: python -m bench.enrich
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, NamedTuple

import ua_parser
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]
from ua_parser import Domain, load_builtins

from control.enrich import SEED_SCANNER_CIDRS, Enricher, Enrichment
from control.enrich.useragent import AgentClassifier, make_resolver

TARGET_CLICKS_S: Final = 50_000  # the control plane's ingest target
SENT_AT_S: Final = 1_760_000_000
LANGUAGES: Final = ("de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN")


class Click(NamedTuple):
    ip: str
    user_agent: str
    method: str
    purpose: str
    time_ms: int


def user_agents() -> list[str]:
    """A few hundred distinct agents of the kinds mail readers (and scanners) send."""
    return [*_chrome_family(), *_apple_and_firefox(), *_mail_and_machines()]


def _chrome_family() -> list[str]:
    agents: list[str] = []
    for major in range(142, 127, -1):
        chrome = f"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0"
        agents += [
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {chrome} Safari/537.36",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {chrome} Safari/537.36 Edg/{major}.0.0.0",
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {chrome} Safari/537.36",
            f"Mozilla/5.0 (Linux; Android 10; K) {chrome} Mobile Safari/537.36",
        ]
    for model in ("SM-S918B", "Pixel 8", "SM-A546B", "2201117TY", "CPH2451", "moto g(40)"):
        agents += [
            f"Mozilla/5.0 (Linux; Android {android}; {model}) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36"
            for android in (13, 14, 15)
        ]
    return agents


def _apple_and_firefox() -> list[str]:
    agents: list[str] = []
    webkit = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
    for ios in ("18_6", "18_5", "18_3_2", "17_7", "17_6_1", "17_5", "16_7_10", "26_0"):
        version = ios.replace("_", ".")
        phone = f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) {webkit}"
        agents += [
            f"{phone} Version/{version} Mobile/15E148 Safari/604.1",
            f"{phone} Mobile/15E148",  # in-app web views
            f"{phone} CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1",
            f"Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) {webkit} Version/{version} "
            "Mobile/15E148 Safari/604.1",
        ]
    for rv in range(144, 134, -1):
        agents += [
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{rv}.0) Gecko/20100101 Firefox/{rv}.0",
            f"Mozilla/5.0 (Android 15; Mobile; rv:{rv}.0) Gecko/{rv}.0 Firefox/{rv}.0",
        ]
    return agents


def _mail_and_machines() -> list[str]:
    outlook = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.{}; Pro)"
    return [
        *(outlook.format(build) for build in range(18129, 17929, -10)),
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1",
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
        "Microsoft Office Existence Discovery",
        "python-requests/2.32.3",
        "Mozilla/5.0",
        "",
    ]


def addresses(rng: random.Random, networks: list[str], count: int) -> list[str]:
    """Reader addresses: mostly in the geo database's networks, some IPv6, some scanners."""
    found: list[str] = []
    scanners = [c for c in SEED_SCANNER_CIDRS if ":" not in c]
    for _ in range(count):
        roll = rng.random()
        if roll < 0.70:
            a, b, c, _ = rng.choice(networks).split("/")[0].split(".")
            found.append(f"{a}.{b}.{int(c) + rng.randrange(16)}.{rng.randrange(1, 255)}")
        elif roll < 0.85:
            found.append(f"2001:db8:{rng.randrange(65536):x}:{rng.randrange(65536):x}::1")
        elif roll < 0.95:
            base = rng.choice(scanners).split("/")[0].split(".")
            found.append(f"{base[0]}.{base[1]}.{base[2]}.{rng.randrange(1, 255)}")
        else:
            found.append(f"{rng.randrange(1, 223)}.{rng.randrange(256)}.0.{rng.randrange(256)}")
    return found


def workload(count: int, networks: list[str], seed: int = 7) -> list[Click]:
    """Clicks with Zipf-distributed agents and addresses, as mail traffic repeats them."""
    rng = random.Random(seed)
    agents = user_agents()
    rng.shuffle(agents)  # popularity (Zipf rank) independent of the kind of agent
    agent_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(agents))]
    pool = addresses(rng, networks, 30_000)
    pool_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(pool))]
    chosen_agents = rng.choices(agents, agent_weights, k=count)
    chosen_ips = rng.choices(pool, pool_weights, k=count)
    clicks: list[Click] = []
    for n, (ua, ip) in enumerate(zip(chosen_agents, chosen_ips, strict=True)):
        if rng.random() < 0.01:  # never seen before: a cache miss every time
            ua = f"{ua} App/{n}.{rng.randrange(10**6)}"
        method = "HEAD" if rng.random() < 0.03 else "GET"
        purpose = "prefetch" if rng.random() < 0.02 else ""
        # A few clicks within seconds of sending (scanners), most minutes to days later.
        delay_s = rng.choices((2, 30, 600, 7200, 86_400), (3, 10, 30, 30, 27))[0]
        clicks.append(Click(ip, ua, method, purpose, (SENT_AT_S + delay_s) * 1000))
    return clicks


def city_record(n: int, rng: random.Random) -> dict[str, Any]:
    """What a GeoLite2-City record holds: names in 8 languages, location, postal code."""
    names = {lang: f"Place {n} ({lang})" for lang in LANGUAGES}
    country = {"geoname_id": 2921044, "iso_code": rng.choice(("DE", "US", "FR", "BR", "JP"))}
    return {
        "city": {"geoname_id": 100_000 + n, "names": names},
        "continent": {"code": "EU", "geoname_id": 6255148, "names": names},
        "country": {**country, "names": names},
        "location": {"accuracy_radius": 20, "latitude": 52.5, "longitude": 13.4},
        "postal": {"code": f"{10000 + n}"},
        "registered_country": {**country, "names": names},
        "subdivisions": [{"geoname_id": 200_000 + n, "iso_code": "BE", "names": names}],
    }


def synthetic_databases(directory: Path, count: int = 2000) -> tuple[Path, Path, list[str]]:
    """City and ASN databases over `count` random /20 networks (and 2001:db8::/32)."""
    rng = random.Random(11)
    networks = sorted(
        {f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(0, 256, 16)}.0/20"
         for _ in range(count)}
    )  # fmt: skip
    city = MMDBWriter(6, "GeoLite2-City", ["en"], "bench", ipv4_compatible=True)
    asn = MMDBWriter(6, "GeoLite2-ASN", ["en"], "bench", ipv4_compatible=True)
    for n, network in enumerate(networks):
        city.insert_network(IPSet([network]), city_record(n, rng))
        org = {
            "autonomous_system_number": 64512 + n % 1000,
            "autonomous_system_organization": f"AS {n}",
        }
        asn.insert_network(IPSet([network]), org)
    city.insert_network(IPSet(["2001:db8::/32"]), city_record(count, rng))
    city.to_db_file(str(directory / "city.mmdb"))
    asn.to_db_file(str(directory / "asn.mmdb"))
    return directory / "city.mmdb", directory / "asn.mmdb", networks


def enrich_all(enricher: Enricher, clicks: list[Click]) -> list[Enrichment]:
    return [
        enricher.enrich(
            ip=c.ip,
            user_agent=c.user_agent,
            method=c.method,
            purpose=c.purpose,
            time_ms=c.time_ms,
            sent_at_s=SENT_AT_S,
        )
        for c in clicks
    ]


def run_uncached(clicks: list[Click]) -> Callable[[], None]:
    parser = ua_parser.Parser(make_resolver())  # the Rust resolver, no cache in front

    def run() -> None:
        for c in clicks:
            parser.parse(c.user_agent)

    return run


def run_library_default(clicks: list[Click]) -> None:
    for c in clicks:
        ua_parser.parse(c.user_agent)  # its own 2,000-entry S3-FIFO cache


class Rate(NamedTuple):
    cpu: float  # clicks per CPU second: per-core throughput, robust on a shared machine
    wall: float  # clicks per wall-clock second


def timed(run: Callable[[], object], clicks: int) -> Rate:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return Rate(clicks / (time.process_time() - cpu), clicks / (time.perf_counter() - wall))


def resolver_costs() -> dict[str, float]:
    """Microseconds per uncached parse: Rust regex-filtered vs the pure-Python resolver."""
    agents = user_agents()
    regex = make_resolver()
    basic = ua_parser.BasicResolver(load_builtins())
    costs = {}
    for name, resolver, sample in (("regex", regex, agents), ("basic", basic, agents[:60])):
        for ua in sample:  # warm: the Rust engine builds its automaton lazily
            resolver(ua, Domain.ALL)
        began = time.process_time()
        for ua in sample:
            resolver(ua, Domain.ALL)
        costs[name] = (time.process_time() - began) / len(sample) * 1e6
    return costs


def measure(rounds: int, enricher: Enricher, clicks: list[Click]) -> dict[str, Rate]:
    """Rates per contender: medians over interleaved rounds, after one warm-up pass each.

    The uncached baseline runs on a slice of the mix: it is ~10x slower, and its
    per-click cost does not depend on how many clicks there are.
    """
    first_pass = timed(lambda: enrich_all(enricher, clicks), len(clicks))
    baseline_clicks = clicks[: max(1, len(clicks) // 5)]
    agents = AgentClassifier()
    contenders: dict[str, tuple[Callable[[], object], int]] = {
        "ours": (lambda: enrich_all(enricher, clicks), len(clicks)),
        "ours_ua": (lambda: [agents.classify(c.user_agent) for c in clicks], len(clicks)),
        "uncached": (run_uncached(baseline_clicks), len(baseline_clicks)),
        "default": (lambda: run_library_default(clicks), len(clicks)),
    }
    for run, _ in contenders.values():
        run()
    samples: dict[str, list[Rate]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (run, count) in contenders.items():
            samples[name].append(timed(run, count))
    rates = {
        name: Rate(statistics.median(r.cpu for r in got), statistics.median(r.wall for r in got))
        for name, got in samples.items()
    }
    rates["ours_first_pass"] = first_pass
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=50_000, help="clicks per pass")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--geo-db", help="a real MaxMind-format city/country database")
    parser.add_argument("--asn-db", help="a real MaxMind-format ASN database")
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-enrich-") as tmp:
        city, asn, networks = synthetic_databases(Path(tmp))
        geo_path = args.geo_db or str(city)
        asn_path = args.asn_db or (None if args.geo_db else str(asn))
        clicks = workload(args.clicks, networks)
        with Enricher(geo_path, asn_path) as enricher:
            rates = measure(args.rounds, enricher, clicks)
            enriched = enrich_all(enricher, clicks)
    report = {
        **describe(clicks, enriched),
        **{f"{name}_clicks_s": round(rate.cpu) for name, rate in rates.items()},
        "ours_wall_clicks_s": round(rates["ours"].wall),
        "uncached_wall_clicks_s": round(rates["uncached"].wall),
        "ratio_vs_uncached": round(rates["ours"].cpu / rates["uncached"].cpu, 1),
        **{f"{name}_resolver_us": round(us, 1) for name, us in resolver_costs().items()},
        "target_clicks_s": TARGET_CLICKS_S,
        "meets_target": rates["ours"].cpu >= TARGET_CLICKS_S,
        "databases": "given" if args.geo_db else "synthetic GeoLite2-City/ASN look-alikes",
        "rounds": args.rounds,
        "seconds": round(time.monotonic() - began, 1),
        "python": sys.version.split()[0],
    }
    print(_table(report))
    print(json.dumps(report))
    if not report["meets_target"]:
        sys.exit(f"bench.enrich: {rates['ours'].cpu:,.0f} clicks/s is below {TARGET_CLICKS_S:,}")


def describe(clicks: list[Click], enriched: list[Enrichment]) -> dict[str, Any]:
    """What the mix is, so a reader can judge how realistic it was."""
    return {
        "bench": "enrich",
        "clicks": len(clicks),
        "distinct_user_agents": len({c.user_agent for c in clicks}),
        "distinct_ips": len({c.ip for c in clicks}),
        "bot_share": round(sum(e.is_bot for e in enriched) / len(enriched), 3),
        "located_share": round(sum(bool(e.country) for e in enriched) / len(enriched), 3),
    }


def _table(r: dict[str, Any]) -> str:
    rows = [
        ("control.enrich (warm caches)", r["ours_clicks_s"], "UA + geo + ASN + bot verdict"),
        ("control.enrich (first pass)", r["ours_first_pass_clicks_s"], "empty caches"),
        ("control.enrich, UA part only", r["ours_ua_clicks_s"], "classify(), cached"),
        ("ua-parser, uncached (baseline)", r["uncached_clicks_s"], "UA parse only"),
        ("ua_parser.parse (its own cache)", r["default_clicks_s"], "UA parse only"),
    ]
    head = f"{'contender':34} {'clicks/s':>10}  what it does (per CPU second, one core)"
    lines = [head, "-" * 72]
    lines += [f"{name:34} {rate:>10,}  {what}" for name, rate, what in rows]
    lines.append("-" * 72)
    lines.append(
        f"wall clock: ours {r['ours_wall_clicks_s']:,} clicks/s, uncached baseline "
        f"{r['uncached_wall_clicks_s']:,} (lower when the machine is shared)"
    )
    lines.append(
        f"ours / uncached baseline: {r['ratio_vs_uncached']}x; target {r['target_clicks_s']:,} "
        f"clicks/s: {'met' if r['meets_target'] else 'MISSED'}"
    )
    lines.append(
        f"uncached parse: Rust regex resolver {r['regex_resolver_us']} us, "
        f"pure-Python resolver {r['basic_resolver_us']} us (re2 not installed)"
    )
    lines.append(
        f"mix: {r['clicks']:,} clicks, {r['distinct_user_agents']:,} user agents, "
        f"{r['distinct_ips']:,} addresses; {r['bot_share']:.0%} bots, "
        f"{r['located_share']:.0%} located"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
