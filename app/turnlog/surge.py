"""Hot unanswered topics within a day (issue 19): a surge of questions the bot could not answer.

The rule, in one place: unanswered questions (fallbacks, menus left unpicked, abandoned
consultations) of the last `BASELINE_DAYS + 1` days are clustered as `wxbot kb unanswered` does;
a cluster is **surging** when, in the last 24 hours, it was asked at least `MIN_COUNT` times
and at least `RATIO` times its usual daily rate (its mean over the `BASELINE_DAYS` days before,
counted as at least one a day, so a brand-new question needs `RATIO` × 1 and `MIN_COUNT`).
The surge starts at the first of those last-24-hour questions; the time from there to the
first FAQ answer that resolves it is the "answered within 24 hours" figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.turnlog.unanswered import Cluster, cluster

MIN_COUNT = 5
RATIO = 3.0
BASELINE_DAYS = 7
DAY = timedelta(days=1)


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
        if len(last_day) >= MIN_COUNT and len(last_day) >= RATIO * max(usual, 1.0):
            found.append(Surge(group, len(last_day), round(usual, 2), min(last_day)))
    found.sort(key=lambda s: (-(s.last_day / max(s.usual_per_day, 1.0)), s.question))
    return found
