"""The office calendar in service: loaded from KNOWLEDGE_DIR/calendar.yaml with the knowledge base
(so a saved file, SIGHUP or /admin/reload picks it up), checked against the booking windows.

When a flow's bookable window reaches a year whose State Council schedule is not in the file,
`/healthz` says `calendar: incomplete` and the log warns once a day: every December the window
reaches next year before the schedule is typed in (issue 18).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from app.background import Background
from flows import calendar
from flows.calendar import Calendar, CalendarError, Gap, load_calendar, window_gaps
from flows.registry import FlowRegistry

log = logging.getLogger("wxbot.calendar")
SHANGHAI = ZoneInfo("Asia/Shanghai")
CHECK_INTERVAL_S = 3600.0
CalendarHealth = Literal["ok", "incomplete", "failed"]


class CalendarWatch(Background):
    task_name = "calendar-watch"

    def __init__(self, path: Path, flows: Callable[[], FlowRegistry | None]) -> None:
        super().__init__()
        self.path = path
        self._flows = flows
        self.failed = False
        self._warned_on: date | None = None

    def load(self) -> Calendar:
        """Load and install the file; a broken one keeps the calendar in service and is reported."""
        try:
            loaded = load_calendar(self.path)
        except CalendarError as exc:
            self.failed = True
            log.error("calendar file not loaded, the previous calendar stays in service: %s", exc)
            return calendar.active()
        self.failed = False
        if not loaded.schedules:
            log.warning("no holiday schedule in %s: statutory holidays only, no make-up working days", self.path)
        calendar.install(loaded)
        return loaded

    def gaps(self, today: date | None = None) -> list[Gap]:
        registry = self._flows()
        if registry is None:
            return []
        return window_gaps(registry, today or datetime.now(SHANGHAI).date(), calendar.active())

    def health(self, today: date | None = None) -> CalendarHealth:
        if self.failed:
            return "failed"
        return "incomplete" if self.gaps(today) else "ok"

    def warn_daily(self, today: date | None = None) -> bool:
        """Log the gaps once per day; True when it warned."""
        today = today or datetime.now(SHANGHAI).date()
        if self._warned_on == today:
            return False
        gaps = self.gaps(today)
        if not gaps:
            return False
        self._warned_on = today
        for gap in gaps:
            log.warning("calendar incomplete: %s", gap)
        return True

    async def _run(self) -> None:
        while True:
            try:
                self.warn_daily()
            except Exception:
                # A check that fails must not stop the next one; the reason is in the log.
                log.exception("calendar check failed")
            await asyncio.sleep(CHECK_INTERVAL_S)
