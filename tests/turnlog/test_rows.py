from __future__ import annotations

import math
import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta

from app.turnlog.privacy import pseudonym
from app.turnlog.record import TurnRecord
from app.turnlog.rows import (
    COLUMNS,
    WIRE_FIELDS,
    RowMaker,
    as_dict,
    decode,
    encode_record,
    normalise,
    time_text,
    to_row,
    utc_text,
)
from tests.turnlog.records import T0, record

KEY = b"test-key"


def test_row_keeps_no_raw_openid_anywhere() -> None:
    row = to_row("r1", record(openid="oRAW123", dedup_key="oRAW123:555"), KEY)
    assert all("oRAW123" not in str(value) for value in row.values())
    assert row["user_id"] == pseudonym(KEY, "oRAW123")


def test_row_text_is_masked() -> None:
    row = to_row("r1", record(text="我的手机13812345678"), KEY)
    assert "13812345678" not in row["text"]


def test_retries_share_the_hashed_dedup_key_of_their_first_delivery() -> None:
    first = to_row("r1", record(dedup_key="o1:9"), KEY)
    retry = to_row("r2", record(dedup_key="o1:9", is_retry=True, route="duplicate"), KEY)
    assert first["dedup_key"] == retry["dedup_key"] != ""
    assert retry["is_retry"] is True


def test_naive_received_at_is_taken_as_utc() -> None:
    row = to_row("r1", record(received_at=T0.replace(tzinfo=None)), KEY)
    assert row["received_at"] == T0


def test_long_values_are_clipped_to_their_columns() -> None:
    row = to_row("r1", record(text="长" * 5000, faq_id="x" * 500), KEY)
    assert len(row["text"]) == 2000
    assert len(row["faq_id"]) == 128


def test_json_round_trip_preserves_the_row() -> None:
    (row,) = RowMaker(KEY).rows([decode(encode_record("r1", record()))])
    assert normalise(list(row)) == row
    assert as_dict(row)["received_at"] == T0


def test_a_row_spooled_by_the_previous_version_is_read_in_the_stored_form() -> None:
    (row,) = RowMaker(KEY).rows([decode(encode_record("r1", record(stages={"handle": 12500})))])
    legacy = list(row)
    legacy[COLUMNS.index("received_at")] = T0.isoformat()
    legacy[COLUMNS.index("stages")] = {"handle": 12.5}  # it kept milliseconds
    assert normalise(legacy) == row


def test_every_record_field_crosses_the_wire() -> None:
    assert sorted(WIRE_FIELDS) == sorted(f.name for f in fields(TurnRecord) if f.name != "received_at")


def test_stored_time_text_rounds_as_datetime_does() -> None:
    rng = random.Random(7)
    stamps = [rng.uniform(-1e9, 4e9) for _ in range(20_000)] + [1.9999995, 1.0000005, -0.5000005, 0.0]
    for stamp in stamps:
        assert utc_text(stamp) == time_text(datetime.fromtimestamp(stamp, UTC)), stamp
    assert utc_text(math.ldexp(1, 31)) == "2038-01-19 03:14:08.000000"


def test_a_batch_is_made_column_by_column_like_one_record_at_a_time() -> None:
    batch = [record(n, openid=f"o{n % 3}", text="手机13812345678" if n % 2 else "", faq_id="f" * (100 + n * 10),
                    received_at=T0 + timedelta(microseconds=n)) for n in range(6)]
    together = RowMaker(KEY).rows([decode(encode_record(f"r{n}", r)) for n, r in enumerate(batch)])
    assert [as_dict(row) for row in together] == [to_row(f"r{n}", r, KEY) for n, r in enumerate(batch)]
    assert [len(as_dict(row)["faq_id"]) for row in together] == [100, 110, 120, 128, 128, 128]


def test_cached_pseudonyms_equal_fresh_ones() -> None:
    maker = RowMaker(KEY)
    assert maker.pseudonym("o1") == maker.pseudonym("o1") == pseudonym(KEY, "o1")



def test_dedup_key_keeps_the_message_part_behind_the_pseudonym() -> None:
    row = to_row("r1", record(openid="oABC", dedup_key="oABC:123456"), KEY)
    assert row["dedup_key"] == pseudonym(KEY, "oABC")[:16] + ":123456"
