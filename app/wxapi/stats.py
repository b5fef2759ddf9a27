"""Counters of WeChat API outcomes, readable by the metrics module or pushed to it by a callback.

Every HTTP call records one `(api, outcome)`: outcome is "ok", an errcode as text ("45015",
"40001"…), "timeout", "network", "http_<status>" or "bad_response". A token retry shows up as
two calls ("40001" then "ok"), so nothing is hidden by the retry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

# (api, outcome) -> None; e.g. a prometheus Counter's `.labels(api, outcome).inc()`.
ApiObserver = Callable[[str, str], None]

APIS = ("stable_token", "custom_send", "menu_create", "menu_get")
# Outcomes worth their own metric series; fold anything else into "other" so that an unexpected
# errcode cannot create series without bound.
KNOWN_OUTCOMES = frozenset(
    {
        "ok", "timeout", "network", "bad_response", "http_500", "http_502", "http_503", "http_504",
        "-1", "40001", "40013", "40014", "40125", "42001", "45009", "45011", "45015", "45047",
        "46003", "48001",
    }
)


class ApiStats:
    def __init__(self, observer: ApiObserver | None = None) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._observer = observer

    def record(self, api: str, outcome: str) -> None:
        self._counts[(api, outcome)] += 1
        if self._observer is None:
            return
        try:
            self._observer(api, outcome)
        except Exception:
            # Metrics must never break a send.
            log.exception("wxapi_observer_failed", api=api, outcome=outcome)

    def count(self, api: str, outcome: str | None = None) -> int:
        if outcome is not None:
            return self._counts[(api, outcome)]
        return sum(n for (name, _), n in self._counts.items() if name == api)

    def snapshot(self) -> dict[tuple[str, str], int]:
        return dict(self._counts)
