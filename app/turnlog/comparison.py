"""One view across a city's accounts (issue 16): the same figures per account, side by side, and
the unanswered questions several accounts share — the content gap to fill once, centrally.

Each account's figures come from its rows alone (consultations never span accounts), all read in
one pass over the window; open and overdue tickets from the tickets table by its `account` column.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, select

from app.db.models import Ticket
from app.desk.workflow import OPEN_STATUSES
from app.turnlog.consultations import Rules
from app.turnlog.report import Report, build_reports_by_account
from app.turnlog.unanswered import cluster

# An open ticket older than this is overdue (three days: the usual 「三个工作日内答复」 promise).
OVERDUE_AFTER = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class AccountFigures:
    account: str
    name: str
    turns: int
    p95_ms: float | None
    resolution: float | None
    interactions: float | None  # mean interactions per resolved consultation
    fallback: float | None
    satisfied: float | None
    open_tickets: int
    overdue_tickets: int

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "name": self.name,
            "turns": self.turns,
            "p95_ms": self.p95_ms,
            "resolution": self.resolution,
            "interactions": self.interactions,
            "fallback": self.fallback,
            "satisfied": self.satisfied,
            "open_tickets": self.open_tickets,
            "overdue_tickets": self.overdue_tickets,
        }


@dataclass(slots=True)
class Comparison:
    accounts: list[AccountFigures] = field(default_factory=list)
    # Clusters asked on at least two accounts: question, count, accounts (id → count), examples.
    shared_unanswered: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": [a.to_json() for a in self.accounts],
            "shared_unanswered": self.shared_unanswered,
        }


def ticket_counts(
    engine: Engine, now: datetime, overdue_after: timedelta = OVERDUE_AFTER
) -> dict[str, tuple[int, int]]:
    """account → (open, overdue) tickets."""
    overdue_before = now - overdue_after
    stmt = (
        select(
            Ticket.account,
            func.count(),
            func.sum(case((Ticket.created_at < overdue_before, 1), else_=0)),
        )
        # The desk's open statuses (issue 17); `open` from rows the desk's migration has not seen.
        .where(Ticket.status.in_((*OPEN_STATUSES, "open")))
        .group_by(Ticket.account)
    )
    with engine.connect() as conn:
        return {str(a): (int(n), int(late or 0)) for a, n, late in conn.execute(stmt)}


def compare(
    engine: Engine,
    since: datetime | None,
    until: datetime | None,
    rules: Rules | None = None,
    *,
    accounts: dict[str, str] | None = None,
    now: datetime | None = None,
    min_accounts: int = 2,
    top: int = 10,
) -> Comparison:
    """Figures for each account (`accounts`: id → name; default: every account in the log)."""
    rules = rules or Rules()
    now = now or datetime.now(UTC)
    reports = build_reports_by_account(engine, since, until, rules, list(accounts) if accounts is not None else None)
    names = dict(accounts) if accounts is not None else {a: "" for a in reports}
    tickets = ticket_counts(engine, now)
    result = Comparison()
    asked: dict[str, Counter[str]] = {}
    for account, name in names.items():
        report = reports[account]
        result.accounts.append(_figures(account, name, report, tickets.get(account, (0, 0))))
        for c in report.unanswered:
            for text, count in c.texts.items():
                asked.setdefault(text, Counter())[account] += count
    # Cluster every account's unanswered phrasings together: one gap phrased differently on
    # two accounts is still one gap.
    weighted = [text for text, by_account in asked.items() for _ in range(sum(by_account.values()))]
    for c in cluster(weighted):
        where: Counter[str] = Counter()
        for text in c.texts:
            where.update(asked.get(text, Counter()))
        if len(where) >= min_accounts:
            result.shared_unanswered.append(
                {
                    "question": c.question,
                    "count": c.count,
                    "accounts": dict(where.most_common()),
                    "examples": c.phrasings(3),
                }
            )
    result.shared_unanswered = result.shared_unanswered[:top]
    return result


def _figures(account: str, name: str, report: Report, tickets: tuple[int, int]) -> AccountFigures:
    data = report.to_json(top=0)
    return AccountFigures(
        account=account,
        name=name,
        turns=data["turns"],
        p95_ms=data["latency_ms"]["p95"],
        resolution=data["rates"]["resolution"],
        interactions=data["consultations"]["interactions"]["mean"],
        fallback=data["rates"]["fallback"],
        satisfied=data["satisfaction"]["satisfied"],
        open_tickets=tickets[0],
        overdue_tickets=tickets[1],
    )
