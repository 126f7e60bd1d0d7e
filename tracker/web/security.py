"""Who is asking, and whether a form really came from our page: the actor, CSRF tokens, the failure limiter.

The actor is worked out once per request: a unit from the signed token in its link, an office user
from the signed session cookie (or HTTP Basic for scripts on the API). A session cookie carries the
user's session epoch, which logout and a password reset raise, so an old cookie stops working. A CSRF
token is a hash of the actor's key signed in its own namespace (signed, not encrypted: the key itself,
which holds the session's nonce or the unit's token, is never readable from the page), so a token taken
from one unit's page is refused on another's and on the office's; nothing about it is stored. Failed links and logins are counted per client address
in a sliding ten-minute window. A link is checked first and a valid one is always served (units share
one government NAT address, so another clerk's mistyped links must not lock them out); after the limit
the address's failures are answered 429. A login is refused before the password is checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from tracker.links import timed_serializer

CSRF_SALT = "tracker.csrf"
SESSION_SALT = "tracker.office-session"
WINDOW_SECONDS = 600
MAX_ADDRESSES = 100_000


@dataclass(frozen=True)
class Actor:
    kind: str  # unit | office | anonymous
    name: str
    unit_id: int | None = None
    key: str = ""  # what CSRF tokens are bound to

    @property
    def journal_name(self) -> str:
        """How the journal names the actor: a unit acting through its link, or the office user."""
        return f"{self.name}（网页）" if self.kind == "unit" else self.name


class Signer:
    """Signs CSRF tokens and session cookies with the product's clock (``clock``), so their ages follow it."""

    def __init__(self, secret: str, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.secret = secret
        self.clock = clock

    def _s(self, salt: str) -> URLSafeTimedSerializer:
        return timed_serializer(self.secret, salt, self.clock() if self.clock else None)

    def csrf_token(self, actor_key: str) -> str:
        return self._s(CSRF_SALT).dumps(_digest(actor_key))

    def csrf_ok(self, token: str | None, actor_key: str, max_age: int) -> bool:
        if not token or not actor_key:
            return False
        try:
            return bool(self._s(CSRF_SALT).loads(token, max_age=max_age) == _digest(actor_key))
        except BadSignature:
            return False

    def session_cookie(self, user: str, epoch: int) -> str:
        return self._s(SESSION_SALT).dumps({"user": user, "epoch": epoch, "nonce": secrets.token_hex(16)})

    def session_user(self, cookie: str | None, max_age: int) -> tuple[str, int, str] | None:
        """(user, epoch, nonce) of a validly signed, unexpired cookie; the caller checks the epoch against the account."""
        if not cookie:
            return None
        try:
            data = self._s(SESSION_SALT).loads(cookie, max_age=max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("user"), str) or not isinstance(data.get("epoch"), int):
            return None
        return data["user"], data["epoch"], str(data.get("nonce", ""))


def _digest(actor_key: str) -> str:
    return hashlib.sha256(actor_key.encode("utf-8")).hexdigest()


class FailureLimiter:
    """Counts failed links and logins per client address; thread-safe (uvicorn may run views in threads)."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, address: str, now: float) -> deque[float]:
        found = self._failures.get(address, deque())
        while found and now - found[0] > self.window:
            found.popleft()
        if not found:
            self._failures.pop(address, None)  # an address with no recent failure takes no memory
        return found

    def blocked(self, address: str) -> bool:
        with self._lock:
            return len(self._trim(address, time.monotonic())) >= self.limit

    def fail(self, address: str) -> None:
        with self._lock:
            now = time.monotonic()
            found = self._trim(address, now)
            found.append(now)
            self._failures[address] = found
            if len(self._failures) > MAX_ADDRESSES:  # a flood from many addresses: forget the quietest first
                for stale in sorted(self._failures, key=lambda a: self._failures[a][-1])[: len(self._failures) // 2]:
                    del self._failures[stale]

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)
