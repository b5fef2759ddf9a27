"""Ticket service levels for ops: how fast tickets are first answered and resolved, the share
within target, and how old the open ones are. `wxbot report` prints it, `/ops` shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from app.db.models import Ticket
from app.desk import workflow
from app.turnlog.report import percentile

# Open tickets by age: (label, older than, younger than).
AGE_BUCKETS: tuple[tuple[str, timedelta, timedelta | None], ...] = (
    ("1天内", timedelta(0), timedelta(days=1)),
    ("1-3天", timedelta(days=1), timedelta(days=3)),
    ("3-7天", timedelta(days=3), timedelta(days=7)),
    ("7天以上", timedelta(days=7), None),
)


@dataclass(frozen=True, slots=True)
class TicketStats:
    created: int
    first_response_hours: dict[str, float | None]  # p50, p90 (wall-clock hours)
    resolution_hours: dict[str, float | None]
    responded_within_target: float | None  # share of answered tickets answered by their deadline
    resolved_within_target: float | None
    open_by_age: dict[str, int]
    open_overdue: int

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "first_response_hours": self.first_response_hours,
            "resolution_hours": self.resolution_hours,
            "within_target": {"first_response": self.responded_within_target,
                              "resolution": self.resolved_within_target},
            "open_by_age": self.open_by_age,
            "open_overdue": self.open_overdue,
        }


def _hours(values: list[float]) -> dict[str, float | None]:
    values.sort()
    p50, p90 = percentile(values, 50), percentile(values, 90)
    return {"p50": None if p50 is None else round(p50, 2), "p90": None if p90 is None else round(p90, 2)}


def ticket_stats(
    engine: Engine, since: datetime, until: datetime, now: datetime, *, account: str | None = None
) -> TicketStats:
    """Tickets filed in [since, until); open-ticket ages as of `now`; one account's, or all."""
    mine = [Ticket.account == account] if account is not None else []
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Ticket.created_at, Ticket.first_response_at, Ticket.response_due_at, Ticket.resolved_at,
                Ticket.resolve_due_at, Ticket.status,
            ).where(Ticket.created_at >= since, Ticket.created_at < until, *mine)
        ).all()
        ages: dict[str, int] = {}
        for label, older, younger in AGE_BUCKETS:
            query = select(func.count()).select_from(Ticket).where(
                Ticket.status.in_(workflow.OPEN_STATUSES), Ticket.created_at <= now - older, *mine
            )
            if younger is not None:
                query = query.where(Ticket.created_at > now - younger)
            ages[label] = int(conn.execute(query).scalar_one())
        overdue = int(conn.execute(
            select(func.count()).select_from(Ticket).where(
                Ticket.status.in_(workflow.OPEN_STATUSES), Ticket.due_at < now, *mine
            )
        ).scalar_one())
    responses: list[float] = []
    resolutions: list[float] = []
    responded_in_time = resolved_in_time = 0
    for r in rows:
        if r.first_response_at is not None:
            responses.append((r.first_response_at - r.created_at).total_seconds() / 3600)
            responded_in_time += r.response_due_at is None or r.first_response_at <= r.response_due_at
        if r.resolved_at is not None and r.status == workflow.DONE:
            resolutions.append((r.resolved_at - r.created_at).total_seconds() / 3600)
            resolved_in_time += r.resolve_due_at is None or r.resolved_at <= r.resolve_due_at
    return TicketStats(
        created=len(rows),
        first_response_hours=_hours(responses),
        resolution_hours=_hours(resolutions),
        responded_within_target=round(responded_in_time / len(responses), 4) if responses else None,
        resolved_within_target=round(resolved_in_time / len(resolutions), 4) if resolutions else None,
        open_by_age=ages,
        open_overdue=overdue,
    )


def render_lines(data: dict[str, Any]) -> list[str]:
    """`wxbot report`'s ticket section."""
    def num(value: float | None) -> str:
        return "—" if value is None else f"{value:g} 小时"

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    first, done, within = data["first_response_hours"], data["resolution_hours"], data["within_target"]
    ages = "  ".join(f"{label} {count}" for label, count in data["open_by_age"].items())
    return [
        f"工单        新增 {data['created']} 件；未办结按时长：{ages}；已超时 {data['open_overdue']} 件",
        f"首次响应    p50 {num(first['p50'])}  p90 {num(first['p90'])}  时限内 {pct(within['first_response'])}",
        f"办结用时    p50 {num(done['p50'])}  p90 {num(done['p90'])}  时限内 {pct(within['resolution'])}",
    ]
