"""Run every benchmark in bench/ and write their output into bench/README.md.

Run: python -m bench.all (or `make bench`). Each benchmark runs in its own process,
one after another, and compares against its own baseline measured in the same run;
the section between the markers in bench/README.md is replaced with what they print.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCHES = ("redirect", "unshipped", "ingest", "rewrite", "enrich", "stats")
# Arguments and time limits besides the defaults: the statistics benchmark loads its
# full 10 million clicks into both databases: 35 minutes in all on two cores (load and
# rollup rebuild 849 s on SQLite, 678 s on PostgreSQL; measured 2026-12-01).
ARGS: dict[str, list[str]] = {}
TIMEOUTS = {"stats": 5400}
README = Path(__file__).with_name("README.md")
START, END = "<!-- bench:all:start -->", "<!-- bench:all:end -->"


def run(name: str) -> str:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *ARGS.get(name, [])],
        capture_output=True,
        text=True,
        timeout=TIMEOUTS.get(name, 900),
    )
    took = time.monotonic() - started
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    output = done.stdout.strip() or done.stderr.strip()[-2000:]
    print(f"== bench.{name}: {status} in {took:.0f}s\n{output}\n", flush=True)
    return f"### bench.{name} ({status}, {took:.0f} s)\n\n```\n{output}\n```\n"


def main() -> int:
    sections = [run(name) for name in BENCHES]
    header = (
        f"Latest `make bench`: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores.\n\n"
    )
    text = README.read_text()
    block = f"{START}\n{header}" + "\n".join(sections) + f"{END}\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) + 1 :]
    else:
        text = text.rstrip() + "\n\n## All benchmarks (`make bench`)\n\n" + block
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
