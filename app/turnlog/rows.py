"""Turn submitted records into the rows we store: pseudonymous, masked, clipped to the columns.

This is the only place raw OpenIDs and texts are read; what leaves it (to the database or
the spool file) is safe to keep.

A record travels as bytes (`encode_record`, on the worker's drain thread) and becomes a row
here, in the writer. Rows are tuples in `COLUMNS` order, already in the form the database
stores, so the writer hands them to the driver as they are:

- `received_at` is naive UTC text, `YYYY-MM-DD HH:MM:SS.ffffff`: exactly what SQLAlchemy's
  DateTime keeps in SQLite, read back by the same models; PostgreSQL casts it on insert.
  Fixed width, so texts compare in time order;
- `stages` is its JSON text.

The writer builds a batch's rows a column at a time (`RowMaker.rows`): one pass of C-level
`zip`/`map` per column instead of Python code per field per row roughly halved the Python
work per row (about 27 → 15 µs in-process). That is CPU in the helper process, beside the
worker: on a host with a spare core it did not show in the worker's throughput
(docs/turnlog.md), on one whose cores are all busy it competes with the workers.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from app.turnlog.privacy import Pseudonymiser, mask_personal_data
from app.turnlog.record import TurnRecord

MAX_TEXT = 2000

COLUMNS = (
    "record_id", "received_at", "account", "user_id", "consultation_id", "turn_index", "msg_type", "event",
    "dedup_key", "is_retry", "text", "route", "faq_id", "score", "flow_id", "step", "reply_type", "reply_bytes",
    "latency_ms", "stages", "outcome", "late_detail", "resolved", "satisfaction",
)
Row = tuple[Any, ...]
RECEIVED_AT, USER_ID, CONSULTATION_ID, DEDUP_KEY, TEXT, STAGES = (
    COLUMNS.index(c) for c in ("received_at", "user_id", "consultation_id", "dedup_key", "text", "stages")
)

# --- the wire: what the worker queues ------------------------------------------------------

# A record on the wire: (record id, received_at as a POSIX timestamp, these fields in order).
# The timestamp, because pickling an aware datetime (its reduce, and the time zone's) cost
# four times the rest of the record on the worker's thread.
WIRE_FIELDS = (
    "account", "openid", "msg_type", "dedup_key", "text", "route", "reply_type", "reply_bytes", "latency_ms",
    "stages", "outcome", "is_retry", "consultation_id", "turn_index", "faq_id", "score", "flow_id", "step",
    "resolved", "satisfaction", "late_detail", "event",
)
Wire = tuple[str, float, Any]
# An erasure on the wire: (ERASE, erased_at as a POSIX timestamp, openid). Record ids are hex.
ERASE = "!erase"
_wire_fields = attrgetter(*WIRE_FIELDS)
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def encode_record(record_id: str, record: TurnRecord) -> bytes:
    """One record as the bytes queued in the worker and sent to the writer (`decode`)."""
    received = record.received_at
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)  # naive is taken as UTC
    return pickle.dumps((record_id, received.timestamp(), _wire_fields(record)), _PROTOCOL)


def encode_erase(openid: str, at: datetime) -> bytes:
    return pickle.dumps((ERASE, at.timestamp(), openid), _PROTOCOL)


# A record or an erasure from its bytes (pickle's own function: the writer maps it over a batch).
decode: Callable[[bytes], Wire] = pickle.loads


# --- stored forms ----------------------------------------------------------------------------

_seconds: dict[int, str] = {}


def utc_text(timestamp: float) -> str:
    """A POSIX timestamp as stored (naive UTC, microseconds), rounded as `datetime` rounds."""
    fraction, whole = math.modf(timestamp)
    micro, second = round(fraction * 1e6), int(whole)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    elif micro < 0:
        second, micro = second - 1, micro + 1_000_000
    prefix = _seconds.get(second)
    if prefix is None:
        if len(_seconds) > 4096:
            _seconds.clear()
        prefix = _seconds[second] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{prefix}.{micro:06d}"


def time_text(at: datetime) -> str:
    """An aware datetime (naive is taken as UTC) in the stored form."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(" ", "microseconds")


def time_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# allow_nan=False: NaN is not JSON, and PostgreSQL's json type refuses it.
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
# One `%d` template per set of stage names (a route has its own few): formatting a row's
# timings through it is one C call, where the JSON encoder cost 3.7 µs a row.
_stage_templates: dict[tuple[str, ...], str] = {}
_MAX_TEMPLATES = 256


def stages_json(stages: dict[str, int]) -> str:
    """The stage timings as JSON in whole µs: a number is truncated to an integer; anything
    else (text, NaN, infinity) is dropped, not the row."""
    template = _stage_templates.get(tuple(stages))
    if template is not None:
        try:
            return template % tuple(stages.values())
        except (TypeError, ValueError, OverflowError):
            pass
    whole = {key: int(number) for key, number in _finite_numbers(stages).items()}
    if whole and len(whole) == len(stages) and len(_stage_templates) < _MAX_TEMPLATES:
        # Known-safe names only: a name JSON would escape never becomes part of a template.
        names = tuple(stages)
        if all(type(name) is str and _json(name) == f'"{name}"' and "%" not in name for name in names):
            _stage_templates[names] = "{" + ",".join(f'"{name}":%d' for name in names) + "}"
    return _json(whole)


def _finite_numbers(stages: dict[str, Any]) -> dict[str, float]:
    clean: dict[str, float] = {}
    for key, value in stages.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            clean[str(key)] = number
    return clean


def _clip(column: tuple[str, ...], size: int) -> Sequence[str]:
    return column if max(map(len, column)) <= size else [value[:size] for value in column]


def _stored_text(text: str) -> str:
    # PostgreSQL text cannot hold NUL; nothing a user typed needs it.
    return mask_personal_data(text)[:MAX_TEXT].replace("\x00", "") if text else ""


class RowMaker:
    """Builds rows with one HMAC key, keeping recent users' pseudonyms."""

    CACHE_SIZE = 65_536

    def __init__(self, key: bytes) -> None:
        self._hash = Pseudonymiser(key)
        self._cache: dict[str, str] = {}

    def pseudonym(self, value: str) -> str:
        """`app.turnlog.privacy.pseudonym(key, value)`, remembered for recent values."""
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        digest = self._hash(value)
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[value] = digest
        return digest

    def rows(self, records: Sequence[Wire]) -> list[Row]:
        """The rows of decoded records (no erasures), a column at a time."""
        if not records:
            return []
        record_ids, times, fields = zip(*records, strict=True)
        (account, openid, msg_type, dedup_key, text, route, reply_type, reply_bytes, latency_ms, stages,
         outcome, is_retry, consultation_id, turn_index, faq_id, score, flow_id, step, resolved,
         satisfaction, late_detail, event) = zip(*fields, strict=True)
        cached = list(map(self._cache.get, openid))
        users: list[str] = list(map(self.pseudonym, openid)) if None in cached else cached  # type: ignore[assignment]
        return list(zip(
            record_ids, map(utc_text, times), _clip(account, 64), users, _clip(consultation_id, 64), turn_index,
            _clip(msg_type, 32), _clip(event, 64), list(map(self._dedup_key, dedup_key, openid, users)), is_retry,
            list(map(_stored_text, text)), _clip(route, 32), _clip(faq_id, 128), score, _clip(flow_id, 128),
            _clip(step, 128), _clip(reply_type, 32), reply_bytes, latency_ms, list(map(stages_json, stages)),
            _clip(outcome, 16), _clip(late_detail, 128), resolved, _clip(satisfaction, 16), strict=True,
        ))

    def _dedup_key(self, dedup: str, openid: str, user_id: str) -> str:
        if not dedup:
            return ""
        # Dedup keys start with the OpenID (FromUserName:MsgId…): keep the rest, which ties
        # retries to their first delivery, behind the pseudonym instead.
        if openid and dedup.startswith(openid):
            return (user_id[:16] + dedup[len(openid):])[:200]
        return self.pseudonym(dedup)[:40]


# --- other shapes of a row -------------------------------------------------------------------


def to_row(record_id: str, record: TurnRecord, key: bytes) -> dict[str, Any]:
    """One record as a column → value mapping (tests and tools; the writer uses `RowMaker`)."""
    return as_dict(RowMaker(key).rows([decode(encode_record(record_id, record))])[0])


def as_dict(row: Row) -> dict[str, Any]:
    """A row as Python values: `received_at` an aware datetime, `stages` a dict."""
    values = dict(zip(COLUMNS, row, strict=True))
    values["received_at"] = time_from_text(row[RECEIVED_AT])
    values["stages"] = json.loads(row[STAGES])
    return values


def from_dict(values: dict[str, Any]) -> Row:
    return normalise([values[c] for c in COLUMNS])


def normalise(values: Sequence[Any]) -> Row:
    """A row from a mapping, a spool file or an older version's spool file, in the stored form."""
    row = list(values)
    received = row[RECEIVED_AT]
    if isinstance(received, datetime):
        row[RECEIVED_AT] = time_text(received)
    elif len(received) != 26 or received[10] != " ":
        # Spooled by an earlier version: an ISO time with its offset, stage timings in ms.
        row[RECEIVED_AT] = time_text(datetime.fromisoformat(received))
        row[STAGES] = {key: ms * 1000 for key, ms in _finite_numbers(row[STAGES]).items()}
    if not isinstance(row[STAGES], str):
        row[STAGES] = stages_json(row[STAGES])
    return tuple(row)
