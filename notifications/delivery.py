"""The delivery pump: claim a batch of stored messages, send them one by one, record each outcome.

Claim and record are short write transactions of their own, so a slow SMTP server never holds a
database lock. Each message is recorded as soon as it is sent, so a process killed mid-batch
leaves at most the one message in flight sent but unrecorded; the rest of its batch is merely
claimed, and another pass takes them over when the lease runs out (with the same Message-IDs).

A live pump never loses its claims: after each message it renews the lease of the ones it still
holds (in the transaction that records the message), so a batch may take far longer than the lease
on a slow server without a second pump sending the same mail. The lease then only has to outlast
one message, which ``DeliveryPolicy.lease`` is sized for from the transport's timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

from sqlalchemy import Connection, Engine

from notifications.errors import DeliveryError
from notifications.transports import Transport, eml_name
from tracker.db import write_connection, write_session
from tracker.outbox import Claimed, claim_batch, record_failure, record_sent, release, renew

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    sender: str
    lease: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 36
    retry_after_seconds: int = 60
    retry_max_seconds: int = 3600  # with the defaults above, a message is retried for about 30 hours


def lease_for(configured: dt.timedelta, send_timeout: float | None) -> dt.timedelta:
    """The lease a claim needs: at least what one message may take, which is a few round trips of ``send_timeout``
    (connect, MAIL, RCPT, DATA). Claims are renewed after every message, so the batch size does not matter."""
    if send_timeout is None:
        return configured
    return max(configured, dt.timedelta(seconds=3 * send_timeout))


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    halted: str = ""  # why the pass stopped without charging any message (a refused password, a certificate)

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "errors": self.errors}
        return {**shown, "halted": self.halted} if self.halted else shown


def deliver_pending(
    engine: Engine, transport: Transport, policy: DeliveryPolicy, *, now: Callable[[], dt.datetime],
    stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Send every message that is due now; stop early (after the message in flight) when ``stop()``."""
    return asyncio.run(_pump(engine, transport, policy, now, stop))


BATCH = 20


async def _pump(
    engine: Engine, transport: Transport, policy: DeliveryPolicy, now: Callable[[], dt.datetime], stop: Callable[[], bool]
) -> DeliveryReport:
    report = DeliveryReport()
    envelope_from = parseaddr(policy.sender)[1]
    halted, more = False, True
    owner = uuid.uuid4().hex  # this pass's name on its claims
    try:
        with write_connection(engine) as recorder:
            while more and not (halted or stop()):
                with recorder.begin():
                    batch = claim_batch(recorder, now=now(), lease=policy.lease, limit=BATCH, owner=owner)
                more = len(batch) == BATCH  # a short batch took everything that was due
                unsent = [message.id for message in batch]
                held = set(unsent)
                try:
                    for message in batch:
                        if stop():
                            break
                        unsent.remove(message.id)
                        if message.id not in held:
                            continue  # another pump took this claim over (it had expired): it sends it, not us
                        outcome = await _send_one(engine, recorder, transport, policy, envelope_from, message, now,
                                                  report, owner)
                        with recorder.begin():
                            if outcome.sent:
                                record_sent(recorder, message.id, now=now(), note=outcome.note)
                            held = renew(recorder, unsent, owner=owner, now=now())
                        if not outcome.go_on:
                            halted = True  # the server is unwell: leave the rest queued for the next pass
                            break
                finally:
                    if unsent:
                        with recorder.begin():
                            release(recorder, unsent, owner=owner)
    finally:
        await transport.close()
    return report


@dataclass(frozen=True)
class _Outcome:
    sent: bool  # the caller records it as sent, with the server's ``note``
    go_on: bool  # False after a temporary failure or a stopped pass: the server is unwell, or the settings are wrong
    note: str = ""


async def _send_one(
    engine: Engine, recorder: Connection, transport: Transport, policy: DeliveryPolicy, envelope_from: str,
    message: Claimed, now: Callable[[], dt.datetime], report: DeliveryReport, owner: str,
) -> _Outcome:
    """Send one claimed message; a failure is recorded here, a success by the caller (with the lease renewal)."""
    started = time.monotonic()
    try:
        note = await transport.send(envelope_from, message.to, message.raw, message.message_id, label=_label(message))
    except DeliveryError as exc:
        if exc.stop_pass:
            with recorder.begin():
                release(recorder, [message.id], owner=owner, note=str(exc))
            report.halted = str(exc)
            report.errors.append(str(exc))
            log.error("发送暂停，邮件留在发件箱中：%s", exc)
            return _Outcome(sent=False, go_on=False)
        with write_session(engine) as session:
            state = record_failure(session, message.id, str(exc), permanent=exc.permanent, now=now(),
                                   max_attempts=policy.max_attempts, retry_after=policy.retry_after_seconds,
                                   retry_max=policy.retry_max_seconds, owner=owner)
        if state == "failed":
            report.failed += 1
        else:
            report.retrying += 1
        report.errors.append(f"{message.recipient}：{exc}")
        log.warning("邮件 %s 发给 %s 失败（%s）：%s", message.id, message.recipient,
                    "不再重试" if state == "failed" else "稍后重试", exc)
        return _Outcome(sent=False, go_on=exc.permanent)
    if note:
        report.errors.append(f"{message.recipient}：{note}")
    report.sent += 1
    log.info("邮件 %s 已发给 %s（%d 个地址，%.2f 秒）%s", message.id, message.recipient, len(message.to),
             time.monotonic() - started, note)
    return _Outcome(sent=True, go_on=True, note=note)


def _label(message: Claimed) -> str:
    return eml_name(message.run_date, message.recipient, message.id) if message.run_date else ""
