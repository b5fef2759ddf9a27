from __future__ import annotations

import hashlib
import hmac
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.turnlog.privacy import (
    CARD_MASK,
    ID_MASK,
    MOBILE_MASK,
    PSEUDONYM_HEX,
    mask_personal_data,
    pseudonym,
)
from app.turnlog.rows import RowMaker


def test_resident_id_numbers_are_masked() -> None:
    assert mask_personal_data("身份证110101199003071234") == f"身份证{ID_MASK}"
    assert mask_personal_data("号码11010119900307123X。") == f"号码{ID_MASK}。"


def test_first_generation_15_digit_ids_are_masked() -> None:
    assert mask_personal_data("旧证110101900307123") == f"旧证{ID_MASK}"


def test_mobile_numbers_are_masked_in_common_spellings() -> None:
    for phone in ("13812345678", "138 1234 5678", "138-1234-5678", "+86 13812345678", "8613812345678"):
        assert mask_personal_data(f"电话{phone}谢谢") == f"电话{MOBILE_MASK}谢谢", phone


def test_full_width_digits_are_masked_too() -> None:
    assert mask_personal_data("手机１３８１２３４５６７８") == f"手机{MOBILE_MASK}"


def test_numbers_said_in_chinese_digits_are_masked_too() -> None:
    assert mask_personal_data("手机是一三八一二三四五六七八") == f"手机是{MOBILE_MASK}"
    assert mask_personal_data("身份证一一零一零一一九九零零三零七一二三四") == f"身份证{ID_MASK}"
    assert mask_personal_data("三三两两来了一二个人") == "三三两两来了一二个人"


def test_bank_card_numbers_are_masked_bare_or_grouped() -> None:
    assert mask_personal_data("卡号6222021234567890123") == f"卡号{CARD_MASK}"
    assert mask_personal_data("卡号 6222 0212 3456 7890 请查") == f"卡号 {CARD_MASK} 请查"


def test_ordinary_numbers_stay_readable() -> None:
    text = "工单20261126-0012，明天9点，办件号123456，2026-11-26 12:00"
    assert mask_personal_data(text) == text


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
chinese = st.text(alphabet="我的号码是请帮忙查一下谢谢，。？ ", max_size=12)


# Timing varies on a shared CI machine; the property is what matters.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=chinese, suffix=chinese, body=st.from_regex(re.compile(r"[1-9][0-9]{16}[0-9X]"), fullmatch=True))
def test_no_resident_id_survives_masking(prefix: str, suffix: str, body: str) -> None:
    assert body not in mask_personal_data(prefix + body + suffix)


# Timing varies on a shared CI machine; the property is what matters.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=chinese, suffix=chinese, body=st.from_regex(re.compile(r"1[3-9][0-9]{9}"), fullmatch=True))
def test_no_mobile_number_survives_masking(prefix: str, suffix: str, body: str) -> None:
    assert body not in mask_personal_data(prefix + body + suffix)


# Timing varies on a shared CI machine; the property is what matters.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=chinese, suffix=chinese, body=st.from_regex(re.compile(r"[3-6][0-9]{15,18}"), fullmatch=True))
def test_no_card_number_survives_masking(prefix: str, suffix: str, body: str) -> None:
    masked = mask_personal_data(prefix + body + suffix)
    assert body not in masked
    assert not re.search(r"[0-9]{11,}", masked)


def test_pseudonym_is_the_standard_hmac_sha256_for_keys_of_any_length() -> None:
    for key in (b"", b"k", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(256))):
        for value in ("o1", "", "oAbCdEfGhIjKlMnOpQrStUvWxYz0", "用户", "x" * 300):
            standard = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
            assert pseudonym(key, value) == RowMaker(key).pseudonym(value) == standard, (key, value)


def test_pseudonym_is_stable_for_one_key() -> None:
    assert pseudonym(b"k", "oABC") == pseudonym(b"k", "oABC")


def test_pseudonym_depends_on_the_key_and_hides_the_openid() -> None:
    assert pseudonym(b"k1", "oABC") != pseudonym(b"k2", "oABC")
    assert "oABC" not in pseudonym(b"k1", "oABC")


# --- issue 15: separators users type between digit groups ---------------------------------------


def test_numbers_written_with_dots_underscores_or_odd_grouping_are_masked() -> None:
    cases = {
        "138.1234.5678": MOBILE_MASK,
        "1381 234 5678": MOBILE_MASK,
        "6222.0212.3456.7890": CARD_MASK,
        "6222_0212_3456_7890": CARD_MASK,
        "110105.19900307.1234": ID_MASK,
        "110105 1990 0307 123X": ID_MASK,
        "138／1234／5678": MOBILE_MASK,
    }
    for written, mask in cases.items():
        assert mask_personal_data(f"我的号码是{written}，谢谢") == f"我的号码是{mask}，谢谢", written


def test_two_numbers_side_by_side_are_both_masked() -> None:
    masked = mask_personal_data("电话13812345678 身份证110105199003071234")
    assert masked == f"电话{MOBILE_MASK} 身份证{ID_MASK}"
    assert mask_personal_data("13812345678 110105199003071234") == f"{MOBILE_MASK} {ID_MASK}"


def test_dates_times_and_ticket_numbers_written_with_dots_stay_readable() -> None:
    text = "2026.11.26 上午9.30，工单20261126-0012，第3.2条，12_000元"
    assert mask_personal_data(text) == text


SEPARATORS = [" ", ".", "-", "_", "/", "·", "　", "．", "－", "  ", ". "]


def _with_separators(draw: st.DrawFn, number: str) -> str:
    out = [number[0]]
    for digit in number[1:]:
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(SEPARATORS)))
        out.append(digit)
    return "".join(out)


@st.composite
def separated(draw: st.DrawFn, pattern: str) -> tuple[str, str]:
    number = draw(st.from_regex(re.compile(pattern), fullmatch=True))
    return number, _with_separators(draw, number)


def _digits(text: str) -> str:
    return re.sub(r"[^0-9Xx]", "", text.translate(str.maketrans("０１２３４５６７８９", "0123456789")))


# Timing varies on a shared CI machine; the property is what matters.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=chinese, suffix=chinese, number=separated(r"1[3-9][0-9]{9}"))
def test_no_mobile_number_survives_whatever_separates_its_digits(
    prefix: str, suffix: str, number: tuple[str, str]
) -> None:
    plain, written = number
    assert plain not in _digits(mask_personal_data(prefix + written + suffix))


# Timing varies on a shared CI machine; the property is what matters.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=chinese, suffix=chinese, number=separated(r"[1-9][0-9]{16}[0-9X]"))
def test_no_resident_id_survives_whatever_separates_its_digits(
    prefix: str, suffix: str, number: tuple[str, str]
) -> None:
    plain, written = number
    assert plain not in _digits(mask_personal_data(prefix + written + suffix))


# Timing varies on a shared CI machine; the property is what matters.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=chinese, suffix=chinese, number=separated(r"[3-6][0-9]{15,18}"))
def test_no_card_number_survives_whatever_separates_its_digits(
    prefix: str, suffix: str, number: tuple[str, str]
) -> None:
    plain, written = number
    assert plain not in _digits(mask_personal_data(prefix + written + suffix))
