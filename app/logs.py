"""Structured JSON logs with per-callback context bound once (structlog contextvars).

What may appear in a log line is decided here: the user as a pseudonym (keyed hash), never the
OpenID; no message text; no secrets. Handlers' and libraries' stdlib loggers go through the same
formatter, so context bound in the callback shows on every line of that turn.
"""

from __future__ import annotations

import logging
import sys

import structlog

from app.turnlog.privacy import pseudonym

_configured = False


def configure(level: str = "INFO") -> None:
    """Install the JSON formatter on the root logger (idempotent: uvicorn workers call it too)."""
    global _configured
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    # Modules that log through structlog go through the same stdlib handler and formatter.
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        handler.set_name("wxbot")
        root.handlers = [h for h in root.handlers if h.get_name() != "wxbot"] + [handler]
        _configured = True
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; ours can carry tokens or users' case numbers.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, root.level))


class Pseudonym:
    """A log field that is the keyed hash of an identifier, computed only when a line is written.

    Every delivery binds its user and message, but most turns log nothing: hashing up front cost
    more than the rest of the binding. Rendered through structlog's `__structlog__` hook.
    """

    __slots__ = ("_key", "_text", "_value")

    def __init__(self, key: bytes, value: str) -> None:
        self._key = key
        self._value = value
        self._text: str | None = None

    def __structlog__(self) -> str:
        if self._text is None:
            self._text = pseudonym(self._key, self._value)[:16]
        return self._text

    __str__ = __repr__ = __structlog__


def bind_turn(key: bytes, openid: str, message_key: str) -> None:
    """The context of one delivery: who and which message, as pseudonyms only."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(user=Pseudonym(key, openid), msg=Pseudonym(key, message_key))


def bind(**values: object) -> None:
    structlog.contextvars.bind_contextvars(**values)


def clear() -> None:
    structlog.contextvars.clear_contextvars()
