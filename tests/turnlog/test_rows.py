from __future__ import annotations

from datetime import datetime

from app.turnlog.privacy import pseudonym
from app.turnlog.rows import RowMaker, as_dict, row_from_json, row_to_json, to_row
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
    row = RowMaker(KEY)("r1", record())
    back = row_from_json(row_to_json(row))
    assert back == row
    assert isinstance(as_dict(back)["received_at"], datetime)


def test_cached_pseudonyms_equal_fresh_ones() -> None:
    maker = RowMaker(KEY)
    assert maker.pseudonym("o1") == maker.pseudonym("o1") == pseudonym(KEY, "o1")


def test_dedup_key_keeps_the_message_part_behind_the_pseudonym() -> None:
    row = to_row("r1", record(openid="oABC", dedup_key="oABC:123456"), KEY)
    assert row["dedup_key"] == pseudonym(KEY, "oABC")[:16] + ":123456"
