"""FAQ answers that describe a flow's rules, checked against the flow: one source of truth.

A flow names the FAQ entries that describe its rules (`faq:` in its YAML, e.g. 「怎么预约去大厅
办事」 for booking). Their text is read for the rules a machine can see and compared with the
flow definition; `wxbot flows check` reports each contradiction and fails:

- the booking window: 「可预约未来 7 个工作日」 while the date slot allows `max_days` days;
- open weekdays: an answer offering 周六/周日 service while the date slot takes working days only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flows.schema import Flow

_SENTENCE = re.compile(r"[^。；;\n]+")
_WINDOW = re.compile(r"(\d+)\s*(?:个)?(工作日|天|日)")
_WEEKEND = re.compile(r"周六|周日|星期六|星期日|星期天|周末|双休日")
_OPEN = re.compile(r"预约|办理|上班|开放|开门|服务|办公|受理")
_CLOSED = re.compile(r"休息|不办|不对外|不开放|不受理|除外|关闭|暂停|不上班|不能")


def contradictions(flow: Flow, answers: Mapping[str, str]) -> list[str]:
    """Every contradiction between `flow` and the answers of the entries it names, in words."""
    found: list[str] = []
    dates = [(name, slot) for name, slot in flow.slots.items() if slot.type == "date"]
    for faq_id in flow.faq:
        text = answers.get(faq_id)
        if text is None:
            found.append(f"faq: entry {faq_id!r} is not in the knowledge base")
            continue
        for name, slot in dates:
            for sentence in _SENTENCE.findall(text):
                if "预约" in sentence:
                    for m in _WINDOW.finditer(sentence):
                        days, unit = int(m[1]), m[2]
                        if days > 1 and (unit == "工作日" or days != slot.max_days):
                            found.append(
                                f"faq {faq_id}: 「{m[0]}」 but slot {name!r} allows {slot.max_days} calendar days"
                                " (max_days)"
                            )
                weekend = _WEEKEND.search(sentence) and _OPEN.search(sentence) and not _CLOSED.search(sentence)
                if slot.working_day and weekend:
                    found.append(
                        f"faq {faq_id}: 「{sentence.strip()[:30]}」 offers a weekend, but slot {name!r}"
                        " takes working days only (working_day)"
                    )
    return found
