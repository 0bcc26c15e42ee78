"""The scan needs a regex engine that runs possessive quantifiers correctly.

CPython before 3.11.5 (Debian 12's python3.11 is 3.11.2) mis-matches them, and there
the scan used to read every link tag as an ordinary tag: a rewrite tracked no link and
said nothing. Importing the scanner on such a Python now fails, naming the cause.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from control.rewrite import RewriteOptions, rewrite_message
from control.rewrite.scan import check_engine
from tests.rewrite.helpers import minter

SCAN = Path(__file__).resolve().parents[2] / "control" / "rewrite" / "scan.py"
# scan.py needs nothing beyond the standard library, so any interpreter can load it.
LOAD_SCAN = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location('scan', {str(SCAN)!r})\n"
    "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
    "print('loaded', sys.version_info[:3])\n"
)


def _version(python: str) -> tuple[int, ...]:
    out = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return tuple(int(part) for part in out.stdout.split())


def test_this_python_runs_the_scan_and_finds_links() -> None:
    check_engine()
    result = rewrite_message(
        '<p class="x"><a href="https://e.com/">x</a>', None, minter, RewriteOptions()
    )
    assert [link.tracked_url is not None for link in result.links] == [True]


def test_a_python_with_the_broken_engine_is_refused_by_name() -> None:
    # Debian's own python3.11 where the machine has one; this project's venv cannot be
    # built on it (requires-python), so it is run on scan.py alone.
    python = shutil.which("python3.11", path="/usr/bin")
    if python is None or _version(python) >= (3, 11, 5):
        pytest.skip("no CPython older than 3.11.5 at /usr/bin/python3.11")
    run = subprocess.run(
        [python, "-c", LOAD_SCAN], capture_output=True, text=True, timeout=30, check=False
    )
    assert run.returncode != 0, run.stdout
    assert "RegexEngineBroken" in run.stderr
    assert "CPython 3.11.5 or later" in run.stderr


def test_the_running_python_loads_scan_py_the_same_way() -> None:
    # The loader above works: on a good engine it imports cleanly.
    run = subprocess.run(
        [sys.executable, "-c", LOAD_SCAN], capture_output=True, text=True, timeout=30, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("loaded")
