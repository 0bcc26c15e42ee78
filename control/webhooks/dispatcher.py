"""The dispatcher: claims due outbox rows, POSTs them, records each attempt, retries.

Claiming: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and on both databases the lock
columns (``locked_by``/``locked_until_ms``), so a crashed dispatcher's rows are taken
over once their lock expires (or at once when the same host and port restarts); a
re-send keeps its ``webhook-id``. Each endpoint has at most ``per_endpoint`` requests in
flight, and rows of a busy endpoint are not even claimed, so a hanging receiver only ever
holds its own slots. Sends run on the dispatcher's own threads, never on the event loop's
default executor: hanging receivers must not starve click ingest, which uses that one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from control.clock import now_ms
from control.db.models import WebhookDelivery, WebhookEndpoint
from control.settings import ControlSettings
from control.webhooks.endpoints import signing_secrets
from control.webhooks.sender import Outcome, post
from edge.sealing import Sealer

log = logging.getLogger("clickgate.control.webhooks")

MAX_ATTEMPTS = 12  # with the default schedule: about three days
MAX_DELAY_MS = 12 * 3600 * 1000
LOG_ATTEMPTS = 20  # attempts kept per delivery


def backoff_ms(attempts: int, base_ms: int, rng: random.Random) -> int:
    """Delay after the n-th failed attempt: base * 4^(n-1), capped, with +-20% jitter."""
    delay = min(base_ms * 4 ** max(attempts - 1, 0), MAX_DELAY_MS)
    return int(delay * rng.uniform(0.8, 1.2))


@dataclass(frozen=True)
class Job:
    delivery_id: str
    endpoint_id: int
    url: str
    headers: dict[str, str]
    secrets: list[str]  # the current secret, and the previous one during a rotation
    body: bytes
    lock: str = ""  # the claim's locked_by: whether the row is still this job's to settle


@dataclass
class Dispatcher:
    sessions: sessionmaker[Session]
    sealer: Sealer
    allow_private: bool = False
    timeout_s: float = 5.0
    base_delay_ms: int = 10_000
    per_endpoint: int = 2
    max_in_flight: int = 32  # threads for sends, over all endpoints
    batch: int = 50
    clock: Callable[[], int] = now_ms
    # Locks are named "<worker>:<random>"; a worker name stable across restarts lets a
    # restarted control plane take its predecessor's rows back at once (release_own).
    worker: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    rng: random.Random = field(default_factory=random.Random)
    in_flight: Counter[int] = field(default_factory=Counter)
    _pool: ThreadPoolExecutor | None = None

    @property
    def lock_ms(self) -> int:
        # A send takes at most 2 * timeout (control.webhooks.sender); the margin covers
        # recording it. A lock that expires early costs a duplicate, never a loss.
        return int(self.timeout_s * 1000) * 3 + 5_000

    def release_own(self) -> int:
        """At start-up: unlock rows a previous process of this same worker name held."""
        with self.sessions.begin() as session:
            result = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.locked_by.startswith(f"{self.worker}:", autoescape=True))
                .values(locked_by="", locked_until_ms=0)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def claim(self) -> list[Job]:
        """Lock up to batch due rows, at most the free slots of each endpoint."""
        now = self.clock()
        busy = [e for e, n in self.in_flight.items() if n >= self.per_endpoint]
        room = min(self.batch, self.max_in_flight - sum(self.in_flight.values()))
        if room <= 0:
            return []
        with self.sessions.begin() as session:
            query = (
                select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_ms <= now,
                    WebhookDelivery.locked_until_ms <= now,
                    WebhookEndpoint.enabled,
                    WebhookDelivery.endpoint_id.not_in(busy),
                )
                .order_by(WebhookDelivery.next_attempt_ms)
                .limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
            taken: Counter[int] = Counter(self.in_flight)
            ids: list[str] = []
            for delivery_id, endpoint_id in session.execute(query).all():
                if len(ids) < room and taken[endpoint_id] < self.per_endpoint:
                    taken[endpoint_id] += 1
                    ids.append(delivery_id)
            if not ids:
                return []
            token = f"{self.worker}:{uuid.uuid4().hex[:8]}"
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids), WebhookDelivery.locked_until_ms <= now)
                .values(locked_by=token, locked_until_ms=now + self.lock_ms)
            )
            return self._jobs(session, token, now)

    def _jobs(self, session: Session, token: str, now: int) -> list[Job]:
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.locked_by == token)
        ).all()
        return [
            Job(
                d.id,
                e.id,
                e.url,
                {str(k): str(v) for k, v in (e.headers or {}).items()},
                signing_secrets(self.sealer, e, now),
                d.payload.encode(),
                token,
            )
            for d, e in rows
        ]

    def deliver(self, job: Job) -> Outcome:
        """Blocking: send one job and record the attempt."""
        stamp = self.clock() // 1000
        outcome = post(
            job.url,
            job.body,
            job.secrets,
            job.delivery_id,
            stamp,
            job.headers,
            self.timeout_s,
            self.allow_private,
        )
        self.record(job, outcome)
        return outcome

    def record(self, job: Job, outcome: Outcome) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            d = session.get(WebhookDelivery, job.delivery_id)
            if d is None:
                return  # endpoint deleted meanwhile
            entry = {"time_ms": now, "status_code": outcome.status, "error": outcome.error}
            d.attempt_log = [*(d.attempt_log or []), entry][-LOG_ATTEMPTS:]
            delivered = 200 <= outcome.status < 300
            ours = d.locked_by == job.lock
            if ours:
                d.locked_by, d.locked_until_ms = "", 0
            if not delivered and (not ours or d.status != "pending"):
                # The row is no longer this attempt's to settle: a manual retry reset it
                # while the attempt was in flight, our lock expired and another dispatcher
                # took it over, or that other send already delivered it. The attempt is
                # logged; its failure must not push back the retry, nor undo a delivery.
                return
            d.attempts += 1
            d.last_status_code = outcome.status
            d.last_error = outcome.error
            if delivered:
                d.status, d.delivered_ms = "delivered", now
            elif outcome.status == 410:
                d.status = "failed"
                _disable(session, job.endpoint_id, "receiver answered 410 Gone", now)
            elif d.attempts >= MAX_ATTEMPTS:
                d.status = "failed"
                _disable(session, job.endpoint_id, "deliveries failed for days", now)
            else:
                delay = backoff_ms(d.attempts, self.base_delay_ms, self.rng)
                if outcome.retry_after_s is not None and outcome.status in (429, 503):
                    # The receiver said when: not sooner (capped like the schedule).
                    delay = max(delay, min(int(outcome.retry_after_s * 1000), MAX_DELAY_MS))
                d.next_attempt_ms = now + delay

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_in_flight + 1, "webhooks")
        return self._pool

    async def run_job(self, job: Job) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.deliver, job)
        except Exception:  # the lock expires and a later pass retries
            log.exception("webhook delivery %s failed", job.delivery_id)
        finally:
            self.in_flight[job.endpoint_id] -= 1

    async def pump(self, tasks: set[asyncio.Task[None]]) -> int:
        """Claim once and start a task per job; returns how many started."""
        jobs = await asyncio.get_running_loop().run_in_executor(self.pool, self.claim)
        for job in jobs:
            self.in_flight[job.endpoint_id] += 1
            task = asyncio.create_task(self.run_job(job))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return len(jobs)

    async def run_forever(self, poll_s: float = 1.0) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while True:
            try:
                started = await self.pump(tasks)
            except SQLAlchemyError as exc:
                log.error("webhook claim failed: %s", exc.__class__.__name__)
                started = 0
            except Exception:  # keep the job alive: a bad row must not stop every tenant
                log.exception("webhook claim failed")
                started = 0
            if not started:
                await asyncio.sleep(poll_s)
            else:
                await asyncio.sleep(0.01)


def _disable(session: Session, endpoint_id: int, reason: str, now: int) -> None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is not None and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        endpoint.changed_ms = now
        log.warning("webhook endpoint %d disabled: %s", endpoint_id, reason)


def worker_name(settings: ControlSettings) -> str:
    """Stable across restarts of one control plane (a pod keeps its host name), unique
    between control planes: two cannot listen on the same host and API port."""
    return f"{socket.gethostname()[:40]}:{settings.api_port}"


async def webhooks_forever(
    settings: ControlSettings, sessions: sessionmaker[Session], sealer: Sealer
) -> None:
    """Background job of the control plane; replicas may all run it (rows are claimed)."""
    dispatcher = Dispatcher(
        sessions,
        sealer,
        allow_private=settings.webhook_allow_private,
        timeout_s=settings.webhook_timeout_seconds,
        base_delay_ms=int(settings.webhook_retry_base_seconds * 1000),
        per_endpoint=settings.webhook_concurrency_per_endpoint,
        max_in_flight=settings.webhook_concurrency,
        worker=worker_name(settings),
    )
    try:
        released = await asyncio.to_thread(dispatcher.release_own)
    except SQLAlchemyError as exc:  # claims still work once the old locks expire
        log.error("releasing webhook locks failed: %s", exc.__class__.__name__)
    else:
        if released:
            log.info("took back %d webhook deliveries from before the restart", released)
    await dispatcher.run_forever(settings.webhook_poll_seconds)
