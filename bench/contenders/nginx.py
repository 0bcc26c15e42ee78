"""nginx answering `return 302` from a generated config in a temp dir (1 worker, foreground)."""

from __future__ import annotations

import shutil
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
LOCATION = "https://shop.example.com/products/1?utm_source=newsletter&utm_medium=email"


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def command(tmp: Path, port: int) -> list[str]:
    """Write the config under tmp and return the argv that serves it in the foreground."""
    nginx = binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed (Debian package nginx)")
    conf = tmp / "nginx.conf"
    text = Template(TEMPLATE.read_text()).substitute(tmp=tmp, port=port, location=LOCATION)
    conf.write_text(text)
    # -e: log startup errors into tmp before the config names the error log.
    return [nginx, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)]
