"""What ops read: latency, consultations, resolution, satisfaction and unanswered questions.

`build_report` streams the turn rows of a window out of the database user by user, groups
them into consultations (`app.turnlog.consultations`) and returns a `Report`: `wxbot report`
prints it, `/ops` draws it. Rows after `until` are read only to judge whether an FAQ answer
given inside the window was re-asked (docs/consultations.md).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from app.db.models import TurnRow
from app.turnlog.consultations import (
    Consultation,
    Rules,
    TurnFacts,
    group_user,
    is_interaction,
)
from app.turnlog.unanswered import Cluster, cluster
from flows import rating

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WECHAT_LIMIT_MS = 5000.0
# Interactions per consultation above this are drawn as one "10+" bar.
HISTOGRAM_CAP = 10


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); `values` sorted."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    rank = (len(values) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return float(values[low] + (values[high] - values[low]) * (rank - low))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    start: datetime  # local time, start of the bucket
    count: int
    p50: float
    p95: float
    p99: float


@dataclass(slots=True)
class Report:
    since: datetime | None
    until: datetime | None
    turns: int = 0
    retries: int = 0
    latencies: list[float] = field(default_factory=list)
    within_5s: int = 0
    first_deliveries: int = 0
    interactions: int = 0
    fallbacks: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    consultations: list[Consultation] = field(default_factory=list)
    satisfaction: Counter[str] = field(default_factory=Counter)
    unanswered: list[Cluster] = field(default_factory=list)
    # The same questions with when their consultation started: what surge detection counts (issue 19).
    unanswered_at: list[tuple[datetime, str]] = field(default_factory=list)
    latency_series: list[LatencyPoint] = field(default_factory=list)
    bucket: timedelta = timedelta(hours=1)

    @property
    def resolved(self) -> list[Consultation]:
        return [c for c in self.consultations if c.resolved]

    def interactions_per_resolved(self) -> dict[str, float | None]:
        counts = sorted(c.interactions for c in self.resolved)
        return {
            "mean": _round(statistics.fmean(counts), 2) if counts else None,
            "median": _round(percentile(counts, 50), 2),
            "p90": _round(percentile(counts, 90), 2),
        }

    def interactions_histogram(self) -> dict[str, int]:
        """Resolved consultations by how many interactions they took; "10+" collects the tail."""
        hist: Counter[str] = Counter()
        for c in self.resolved:
            hist[str(c.interactions) if c.interactions < HISTOGRAM_CAP else f"{HISTOGRAM_CAP}+"] += 1
        keys = [str(n) for n in range(1, HISTOGRAM_CAP)] + [f"{HISTOGRAM_CAP}+"]
        return {k: hist.get(k, 0) for k in keys}

    def latency(self) -> dict[str, float | None]:
        ordered = sorted(self.latencies)
        return {f"p{p}": _round(percentile(ordered, p)) for p in (50, 95, 99)}

    def to_json(self, top: int = 10) -> dict[str, Any]:
        consultations = len(self.consultations)
        responses = sum(self.satisfaction.values())
        # The satisfaction rate of 好差评: the top two of the five levels, against the ≥ 90% target.
        satisfied = sum(n for k, n in self.satisfaction.items() if k in rating.SATISFIED)
        return {
            "window": {
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            },
            "turns": self.turns,
            "retries": self.retries,
            "latency_ms": self.latency(),
            "within_5s": _share(self.within_5s, self.first_deliveries),
            "consultations": {
                "count": consultations,
                "resolved": len(self.resolved),
                "interactions": self.interactions_per_resolved(),
            },
            "rates": {
                "resolution": _share(len(self.resolved), consultations),
                "fallback": _share(self.fallbacks, self.interactions),
                "handoff": _share(sum(1 for c in self.consultations if c.handoff), consultations),
            },
            "satisfaction": {
                "responses": responses,
                "satisfied": _share(satisfied, responses),
                "target": rating.TARGET,
                # Every level in scale order, zeros included; unknown values (none expected) last.
                "counts": {
                    **{level: self.satisfaction.get(level, 0) for level in rating.LEVELS},
                    **{k: n for k, n in sorted(self.satisfaction.items()) if k not in rating.LEVELS},
                },
            },
            "routes": dict(self.routes.most_common()),
            "top_unanswered": [
                {"question": c.question, "count": c.count, "examples": c.phrasings(3)}
                for c in self.unanswered[:top]
            ],
        }


class _Accumulator:
    def __init__(self, report: Report, rules: Rules) -> None:
        self.report = report
        self.rules = rules
        self.unanswered: list[str] = []
        self.buckets: dict[datetime, list[float]] = {}

    def in_window(self, at: datetime) -> bool:
        r = self.report
        return (r.since is None or at >= r.since) and (r.until is None or at < r.until)

    def add_user(self, rows: Sequence[TurnFacts]) -> None:
        r = self.report
        for row in rows:
            if not self.in_window(row.received_at):
                continue
            r.turns += 1
            r.routes[row.route] += 1
            if row.is_retry or row.route == "duplicate":
                r.retries += 1
                continue
            r.first_deliveries += 1
            r.latencies.append(row.latency_ms)
            self.buckets.setdefault(self._bucket(row.received_at), []).append(row.latency_ms)
            if row.outcome == "passive" and row.latency_ms <= WECHAT_LIMIT_MS:
                r.within_5s += 1
            if is_interaction(row) and not row.satisfaction:
                r.interactions += 1
                r.fallbacks += row.route == "fallback"
            if row.satisfaction:
                r.satisfaction[row.satisfaction] += 1
        for consultation in group_user(rows, self.rules):
            if not self.in_window(consultation.started_at):
                continue
            r.consultations.append(consultation)
            if consultation.resolved:
                continue
            self.unanswered.extend(consultation.unanswered)
            if consultation.abandoned:
                self.unanswered.append(consultation.abandoned)
            r.unanswered_at += [(consultation.started_at, text) for text in consultation.unanswered]
            if consultation.abandoned:
                r.unanswered_at.append((consultation.started_at, consultation.abandoned))

    def _bucket(self, at: datetime) -> datetime:
        local = at.astimezone(LOCAL_TZ)
        if self.report.bucket >= timedelta(days=1):
            return local.replace(hour=0, minute=0, second=0, microsecond=0)
        return local.replace(minute=0, second=0, microsecond=0)

    def finish(self) -> Report:
        r = self.report
        r.unanswered = cluster(self.unanswered)
        for start in sorted(self.buckets):
            values = sorted(self.buckets[start])
            r.latency_series.append(
                LatencyPoint(
                    start,
                    len(values),
                    percentile(values, 50) or 0.0,
                    percentile(values, 95) or 0.0,
                    percentile(values, 99) or 0.0,
                )
            )
        return r


_COLUMNS = (
    TurnRow.received_at, TurnRow.user_id, TurnRow.route, TurnRow.msg_type, TurnRow.event,
    TurnRow.is_retry, TurnRow.outcome, TurnRow.latency_ms, TurnRow.faq_id, TurnRow.flow_id,
    TurnRow.step, TurnRow.resolved, TurnRow.satisfaction, TurnRow.text,
)


def _where(since: datetime | None, end: datetime | None, account: str | None = None) -> list[Any]:
    clauses: list[Any] = []
    if account is not None:
        clauses.append(TurnRow.account == account)
    if since is not None:
        clauses.append(TurnRow.received_at >= since)
    if end is not None:
        clauses.append(TurnRow.received_at < end)
    return clauses


def count_rows(
    engine: Engine, since: datetime | None, until: datetime | None, rules: Rules, account: str | None = None
) -> int:
    end = until + rules.reask_window if until is not None else None
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(TurnRow).where(*_where(since, end, account))
        return int(conn.execute(stmt).scalar_one())


def iter_users(
    engine: Engine,
    since: datetime | None,
    until: datetime | None,
    rules: Rules,
    on_rows: Callable[[int], None] | None = None,
    account: str | None = None,
) -> Iterator[list[TurnFacts]]:
    """Each user's rows in time order, streamed (bounded memory per user); one account's only with `account`."""
    end = until + rules.reask_window if until is not None else None
    stmt = (
        select(*_COLUMNS)
        .where(*_where(since, end, account))
        .order_by(TurnRow.user_id, TurnRow.received_at, TurnRow.id)
    )
    current: list[TurnFacts] = []
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=2000).execute(stmt)
        for partition in result.partitions():
            for row in partition:
                facts = TurnFacts(*row)
                if current and current[0].user_id != facts.user_id:
                    yield current
                    current = []
                current.append(facts)
            if on_rows is not None:
                on_rows(len(partition))
    if current:
        yield current


def build_reports_by_account(
    engine: Engine,
    since: datetime | None,
    until: datetime | None,
    rules: Rules | None = None,
    accounts: Sequence[str] | None = None,
) -> dict[str, Report]:
    """One report per account from a single read of the window (not one scan per account).

    `accounts`: the ones to report (each present, even without rows); default: all in the log.
    """
    rules = rules or Rules()
    end = until + rules.reask_window if until is not None else None
    bucket = pick_bucket(since, until)
    accumulators = {a: _Accumulator(Report(since, until, bucket=bucket), rules) for a in accounts or ()}
    stmt = (
        select(TurnRow.account, *_COLUMNS)
        .where(*_where(since, end))
        .order_by(TurnRow.account, TurnRow.user_id, TurnRow.received_at, TurnRow.id)
    )
    if accounts is not None:
        stmt = stmt.where(TurnRow.account.in_(list(accounts)))
    current: list[TurnFacts] = []
    current_account = ""

    def flush() -> None:
        if current:
            acc = accumulators.get(current_account)
            if acc is None:
                acc = accumulators[current_account] = _Accumulator(Report(since, until, bucket=bucket), rules)
            acc.add_user(current)

    with engine.connect() as conn:
        result = conn.execution_options(yield_per=2000).execute(stmt)
        for partition in result.partitions():
            for account, *columns in partition:
                facts = TurnFacts(*columns)
                if current and (account != current_account or current[0].user_id != facts.user_id):
                    flush()
                    current = []
                current_account = account
                current.append(facts)
    flush()
    return {account: acc.finish() for account, acc in sorted(accumulators.items())}


def pick_bucket(since: datetime | None, until: datetime | None) -> timedelta:
    if since is not None and until is not None and until - since <= timedelta(days=2):
        return timedelta(hours=1)
    return timedelta(days=1)


def build_report(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    rules: Rules | None = None,
    on_rows: Callable[[int], None] | None = None,
    bucket: timedelta | None = None,
    account: str | None = None,
) -> Report:
    """The report over every account's turns, or over one account's (`account`, an app.accounts id)."""
    rules = rules or Rules()
    report = Report(since, until, bucket=bucket or pick_bucket(since, until))
    acc = _Accumulator(report, rules)
    for rows in iter_users(engine, since, until, rules, on_rows, account=account):
        acc.add_user(rows)
    return acc.finish()


def report_from_facts(
    rows: Sequence[TurnFacts],
    since: datetime | None = None,
    until: datetime | None = None,
    rules: Rules | None = None,
) -> Report:
    """The same analysis over rows already in memory (tests, the simulator)."""
    rules = rules or Rules()
    acc = _Accumulator(Report(since, until, bucket=pick_bucket(since, until)), rules)
    by_user: dict[str, list[TurnFacts]] = {}
    for row in sorted(rows, key=lambda r: (r.user_id, r.received_at)):
        by_user.setdefault(row.user_id, []).append(row)
    for user_rows in by_user.values():
        acc.add_user(user_rows)
    return acc.finish()

