"""The delivery pump: claim a stored message, send it, record the outcome; one message at a time.

Claim and record are short write transactions of their own, so a slow SMTP server never holds a
database lock, and a process killed mid-send leaves the message claimed but unsent: another pass
takes it over when the lease runs out and sends it with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

from sqlalchemy import Engine

from notifications.errors import DeliveryError
from notifications.transports import Transport
from tracker.db import write_session
from tracker.models import OutboxMessage
from tracker.outbox import claim, ready_ids, record_failure, record_sent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    sender: str
    lease: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 8
    retry_after_seconds: int = 60


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "errors": self.errors}


def deliver_pending(
    engine: Engine, transport: Transport, policy: DeliveryPolicy, *, now: Callable[[], dt.datetime],
    stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Send every message that is due now; stop early (after the message in flight) when ``stop()``."""
    return asyncio.run(_pump(engine, transport, policy, now, stop))


async def _pump(
    engine: Engine, transport: Transport, policy: DeliveryPolicy, now: Callable[[], dt.datetime], stop: Callable[[], bool]
) -> DeliveryReport:
    report = DeliveryReport()
    envelope_from = parseaddr(policy.sender)[1]
    with write_session(engine) as session:
        candidates = ready_ids(session, now=now(), lease=policy.lease)
    try:
        for message_id in candidates:
            if stop():
                break
            with write_session(engine) as session:
                if not claim(session, message_id, now=now(), lease=policy.lease):
                    continue
                row = session.get_one(OutboxMessage, message_id)
                to, raw, mid, recipient = list(row.to_addrs), row.raw, row.message_id, row.recipient
            started = time.monotonic()
            try:
                note = await transport.send(envelope_from, to, raw, mid)
            except DeliveryError as exc:
                with write_session(engine) as session:
                    state = record_failure(session, message_id, str(exc), permanent=exc.permanent, now=now(),
                                           max_attempts=policy.max_attempts, retry_after=policy.retry_after_seconds)
                if state == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
                report.errors.append(f"{recipient}：{exc}")
                log.warning("邮件 %s 发给 %s 失败（%s）：%s", message_id, recipient, "不再重试" if state == "failed" else "稍后重试", exc)
                if not exc.permanent:
                    break  # the server is unwell: leave the rest queued for the next pass instead of waiting on each
                continue
            with write_session(engine) as session:
                record_sent(session, message_id, now=now(), note=note)
            report.sent += 1
            log.info("邮件 %s 已发给 %s（%d 个地址，%.2f 秒）%s", message_id, recipient, len(to), time.monotonic() - started, note)
    finally:
        await transport.close()
    return report
