"""Personal links for units: a token that names the unit, signed with a secret kept outside config.toml.

The token carries the unit's id and its link generation; ``rotate`` raises the generation, so every
link signed before (a forwarded e-mail, a leaked address) stops working at once while the secret
stays the same for everyone else. The namespace (``salt``) keeps a link token from being accepted
as anything else (a CSRF token, a session), and the signature's age bounds a link's lifetime.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session

from tracker.errors import AccessError, ConfigError
from tracker.models import JournalEntry, Unit, UnitLink
from tracker.text import clean_line

LINK_SALT = "tracker.unit-link"


def read_secret(env_name: str, file_name: str, base: Path) -> str:
    """The signing secret from a file (relative to the config's folder) or the environment; never empty."""
    if file_name:
        path = (base / Path(file_name).expanduser())
        try:
            secret = path.read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"无法读取链接签名密钥文件 {path}：{exc.strerror}。请检查 web.secret_file。") from exc
    else:
        secret = os.environ.get(env_name, "") if env_name else ""
    if len(secret) < 16:
        raise ConfigError(
            f"没有设置链接签名密钥（或短于 16 个字符）。请设置环境变量 {env_name or 'TRACKER_WEB_SECRET'}，"
            "或在配置项 web.secret_file 中指定密钥文件；可用 python3 -c \"import secrets; print(secrets.token_urlsafe(32))\" 生成。")
    return secret


def generation(session: Session, unit_id: int) -> int:
    row = session.get(UnitLink, unit_id)
    return row.generation if row else 1


def timed_serializer(secret: str, salt: str, now: dt.datetime | None = None) -> URLSafeTimedSerializer:
    """A signed-and-timed serializer whose clock is ``now`` (the product's injected clock) rather than the machine's,
    so a link's or a session's age is measured on the same clock as everything else; the real time when None."""
    if now is None:
        return URLSafeTimedSerializer(secret, salt=salt)
    stamp = int(now.timestamp())

    class _At(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(secret, salt=salt, signer=_At)


def make_token(session: Session, secret: str, unit_id: int, now: dt.datetime | None = None) -> str:
    """A link signed as of the start of ``now``'s day (in its zone): a link's lifetime is counted in days, and a link
    made by a run replayed with --today is then never "from the future" for a server reading the same day."""
    if now is not None:
        now = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return timed_serializer(secret, LINK_SALT, now).dumps({"u": unit_id, "g": generation(session, unit_id)})


def unit_link(session: Session, secret: str, public_url: str, unit_id: int, now: dt.datetime | None = None) -> str:
    return f"{public_url.rstrip('/')}/u/{make_token(session, secret, unit_id, now)}"


def read_token(session: Session, secret: str, token: str, max_days: int, now: dt.datetime | None = None) -> Unit:
    """The unit a token names; AccessError (one message for every way it can fail but expiry) otherwise."""
    serializer = timed_serializer(secret, LINK_SALT, now)
    try:
        data = serializer.loads(token, max_age=max_days * 86400)
    except SignatureExpired as exc:
        raise AccessError("链接已过期。请使用最近一封提醒邮件中的链接，或联系县政府办公室。") from exc
    except BadSignature as exc:
        raise AccessError("链接无效。请使用提醒邮件中的完整链接，或联系县政府办公室。") from exc
    unit = session.get(Unit, data.get("u")) if isinstance(data, dict) else None
    if unit is None or data.get("g") != generation(session, unit.id):  # type: ignore[arg-type]
        raise AccessError("链接无效（可能已被县政府办公室更换）。请使用最近一封提醒邮件中的链接。")
    return unit


def rotate(session: Session, unit: Unit, *, by: str, now: dt.datetime) -> int:
    """Revoke every link of the unit signed so far; the next reminder carries a new one."""
    row = session.get(UnitLink, unit.id) or UnitLink(unit_id=unit.id, generation=1)  # type: ignore[arg-type]
    row.generation += 1
    row.rotated_at, row.rotated_by = now, clean_line(by)
    session.add(row)
    session.add(JournalEntry(at=now, actor=clean_line(by), action="link_rotate", unit_name=unit.name,
                             details={"generation": row.generation}))
    session.flush()
    return row.generation
