"""A bounded load of real HTTP clicks that remembers which requests got their 302."""

from __future__ import annotations

import itertools
import threading
import time

import httpx


class ClickLoad:
    """Threads clicking tracked paths; each request is tagged by a unique User-Agent."""

    def __init__(
        self, base_url: str, host: str, paths: list[str], threads: int = 4, rate: float = 100
    ) -> None:
        self.base_url, self.host, self.paths = base_url, host, paths
        # Requests per second per thread, at most. A few hundred clicks a second prove as
        # much as thousands, and leave the CPU to the other tests running beside this one.
        self.interval = 1 / rate
        self.redirected: set[str] = set()  # request tags that received a 302
        self.failed = 0  # connection errors (edge down) and non-302 answers
        self.other_status: dict[int, int] = {}
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> ClickLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self) -> None:
        client = httpx.Client(base_url=self.base_url, timeout=5, headers={"Host": self.host})
        deadline = time.monotonic() + 120  # a hard bound whatever the test does
        next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            next_at += self.interval
            ahead = next_at - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            else:
                next_at -= ahead  # behind (the edge was down): no burst to catch up
            n = next(self._counter)
            tag = f"load/{n}"
            try:
                response = client.get(self.paths[n % len(self.paths)], headers={"User-Agent": tag})
            except httpx.HTTPError:
                with self._lock:
                    self.failed += 1
                time.sleep(0.01)
                continue
            with self._lock:
                if response.status_code == 302:
                    self.redirected.add(tag)
                else:
                    self.failed += 1
                    self.other_status[response.status_code] = (
                        self.other_status.get(response.status_code, 0) + 1
                    )
        client.close()
