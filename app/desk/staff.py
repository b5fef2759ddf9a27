"""Staff logins: roles, argon2 password hashes, disabling, and the audit log.

Roles nest: a `viewer` reads, an `agent` also works tickets and replies, an `admin` also
manages staff, reads the audit log and exports. Blocking SQLAlchemy: the desk's routes are
plain `def` endpoints (FastAPI runs them in its thread pool), the CLI calls them directly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from app.db.models import AuditEntry, StaffUser

Role = Literal["viewer", "agent", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "agent", "admin")
ROLE_LABELS = {"viewer": "只读", "agent": "坐席", "admin": "管理员"}
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
# argon2-cffi's defaults (RFC 9106 low-memory profile): ~50 ms per login on this machine.
_hasher = PasswordHasher()
# Verified against when the username does not exist, so a wrong name costs what a wrong
# password costs and timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
_HASHING = threading.Lock()


class StaffError(ValueError):
    """A staff command that cannot be carried out; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Staff:
    id: int
    username: str
    role: Role
    accounts: tuple[str, ...]  # empty: every account
    disabled: bool
    session_version: int
    created_at: datetime
    last_login_at: datetime | None

    def at_least(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees_account(self, account: str) -> bool:
        return not self.accounts or account in self.accounts


def _from_row(row: StaffUser) -> Staff:
    return Staff(
        id=row.id,
        username=row.username,
        role=row.role,  # type: ignore[arg-type]
        accounts=tuple(a for a in row.accounts.split(",") if a),
        disabled=row.disabled,
        session_version=row.session_version,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"密码至少 {MIN_PASSWORD} 位")
    if password.strip() != password:
        raise StaffError("密码首尾不能有空格")


def add(engine: Engine, username: str, role: str, password: str, accounts: Sequence[str] = ()) -> Staff:
    if not _USERNAME.match(username):
        raise StaffError("用户名只能包含字母、数字、点、下划线和连字符（2-64 位）")
    if role not in ROLES:
        raise StaffError(f"角色必须是 {' / '.join(ROLES)} 之一")
    check_password(password)
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        exists = conn.execute(select(StaffUser.id).where(StaffUser.username == username)).first()
        if exists is not None:
            raise StaffError(f"用户 {username} 已存在")
        conn.execute(
            insert(StaffUser).values(
                username=username,
                password_hash=_hasher.hash(password),
                role=role,
                accounts=",".join(accounts),
                disabled=False,
                session_version=1,
                created_at=datetime.now(UTC),
            )
        )
    found = get(engine, username)
    assert found is not None
    return found


def get(engine: Engine, username: str) -> Staff | None:
    with Session(engine, expire_on_commit=False) as conn:
        row = conn.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    return _from_row(row) if row is not None else None


def get_by_id(engine: Engine, staff_id: int) -> Staff | None:
    with Session(engine, expire_on_commit=False) as conn:
        row = conn.execute(select(StaffUser).where(StaffUser.id == staff_id)).scalar_one_or_none()
    return _from_row(row) if row is not None else None


def all_staff(engine: Engine) -> list[Staff]:
    with Session(engine, expire_on_commit=False) as conn:
        rows = conn.execute(select(StaffUser).order_by(StaffUser.username)).scalars().all()
    return [_from_row(row) for row in rows]


def authenticate(engine: Engine, username: str, password: str) -> Staff | None:
    """The enabled user with this password, or None; records the login time."""
    with Session(engine, expire_on_commit=False) as conn:
        row = conn.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    stored = row.password_hash if row is not None else _DUMMY_HASH
    try:
        # One hash at a time per process: argon2 runs 4 threads and 64 MiB per hash, and a
        # burst of logins (bench/desk.py: eight at once) starved the callback sharing the worker.
        with _HASHING:
            _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    values: dict[str, object] = {"last_login_at": datetime.now(UTC)}
    if _hasher.check_needs_rehash(stored):
        values["password_hash"] = _hasher.hash(password)
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        conn.execute(update(StaffUser).where(StaffUser.id == row.id).values(**values))
    return _from_row(row)


def disable(engine: Engine, username: str) -> None:
    """Disable the login and end its sessions (the session version they carry is now stale)."""
    _change(engine, username, disabled=True, session_version=StaffUser.session_version + 1)


def enable(engine: Engine, username: str) -> None:
    _change(engine, username, disabled=False)


def set_password(engine: Engine, username: str, password: str) -> None:
    check_password(password)
    _change(engine, username, password_hash=_hasher.hash(password), session_version=StaffUser.session_version + 1)


def set_role(engine: Engine, username: str, role: str) -> None:
    if role not in ROLES:
        raise StaffError(f"角色必须是 {' / '.join(ROLES)} 之一")
    _change(engine, username, role=role, session_version=StaffUser.session_version + 1)


def _change(engine: Engine, username: str, **values: object) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(StaffUser).where(StaffUser.username == username).values(**values)).rowcount
    if not done:
        raise StaffError(f"没有用户 {username}")


# -- audit --------------------------------------------------------------------------------

AUDIT_LABELS = {
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出",
    "view_personal": "查看个人信息",
    "search": "搜索",
    "assign": "分派",
    "status": "变更状态",
    "reply": "回复群众",
    "export": "导出",
    "staff_add": "新增用户",
    "staff_disable": "停用用户",
    "staff_passwd": "修改密码",
}


@dataclass(frozen=True, slots=True)
class Audit:
    at: datetime
    actor: str
    action: str
    ticket_number: str
    detail: str
    address: str

    @property
    def label(self) -> str:
        return AUDIT_LABELS.get(self.action, self.action)


def audit(
    engine: Engine, actor: str, action: str, *, ticket: str = "", detail: str = "", address: str = ""
) -> None:
    with Session(engine, expire_on_commit=False) as conn, conn.begin():
        conn.execute(
            insert(AuditEntry).values(
                at=datetime.now(UTC),
                actor=actor[:64],
                action=action[:32],
                ticket_number=ticket[:32],
                detail=detail[:2000],
                address=address[:64],
            )
        )


def audit_entries(
    engine: Engine,
    *,
    since: datetime | None = None,
    actor: str = "",
    ticket: str = "",
    limit: int = 200,
    offset: int = 0,
) -> list[Audit]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if ticket:
        query = query.where(AuditEntry.ticket_number == ticket)
    with Session(engine, expire_on_commit=False) as conn:
        rows = conn.execute(query).scalars().all()
    return [Audit(r.at, r.actor, r.action, r.ticket_number, r.detail, r.address) for r in rows]
