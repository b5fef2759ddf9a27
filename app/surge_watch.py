"""Surges of unanswered questions brought to ops (issue 19): computed inside the server, periodically.

Every `CHECK_INTERVAL_S` each worker reads the last 8 days of the turn log once
(`app.turnlog.surge.detect`, the rule documented there and in the README) and keeps the result:
the dashboard's 「热点问题」 panel and the `wxbot_surges_active{account}` gauge read that result,
so neither a scrape nor a page load re-reads the turn log. The log gets one `surge detected`
warning per surge (`alert: surge`, the account, a cluster id, counts and start; never the
question's text, which stays on the admin-only dashboard), not one per check: a surge whose
phrasings overlap one already alerted is the same surge (its representative question or count
may change from one check to the next), and with several workers the first to claim the surge
in the shared store logs it (the claim lasts `ALERT_TTL_S`). A surge that ends and surges again
later is alerted again (after the claim has expired, with several workers).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.background import Background
from app.stores.base import Store
from app.turnlog.surge import CurrentSurge, detect
from app.turnlog.unanswered import normalise

log = logging.getLogger("wxbot.surge")
CHECK_INTERVAL_S = 600.0
# The first check waits this long: start-up (migrations, warm-up) is not the time to read 8 days
# of the turn log, and the dashboard detects surges itself until the first check has run.
FIRST_CHECK_DELAY_S = 60.0
ALERT_TTL_S = 24 * 3600.0


def cluster_id(question: str) -> str:
    """A short, stable name for a cluster in logs and store keys (from its normalised question)."""
    return hashlib.sha256(normalise(question).encode()).hexdigest()[:12]


class SurgeWatch(Background):
    task_name = "surge-watch"

    def __init__(
        self,
        engine: Callable[[], Engine | None],
        accounts: Sequence[str],
        *,
        store: Store | None = None,
        rules: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval_s: float = CHECK_INTERVAL_S,
        first_delay_s: float = FIRST_CHECK_DELAY_S,
    ) -> None:
        super().__init__()
        self._engine = engine
        self.accounts = tuple(accounts)
        self._store = store
        self._rules = rules
        self._clock = clock
        self.interval_s = interval_s
        self.first_delay_s = first_delay_s
        self.current: list[CurrentSurge] = []
        self.checked_at: datetime | None = None
        # Per account: the phrasings of each surge already alerted and still going on.
        self._alerted: dict[str, list[set[str]]] = {}

    def check(self, now: datetime | None = None) -> list[tuple[CurrentSurge, bool]]:
        """Detect the surges now; (surge, new) pairs, `new` for those not seen by the last check."""
        engine = self._engine()
        if engine is None:
            return []
        now = now or self._clock()
        found = detect(engine, now, self._rules, accounts=self.accounts or None)
        result: list[tuple[CurrentSurge, bool]] = []
        still: dict[str, list[set[str]]] = {}
        for item in found:
            texts = set(item.surge.cluster.texts)
            known = self._alerted.get(item.account, [])
            new = not any(texts & seen for seen in known)
            still.setdefault(item.account, []).append(texts | {t for seen in known if texts & seen for t in seen})
            result.append((item, new))
        self._alerted = still
        self.current = found
        self.checked_at = now
        for account in {*self.accounts, *(item.account for item in found)}:
            metrics.SURGES_ACTIVE.labels(metrics.account_label(account)).set(
                sum(1 for item in found if item.account == account)
            )
        return result

    async def check_and_alert(self) -> int:
        """One periodic check; the new surges logged (once across workers). Returns how many were logged."""
        pairs = await asyncio.to_thread(self.check)
        logged = 0
        for item, new in pairs:
            if not new or not await self._claim(item):
                continue
            s = item.surge
            # No message text in the log (app/logs.py): the cluster is named by a keyless hash of
            # its question, which the dashboard and `wxbot kb unanswered --surge` show in full.
            log.warning(
                "surge detected",
                extra={
                    "alert": "surge",
                    "account": item.account,
                    "cluster": cluster_id(s.question),
                    "last_24h": s.last_day,
                    "usual_per_day": s.usual_per_day,
                    "started_at": s.started_at.isoformat(),
                },
            )
            logged += 1
        return logged

    async def _claim(self, item: CurrentSurge) -> bool:
        if self._store is None:
            return True
        try:
            key = f"surge-alert:{item.account}:{cluster_id(item.surge.question)}"
            return await self._store.set_if_absent(key, b"1", ALERT_TTL_S)
        except Exception:
            # The store is down: log it here rather than not at all.
            return True

    async def _run(self) -> None:
        await asyncio.sleep(self.first_delay_s)
        while True:
            try:
                await self.check_and_alert()
            except SQLAlchemyError as exc:
                log.warning("surge check skipped, database unavailable: %s", type(exc).__name__)
            except Exception:
                # A check that fails must not stop the next one; the reason is in the log.
                log.exception("surge check failed")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        engine = self._engine()
        if engine is not None and engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
            # An in-memory database (tests, `wxbot chat`) is one connection shared by every thread:
            # a check from another thread would interleave with the callback's writes.
            return
        super().start()


    def snapshot(self, account: str | None, now: datetime) -> dict[str, Any] | None:
        """What the dashboard shows: the last check's surges of one account (`None`: all)."""
        if self.checked_at is None:
            return None
        items = [s.as_dict(now) for s in self.current if account is None or s.account == account]
        return {"checked_at": self.checked_at.isoformat(), "items": items}
