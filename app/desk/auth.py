"""Desk sessions, CSRF tokens and login throttling.

The session is a cookie signed with `DESK_SECRET_KEY` (itsdangerous), HttpOnly and
SameSite=Strict, holding the staff id, the staff row's `session_version` and the CSRF token;
nothing else. It is re-signed on every authenticated request, so `DESK_IDLE_MINUTES` without a
request ends it, and it never outlives `MAX_SESSION_HOURS` from login. Each request checks the
staff row: a disabled user, or one whose password or role changed, is logged out at once.

Before login the same cookie carries only a CSRF token, so the login form is protected too
(login CSRF); logging in issues a fresh token, so a token planted before login is useless.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.stores.base import Store, StoreUnavailable

COOKIE = "wxbot_desk"
MAX_SESSION_HOURS = 12
# Failed logins allowed per window, per username and per client address.
THROTTLE_WINDOW_S = 15 * 60
THROTTLE_PER_USER = 5
THROTTLE_PER_ADDRESS = 20


@dataclass(frozen=True, slots=True)
class DeskSession:
    csrf: str
    staff_id: int | None = None
    version: int = 0
    login_at: float = 0.0

    @property
    def authenticated(self) -> bool:
        return self.staff_id is not None


class SessionCodec:
    def __init__(self, secret: str, idle_s: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="wxbot-desk-session")
        self.idle_s = idle_s

    def encode(self, session: DeskSession) -> str:
        payload: dict[str, object] = {"c": session.csrf}
        if session.staff_id is not None:
            payload.update(u=session.staff_id, v=session.version, t=session.login_at)
        return self._serializer.dumps(payload)

    def decode(self, value: str | None) -> DeskSession | None:
        """The session in a cookie that is genuine, not idle too long and not too old; else None."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=int(self.idle_s))
        except BadSignature:  # SignatureExpired is a BadSignature
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        staff_id = data.get("u")
        if staff_id is None:
            return DeskSession(csrf=data["c"])
        login_at = float(data.get("t", 0))
        if not isinstance(staff_id, int) or time.time() - login_at > MAX_SESSION_HOURS * 3600:
            return None
        return DeskSession(csrf=data["c"], staff_id=staff_id, version=int(data.get("v", 0)), login_at=login_at)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(session: DeskSession | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


class LoginThrottle:
    """Counts failed logins per username and per address in the shared store (all workers).

    A store outage does not lock everyone out: throttling is skipped and the password check
    (argon2, tens of milliseconds each) still bounds guessing.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        window = int(time.time() // THROTTLE_WINDOW_S)
        return f"desk:login:user:{username.lower()}:{window}", f"desk:login:addr:{address}:{window}"

    async def blocked(self, username: str, address: str) -> bool:
        user_key, addr_key = self._keys(username, address)
        try:
            user_count = await self.store.get(user_key)
            addr_count = await self.store.get(addr_key)
        except StoreUnavailable:
            return False
        return int(user_count or 0) >= THROTTLE_PER_USER or int(addr_count or 0) >= THROTTLE_PER_ADDRESS

    async def failed(self, username: str, address: str) -> None:
        user_key, addr_key = self._keys(username, address)
        try:
            await self.store.incr(user_key, THROTTLE_WINDOW_S)
            await self.store.incr(addr_key, THROTTLE_WINDOW_S)
        except StoreUnavailable:
            return

    async def succeeded(self, username: str, address: str) -> None:
        user_key, _ = self._keys(username, address)
        try:
            await self.store.delete(user_key)
        except StoreUnavailable:
            return
