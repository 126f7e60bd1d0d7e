"""Delivery channels behind one small interface: ``send(sender, recipients, raw)``.

Each raises DeliveryError saying whether the failure is permanent, and whether it is the server's
or the settings' fault (``stop_pass``: the pass stops, no message is charged). The SMTP transport
keeps one connection for a batch and reconnects when the server dropped it. A partly refused send
does not raise in aiosmtplib, so the refused addresses are returned as a note: the only note a
transport returns, recorded with the message and shown as undelivered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiosmtplib

from notifications.errors import DeliveryError, TransportConfigError
from tracker.outfiles import describe_os_error, write_file

log = logging.getLogger(__name__)


class Transport(Protocol):
    name: str

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str, *, label: str = "") -> str:
        """Deliver one message; return a note (e.g. refused addresses), or raise DeliveryError.

        ``label`` names the message for a person (date, recipient, outbox number: see ``eml_name``);
        transports that store files use it as the file name."""

    async def close(self) -> None:
        """Release connections; the transport may be used again afterwards."""


@dataclass
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    tls: bool
    user: str
    password: str = field(repr=False)
    timeout: float


class SmtpTransport:
    """One connection per batch; every failure is classified (see ``_connect_error`` and ``_send``) and explained."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None

    @property
    def _where(self) -> str:
        return f"SMTP 服务器 {self.settings.host}:{self.settings.port}"

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, use_tls=s.tls, start_tls=s.starttls, timeout=s.timeout,
            username=s.user or None, password=s.password or None,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            client.close()
            raise self._connect_error(exc) from exc
        return client

    def _connect_error(self, exc: BaseException) -> DeliveryError:
        """What went wrong while connecting, logging in or starting TLS, in words an operator can act on.

        Problems of the settings or the server (a refused password, a certificate, TLS on the wrong
        port) stop the pass without charging an attempt to any message: they are not the message's
        fault, and failing every queued message for them would lose the day's reminders."""
        where = self._where
        tls = _ssl_error(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            reason = tls.verify_message or str(tls)
            if tls.verify_code in (18, 19) or "self-signed" in reason or "self signed" in reason:
                text = (f"{where} 的证书是自签名证书，本机不信任它（{reason}），邮件未发送。请让邮件服务器管理员换用正式证书，"
                        "或把该证书复制到 /usr/local/share/ca-certificates/ 后运行 update-ca-certificates。")
            else:
                text = (f"{where} 的证书无法验证（{reason}），邮件未发送。请检查 mail.smtp.host 是否与证书上的名称一致、证书是否过期，"
                        "或请邮件服务器管理员处理。")
            return DeliveryError(text, permanent=False, stop_pass=True)
        if tls is not None:
            reason = getattr(tls, "reason", None) or str(tls)
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"):
                text = (f"{where} 在这个端口上不使用直接 TLS 加密（对方回答的是明文 SMTP，{reason}）。请把 mail.smtp.tls 改为 false、"
                        "starttls 改为 true（端口通常是 587 或 25），或把 port 改为服务器的 TLS 端口（通常是 465）。")
            else:
                text = f"与 {where} 建立 TLS 加密连接失败（{reason}）。请核对 mail.smtp.port、tls 和 starttls 与服务器的要求一致。"
            return DeliveryError(text, permanent=False, stop_pass=True)
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            if 400 <= exc.code < 500:
                return DeliveryError(f"{where} 暂时无法验证登录（{exc.code} {exc.message}），这是服务器端的临时故障，稍后自动重试。",
                                     permanent=False, stop_pass=True)
            return DeliveryError(f"{where} 拒绝了用户名或密码（{exc.code} {exc.message}）。请检查 mail.smtp.user 和密码；"
                                 "在改正之前邮件留在发件箱中，不会被标记为失败。", permanent=False, stop_pass=True)
        message = str(exc)
        if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS extension not supported" in message:
            return DeliveryError(f"{where} 没有提供 STARTTLS 加密（它的 EHLO 应答中没有 STARTTLS），邮件未发送。请改用服务器的直接 TLS "
                                 "端口（mail.smtp.tls = true，通常端口 465），或请管理员开启 STARTTLS；不要在不加密的连接上发送密码。",
                                 permanent=False, stop_pass=True)
        if isinstance(exc, aiosmtplib.SMTPException) and "AUTH extension not supported" in message:
            return DeliveryError(f"{where} 在当前连接上不提供 AUTH 登录（许多服务器只在加密后才允许登录）。请设 mail.smtp.starttls = true "
                                 "或 tls = true；如果该服务器不需要登录，请把 mail.smtp.user 留空。", permanent=False, stop_pass=True)
        if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
            return DeliveryError(f"连上了 {where}，但它在 {self.settings.timeout:g} 秒内没有发出问候。服务器可能过忙；如果这是直接 TLS 端口"
                                 "（通常 465），请设 mail.smtp.tls = true、starttls = false。稍后自动重试。", permanent=False)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if exc.code >= 500:
                return DeliveryError(f"{where} 拒绝了连接（{exc.code} {exc.message}）。请联系邮件服务器管理员。",
                                     permanent=False, stop_pass=True)
            return DeliveryError(f"{where} 暂时不接受连接（{exc.code} {exc.message}），稍后自动重试。", permanent=False)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return DeliveryError(f"无法连接 {where}：{reason}。请检查服务器是否运行、mail.smtp.host 和 port 是否正确；稍后自动重试。",
                             permanent=False)

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str, *, label: str = "") -> str:
        """Hand one message over once. A kept connection is probed first (NOOP) and replaced if the server dropped
        it; a message itself is never sent again on a new connection, because a failure after DATA (a late reply, a
        timeout) may come after the server has accepted it: it goes back to the outbox's backoff instead."""
        if not await self._alive():
            await self.close()
            self._client = await self._connect()
        return await self._send(sender, recipients, raw)

    async def _alive(self) -> bool:
        client = self._client
        if client is None or not client.is_connected:
            return False
        try:
            await client.noop()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            return False
        return True

    async def _send(self, sender: str, recipients: list[str], raw: str) -> str:
        assert self._client is not None
        where = self._where
        try:
            refused, _reply = await self._client.sendmail(sender, recipients, raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = "、".join(f"{r.recipient}（{r.code} {r.message}）" for r in exc.recipients)
            raise DeliveryError(f"收件人全部被拒收：{codes}。请用 tracker units set 核对邮箱。", permanent=True) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            await self.close()
            if exc.code >= 500:
                raise DeliveryError(f"{where} 拒绝了发件人 {exc.sender}（{exc.code} {exc.message}）。请检查 mail.sender 是否是该账号"
                                    "允许使用的地址；在改正之前邮件留在发件箱中。", permanent=False, stop_pass=True) from exc
            raise DeliveryError(f"{where} 暂时不接受发件人（{exc.code} {exc.message}），稍后自动重试。", permanent=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self.close()
            if exc.code in (530, 534, 535, 538):
                raise DeliveryError(f"{where} 要求登录或拒绝了登录（{exc.code} {exc.message}）。请设置 mail.smtp.user 和密码；"
                                    "在改正之前邮件留在发件箱中。", permanent=False, stop_pass=True) from exc
            kind = "不再重试" if exc.code >= 500 else "稍后自动重试"
            raise DeliveryError(f"{where} 回复 {exc.code} {exc.message}（{kind}）", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError, asyncio.TimeoutError) as exc:
            await self.close()
            raise DeliveryError(f"与 {where} 的连接中断或超时：{type(exc).__name__}，稍后自动重试。", permanent=False) from exc
        if refused:
            return "部分收件人被拒收：" + "、".join(f"{addr}（{resp.code} {resp.message}）" for addr, resp in refused.items())
        return ""

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                client.close()


def _ssl_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (aiosmtplib wraps it in SMTPConnectError), if any."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def eml_name(run_date: dt.date, recipient: str, outbox_id: int | None) -> str:
    """The file name of a stored message, so a person can match file and outbox row: ``2020-09-23_县财政局_12.eml``."""
    unit = _UNSAFE.sub("_", recipient).strip(" ._")[:60] or "收件人"
    return f"{run_date.isoformat()}_{unit}_{outbox_id}.eml"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|\s]+")


class FolderTransport:
    """Writes each message as ``<date>_<recipient>_<outbox id>.eml`` into a folder readable by its owner only.

    The file is written under a temporary name, flushed to disk and renamed: a full disk leaves no
    empty or truncated ``.eml`` that looks delivered, and the message stays queued for a retry."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str, *, label: str = "") -> str:
        name = label or re.sub(r"[^A-Za-z0-9.@_-]", "_", message_id.strip("<>")) + ".eml"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_file(self.folder / name, raw.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise DeliveryError(f"无法写入邮件文件夹 {self.folder}：{describe_os_error(exc)}", permanent=False) from exc
        return ""

    async def close(self) -> None:
        return None


class MemoryTransport:
    """Keeps messages in a list; for tests of code that sends."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], str]] = []

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str, *, label: str = "") -> str:
        self.sent.append((sender, list(recipients), raw))
        return ""

    async def close(self) -> None:
        return None


TRANSPORTS = ("smtp", "folder", "memory")


def read_password(env_name: str, file_name: str) -> str:
    """The SMTP password from a file or an environment variable; it is never in the config itself."""
    if file_name:
        try:
            return Path(file_name).read_text("utf-8").strip()
        except OSError as exc:
            raise TransportConfigError(f"无法读取 SMTP 密码文件 {file_name}：{exc.strerror}。请检查 mail.smtp.password_file。") from exc
    return os.environ.get(env_name, "") if env_name else ""


def make_transport(name: str, *, smtp: SmtpSettings | None = None, folder: Path | None = None) -> Transport:
    """The transport called ``name``; an unknown name lists the valid ones."""
    if name == "smtp":
        if smtp is None:
            raise TransportConfigError("缺少 [mail.smtp] 设置。")
        return SmtpTransport(smtp)
    if name == "folder":
        if folder is None:
            raise TransportConfigError("缺少 mail.folder 设置。")
        return FolderTransport(folder)
    if name == "memory":
        return MemoryTransport()
    raise TransportConfigError(f"配置项 mail.transport 的值“{name}”无效。可用：{'、'.join(TRANSPORTS)}。")
