"""`flows.utterance.understand` remembers recent readings: the same value as reading afresh, bounded,
and never one object shared by two turns, but for the slot readings, which no turn changes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from flows import calendar, slots, utterance
from flows.registry import FlowRegistry
from flows.utterance import READ_CACHE_MAX_CHARS, READ_CACHE_SIZE, fold, understand

TODAY = date(2026, 11, 26)
TEXTS = [
    "預約下週三上午辦理護照", "手机是幺三八一二三四五六七八", "好的谢谢", "2", "第二个", "我要投诉",
    "明天或者后天可以吗", "社保卡丢了怎么补办", "先核对一下", "补充一下，地址是人民路1号", "😀", "",
    "ＳＱ２０２６１１２００００１２３", "方便不方便", "收到收到",
]


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    utterance._remembered.cache_clear()


@pytest.mark.parametrize("text", TEXTS)
def test_a_remembered_reading_equals_reading_afresh(text: str) -> None:
    for today in (TODAY, TODAY + timedelta(days=3)):
        first, again = understand(text, today), understand(text, today)
        assert first == utterance._understand(text, today)
        assert again == first
    assert utterance._remembered.cache_info().hits >= 2


def test_the_day_is_part_of_what_is_remembered() -> None:
    assert understand("明天", TODAY).dates[0].value == TODAY + timedelta(days=1)
    assert understand("明天", TODAY + timedelta(days=1)).dates[0].value == TODAY + timedelta(days=2)


def test_two_turns_with_the_same_text_share_nothing_they_can_change() -> None:
    first = understand("我想预约明天下午办护照", TODAY)
    first.intents.append(object())  # type: ignore[arg-type]
    first.dates.clear()
    second = understand("我想预约明天下午办护照", TODAY)
    assert second is not first
    assert second.intents == []
    assert [d.value for d in second.dates] == [TODAY + timedelta(days=1)]


def test_a_slot_reading_is_made_once_for_every_turn_with_the_text(registry: FlowRegistry) -> None:
    flow = registry.current("booking")
    assert flow is not None
    text = "我想预约明天下午办护照"
    first = understand(text, TODAY).reading(flow)
    again = understand(text, TODAY).reading(flow)
    assert again is first
    assert again == slots.extract(flow.slots, list(flow.slots), fold(text), TODAY, (), utterance.noise(flow))


def test_another_flow_of_the_same_id_and_version_is_read_for_itself(registry: FlowRegistry) -> None:
    # Another account's booking flow, or the flows reloaded without a new version: its own slots.
    flow = registry.current("booking")
    assert flow is not None
    said = "我想预约明天下午办护照"
    mine = understand(said, TODAY).reading(flow)
    other = flow.model_copy(deep=True)
    assert (other.id, other.version) == (flow.id, flow.version)
    theirs = understand(said, TODAY).reading(other)
    assert theirs is not mine and theirs == mine
    assert understand(said, TODAY).reading(flow) is mine


def test_a_reading_made_against_another_calendar_is_made_again(
    registry: FlowRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = registry.current("booking")
    assert flow is not None
    first = understand("明天下午", TODAY).reading(flow)
    monkeypatch.setattr(calendar, "_active", calendar.load_calendar(calendar.SHIPPED))
    again = understand("明天下午", TODAY).reading(flow)
    assert again is not first and again == first


def test_the_cache_is_bounded_and_long_texts_are_not_kept() -> None:
    for n in range(READ_CACHE_SIZE + 50):
        understand(f"问题{n}", TODAY)
    assert utterance._remembered.cache_info().currsize == READ_CACHE_SIZE
    utterance._remembered.cache_clear()
    long_text = "我要投诉" * (READ_CACHE_MAX_CHARS // 4 + 1)
    said = understand(long_text, TODAY)
    assert said.text == long_text
    assert utterance._remembered.cache_info().currsize == 0
