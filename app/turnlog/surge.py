"""Hot unanswered topics within a day (issue 19): a surge of questions the bot could not answer.

The rule, in one place: unanswered questions (fallbacks, menus left unpicked, abandoned
consultations) of the last `BASELINE_DAYS + 1` days are clustered as `wxbot kb unanswered` does;
a cluster is **surging** when, in the last 24 hours, it was asked at least `MIN_COUNT` times
and at least `RATIO` times its usual daily rate (its mean over the `BASELINE_DAYS` days before,
counted as at least one a day, so a brand-new question needs `RATIO` × 1 and `MIN_COUNT`).
The surge **starts** at the first question of the earliest 24-hour stretch (within the 8 days
read) in which the cluster was already asked as often as the rule asks of the last 24 hours
(`MIN_COUNT` and `RATIO` × the usual rate): for a surge that began today that is the first of
today's questions; for one still going on after two days, two days ago — so a surge left
unanswered shows its real age rather than one that slides with the 24-hour window.

**Surge to first answer** (the seed's "hot events answered within 24 hours"): the time from the
surge's start to the first turn, after the start, that (a) asked a question of the surge's
cluster — its normalised text equals, resembles (rapidfuzz `ratio` ≥ `SIMILARITY`) or contains
(4+ characters) one of the cluster's phrasings, the same linkage the clustering uses — and (b)
was answered by an FAQ entry with confidence: route `faq` with an entry id, not a retried
delivery (a match below the answer threshold is a `clarify` or `fallback` turn, so it never
counts). Measured against `ANSWER_TARGET` (24 hours); a surge with no such turn yet is open, and
overdue once 24 hours have passed since its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import Engine, select

from app.db.models import TurnRow
from app.turnlog.unanswered import SIMILARITY, Cluster, cluster, normalise

MIN_COUNT = 5
RATIO = 3.0
BASELINE_DAYS = 7
DAY = timedelta(days=1)
ANSWER_TARGET = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Surge:
    cluster: Cluster
    last_day: int
    usual_per_day: float
    started_at: datetime

    @property
    def question(self) -> str:
        return self.cluster.question


def surges(events: Sequence[tuple[datetime, str]], now: datetime) -> list[Surge]:
    """Surging clusters among (time, text) unanswered questions, the largest rise first."""
    since = now - DAY * (BASELINE_DAYS + 1)
    recent = [(at, text.strip()) for at, text in events if since <= at <= now and text.strip()]
    found: list[Surge] = []
    for group in cluster(text for _at, text in recent):
        members = set(group.texts)
        times = [at for at, text in recent if text in members]
        last_day = [at for at in times if at > now - DAY]
        before = len(times) - len(last_day)
        usual = before / BASELINE_DAYS
        needed = max(float(MIN_COUNT), RATIO * max(usual, 1.0))
        if len(last_day) >= needed:
            found.append(Surge(group, len(last_day), round(usual, 2), _start(sorted(times), needed)))
    found.sort(key=lambda s: (-(s.last_day / max(s.usual_per_day, 1.0)), s.question))
    return found


def _start(times: list[datetime], needed: float) -> datetime:
    """The first question of the earliest 24 hours holding `needed` questions (`times` sorted)."""
    end = 0
    for index, at in enumerate(times):
        end = max(end, index)
        while end < len(times) and times[end] < at + DAY:
            end += 1
        if end - index >= needed:
            return at
    return times[-1]


def belongs(text: str, group: Cluster) -> bool:
    """Whether a question is one of the cluster's: the linkage `cluster` joins phrasings by."""
    key = normalise(text)
    if not key:
        return False
    for member in group.texts:
        other = normalise(member)
        if not other:
            continue
        if key == other or fuzz.ratio(key, other) >= SIMILARITY:
            return True
        if (len(other) >= 4 and other in key) or (len(key) >= 4 and key in other):
            return True
    return False


def first_answers(
    engine: Engine, found: Sequence[Surge], now: datetime, *, account: str | None = None
) -> list[datetime | None]:
    """For each surge, when a question of its cluster was first answered by an FAQ entry after its start."""
    if not found:
        return []
    answers: list[datetime | None] = [None] * len(found)
    earliest = min(s.started_at for s in found)
    clauses: list[Any] = [TurnRow.route == "faq", TurnRow.faq_id != "", TurnRow.is_retry.is_(False),
                          TurnRow.received_at >= earliest, TurnRow.received_at <= now]
    if account is not None:
        clauses.append(TurnRow.account == account)
    query = select(TurnRow.received_at, TurnRow.text).where(*clauses).order_by(TurnRow.received_at, TurnRow.id)
    with engine.connect() as conn:
        # Closed explicitly: leaving early must not leave PostgreSQL's server-side cursor open.
        result = conn.execution_options(yield_per=2000).execute(query)
        try:
            for received_at, text in result:
                for index, surge in enumerate(found):
                    if answers[index] is None and received_at >= surge.started_at and belongs(
                        text or "", surge.cluster
                    ):
                        answers[index] = received_at
                if all(a is not None for a in answers):
                    break
        finally:
            result.close()
    return answers


def answer_status(started_at: datetime, answered_at: datetime | None, now: datetime) -> dict[str, Any]:
    """The first-answer figure of one surge: hours taken (or open so far) against the 24-hour target."""
    end = answered_at or now
    hours = round((end - started_at).total_seconds() / 3600, 1)
    late = end - started_at > ANSWER_TARGET
    return {
        "answered_at": answered_at.isoformat() if answered_at is not None else None,
        "hours": hours,
        "answered": answered_at is not None,
        "within_target": not late if answered_at is not None else None,
        "overdue": late,
        "target_hours": ANSWER_TARGET.total_seconds() / 3600,
    }


@dataclass(frozen=True, slots=True)
class CurrentSurge:
    account: str
    surge: Surge
    answered_at: datetime | None

    def as_dict(self, now: datetime) -> dict[str, Any]:
        s = self.surge
        return {
            "account": self.account,
            "question": s.question,
            "examples": s.cluster.phrasings(3),
            "last_day": s.last_day,
            "usual_per_day": s.usual_per_day,
            "started_at": s.started_at.isoformat(),
            "first_answer": answer_status(s.started_at, self.answered_at, now),
        }


def detect(
    engine: Engine, now: datetime, rules: Any = None, *, accounts: Sequence[str] | None = None
) -> list[CurrentSurge]:
    """The surges now, per account (one read of the last `BASELINE_DAYS + 1` days), with their first answers."""
    from app.turnlog.report import build_reports_by_account

    since = now - DAY * (BASELINE_DAYS + 1)
    reports = build_reports_by_account(engine, since, now, rules, accounts=accounts)
    found: list[CurrentSurge] = []
    for account, report in reports.items():
        current = surges(report.unanswered_at, now)
        answers = first_answers(engine, current, now, account=account)
        found += [CurrentSurge(account, s, a) for s, a in zip(current, answers, strict=True)]
    return found
