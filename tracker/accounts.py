"""County-office accounts for the web pages: a name and a scrypt hash (memory-hard), nothing else."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlmodel import Session, select

from tracker.errors import AccessError, StatusError
from tracker.models import JournalEntry, OfficeUser
from tracker.text import clean_line

N, R, P = 2**17, 8, 1  # 128 MiB per guess: the OWASP minimum for scrypt; stored hashes keep the parameters they were made with


def _maxmem(n: int, r: int, p: int) -> int:
    """The memory scrypt needs for these parameters (128·r·(n + p) bytes) with room to spare: OpenSSL refuses to run
    above its limit, so a fixed limit would break every login the day the parameters are raised."""
    return 128 * r * (n + p) + 32 * 1024 * 1024


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, maxmem=_maxmem(N, R, P))
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        assert kind == "scrypt"
        found = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=_maxmem(int(n), int(r), int(p)))
    except (ValueError, AssertionError):
        return False
    return hmac.compare_digest(found.hex(), digest)


def add_user(session: Session, name: str, password: str, *, by: str, now: dt.datetime, replace: bool = False) -> OfficeUser:
    name = clean_line(name).strip()
    if not name:
        raise StatusError("用户名不能为空。")
    if len(password) < 10:
        raise StatusError("密码至少 10 个字符。")
    user = session.exec(select(OfficeUser).where(OfficeUser.name == name)).first()
    if user is not None and not replace:
        raise StatusError(f"用户“{name}”已存在。要重设密码请加 --reset。")
    user = user or OfficeUser(name=name, password_hash="", created_at=now)
    user.password_hash, user.disabled = hash_password(password), False
    user.session_epoch = (user.session_epoch or 0) + 1  # a reset logs out every browser signed in with the old password
    session.add(user)
    session.add(JournalEntry(at=now, actor=clean_line(by), action="user_add", note=name, details={"reset": replace}))
    session.flush()
    return user


def end_sessions(session: Session, name: str) -> None:
    """Log the user out everywhere: cookies carry the epoch they were signed in, and an older one is refused."""
    user = session.exec(select(OfficeUser).where(OfficeUser.name == name)).first()
    if user is not None:
        user.session_epoch = (user.session_epoch or 0) + 1
        session.add(user)


def authenticate(session: Session, name: str, password: str) -> OfficeUser:
    user = session.exec(select(OfficeUser).where(OfficeUser.name == name.strip())).first()
    # the same work for an unknown name, a disabled account and a wrong password, so timing tells none of them apart
    if user is None:
        hash_password(password)
    matches = user is not None and password_matches(password, user.password_hash)
    if user is None or user.disabled or not matches:
        raise AccessError("用户名或密码不正确。")
    return user
