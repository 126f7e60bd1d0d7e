"""Delivery channels behind one small interface: ``send(sender, recipients, raw)``.

Each raises DeliveryError saying whether the failure is permanent. The SMTP transport keeps one
connection for a batch and reconnects when the server dropped it. A partly refused send does not
raise in aiosmtplib, so the refused addresses are returned as a note.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiosmtplib

from notifications.errors import DeliveryError, TransportConfigError

log = logging.getLogger(__name__)


class Transport(Protocol):
    name: str

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str) -> str:
        """Deliver one message; return a note (e.g. refused addresses), or raise DeliveryError."""

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
    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, use_tls=s.tls, start_tls=s.starttls, timeout=s.timeout,
            username=s.user or None, password=s.password or None,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP 服务器 {s.host}:{s.port} 拒绝了用户名或密码（{exc.code}）。请检查 mail.smtp.user 和密码。", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"无法连接 SMTP 服务器 {s.host}:{s.port}：{type(exc).__name__}", permanent=False) from exc
        return client

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str) -> str:
        reused = self._client is not None and self._client.is_connected
        if not reused:
            self._client = await self._connect()
        try:
            return await self._send(sender, recipients, raw)
        except DeliveryError as exc:
            if not (reused and not exc.permanent):
                raise
        await self.close()  # the server dropped an idle connection: reconnect once
        self._client = await self._connect()
        return await self._send(sender, recipients, raw)

    async def _send(self, sender: str, recipients: list[str], raw: str) -> str:
        assert self._client is not None
        try:
            refused, _reply = await self._client.sendmail(sender, recipients, raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = "、".join(f"{r.recipient}（{r.code}）" for r in exc.recipients)
            raise DeliveryError(f"收件人全部被拒收：{codes}", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self.close()
            raise DeliveryError(f"SMTP 服务器回复 {exc.code} {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError, asyncio.TimeoutError) as exc:
            await self.close()
            raise DeliveryError(f"与 SMTP 服务器的连接中断或超时：{type(exc).__name__}", permanent=False) from exc
        if refused:
            return "部分收件人被拒收：" + "、".join(f"{addr}（{resp.code}）" for addr, resp in refused.items())
        return ""

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                client.close()


class FolderTransport:
    """Writes each message as ``<Message-ID>.eml`` into a folder readable by its owner only."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str) -> str:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9.@_-]", "_", message_id.strip("<>")) + ".eml"
            path = self.folder / name
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(raw)
        except OSError as exc:
            raise DeliveryError(f"无法写入邮件文件夹 {self.folder}：{exc.strerror}", permanent=False) from exc
        return ""

    async def close(self) -> None:
        return None


class MemoryTransport:
    """Keeps messages in a list; for tests of code that sends."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], str]] = []

    async def send(self, sender: str, recipients: list[str], raw: str, message_id: str) -> str:
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
