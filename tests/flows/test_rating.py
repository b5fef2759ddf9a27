"""好差评: five levels read the way citizens say them; the rate is the top two."""

from __future__ import annotations

import pytest

from flows import rating


@pytest.mark.parametrize(
    ("said", "level"),
    [
        ("1", "非常满意"), ("5", "非常不满意"), ("很满意！", "非常满意"), ("满意", "满意"), ("还不错", "满意"),
        ("一般", "基本满意"), ("不太满意", "不满意"), ("非常不满意", "非常不满意"), ("很差", "非常不满意"),
        ("6", ""), ("我想问一下社保卡的事情，办得还不错吧我觉得", ""),
        # 不好意思 is no 不好, and asking to change what was done is no rating.
        ("不好意思", ""), ("不好意思那天下午有事，换成上午", ""), ("不好", "不满意"),
    ],
)
def test_levels_are_read_from_short_replies(said: str, level: str) -> None:
    assert rating.parse(said) == level


def test_the_rate_is_the_share_of_the_top_two_levels() -> None:
    assert rating.satisfied_share({"非常满意": 6, "满意": 3, "基本满意": 1}) == 0.9
    assert rating.satisfied_share({}) is None


def test_the_prompt_names_all_five_levels() -> None:
    assert all(level in rating.PROMPT for level in rating.LEVELS)
