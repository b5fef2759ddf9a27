"""What one message does to a flow's slots: the `Utterance`'s values applied to the state.

The values were found once, when the message was read (`flows.utterance`); this module decides
which of them the state takes: an empty slot takes any value; a filled one changes on a
correction (「不对，改成后天」, 「日期改成12月3日」, anything at the confirmation) and, for the
facts citizens restate to change them (a date, a half-day, a mobile), whenever a statement gives
a new one (「12月31号下午」 after 「下周二上午」).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from flows import dates
from flows import slots as parsers
from flows.schema import Flow
from flows.state import FlowState
from flows.utterance import Utterance

# Restated without 改 to change them: a new day or half-day is the citizen changing their mind.
RESTATED_TO_CHANGE = frozenset({"date", "period", "mobile"})


@dataclass(slots=True)
class Reading:
    """What one message did to the slots."""

    filled: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # Values the message gave again, unchanged (「SQ2026…」 re-sent to look it up once more).
    restated: list[str] = field(default_factory=list)
    # Slot → why what the user wrote for it cannot be accepted.
    invalid: dict[str, str] = field(default_factory=dict)

    @property
    def took(self) -> bool:
        return bool(self.filled or self.changed)


def read(flow: Flow, state: FlowState, said: Utterance, *, correcting: bool, question: bool = False) -> Reading:
    """Apply what `said` gives `flow` to `state` (its slots are changed in place)."""
    focus = tuple(n for n in state.awaiting if n in flow.slots)
    found = _in_the_week_named(flow, state, said, said.reading(flow, focus, residual=not question))
    targeted = {**said.correction(flow), **_tail_corrected(flow, state, said)}
    reading = Reading()
    cue = correcting or bool(parsers.CORRECTION_CUE.search(said.text))
    if said.check_first:
        state.check = True
    for name, hit in {**found.found, **targeted}.items():
        old = state.slots.get(name)
        if old is None:
            state.slots[name] = hit.value
            reading.filled.append(name)
            _note_doubt(flow, state, said, name, hit, implicit=False)
        elif old == hit.value:
            reading.restated.append(name)
            if not hit.doubt:
                # Said again plainly: no longer a guess.
                state.unsure.pop(name, None)
        elif cue or name in targeted or (not question and flow.slots[name].type in RESTATED_TO_CHANGE):
            state.slots[name] = hit.value
            reading.changed.append(name)
            _note_doubt(flow, state, said, name, hit, implicit=not (cue or name in targeted))
    taken = {*reading.filled, *reading.changed}
    reading.invalid = {n: msg for n, msg in found.invalid.items() if n not in taken}
    return reading


# 「手机号最后两位是21 不是12」「电话尾号是8」: the end of a number held, said again.
_TAIL = re.compile(
    r"(?:(?:最后|末)的?\s*(?P<n>[一二两三四1-4])\s*位(?:数字)?|尾号)\s*(?:应该|应)?是?\s*(?P<d>\d{1,4})(?![\d月号日.:：])"
)


def _tail_corrected(flow: Flow, state: FlowState, said: Utterance) -> dict[str, parsers.Found]:
    """The mobile held with its last digits replaced, when the message says what they should be."""
    m = _TAIL.search(said.text)
    held = [n for n, slot in flow.slots.items() if slot.type == "mobile" and n in state.slots]
    if m is None or len(held) != 1:
        return {}
    digits = m["d"]
    count = dates.chinese_number(m["n"]) if m["n"] else len(digits)
    old = state.slots[held[0]]
    if count != len(digits) or count >= len(old):
        return {}
    return {held[0]: parsers.Found(old[:-count] + digits, m.start(), m.end())}


def _in_the_week_named(flow: Flow, state: FlowState, said: Utterance, found: parsers.Extraction) -> parsers.Extraction:
    """`found`, with a bare weekday read in the week named earlier (「下礼拜」 then 「周二吧」).

    A message naming a week without its day, or a weekday with its week (「下周二」), is
    remembered (`FlowState.week`); the reading of a later bare weekday is made again as that
    week's day, with the same checks (a weekend, the booking window). `found` is the message's
    own reading, shared: a changed copy is returned.
    """
    dated = [n for n, slot in flow.slots.items() if slot.type == "date"]
    if len(dated) != 1:
        return found
    name = dated[0]
    week = dates.week_named(said.text)
    if week is not None and name not in found.found and name not in found.invalid:
        state.week = week
        return found
    hit = found.found.get(name)
    said_day = said.text[hit.start : hit.end] if hit is not None else ""
    week_of_day = dates.week_of(said_day)
    if week_of_day is not None:
        # 「下周二」: the week is remembered for a bare weekday said later (「改到周四」).
        state.week = week_of_day
        return found
    if state.week is None or hit is None or not dates.bare_weekday(said_day):
        return found
    again = parsers.extract(flow.slots, [name], dates.WEEK_WORDS[state.week] + said_day, said.today, [name])
    result = parsers.Extraction(dict(found.found), dict(found.invalid))
    del result.found[name]
    if name in again.found:
        result.found[name] = replace(again.found[name], start=hit.start, end=hit.end)
    elif name in again.invalid:
        result.invalid[name] = again.invalid[name]
    return result


def _note_doubt(
    flow: Flow, state: FlowState, said: Utterance, name: str, hit: parsers.Found, *, implicit: bool
) -> None:
    """Keep in `state.unsure` why a value just taken is a guess, or forget an older doubt.

    A value is a guess when the parser inferred it (`Found.doubt`: a homophone, part of an
    option's words, an ambiguous week or month, a rare name), when the message named several days
    and one was taken, or when it replaced an earlier value without the citizen saying it was a
    change (「12月31号下午」 after 「下周二上午」: a new plan, or a second date for something else?).
    """
    several = flow.slots[name].type == "date" and said.several_days
    reason = hit.doubt or ("several" if several else "") or ("implicit" if implicit else "")
    if reason:
        state.unsure[name] = reason
    else:
        state.unsure.pop(name, None)


def bare_name(flow: Flow, state: FlowState, said: Utterance) -> Reading:
    """At the confirmation, a reply that is only a name corrects the flow's one name slot.

    「王建国」 after 「姓名：王先生」 is the citizen giving their full name, not a bad phone number.
    """
    names = tuple(n for n, slot in flow.slots.items() if slot.type == "name")
    reading = Reading()
    if len(names) != 1 or said.question:
        return reading
    name = names[0]
    hit = said.reading(flow, names, names=names).found.get(name)
    # 「名字写错了」 says what is wrong, not what is right: no surname first, so nothing is taken
    # and the engine asks for the new value; 「不对，是刘德明」 is taken.
    if hit is None or state.slots.get(name) == hit.value or not parsers.looks_like_name(hit.value):
        return reading
    # Only a name, perhaps with the words of a correction around it (「不对，是王建国」).
    core = re.sub(r"[\s，,。.!！、]|^(?:是|叫|应该是)", "", parsers.CORRECTION_CUE.sub("", said.command))
    if len(hit.value) < len(core) - 2:
        return reading
    (reading.changed if name in state.slots else reading.filled).append(name)
    state.slots[name] = hit.value
    # Typed as the whole reply after seeing the read-back: plainly said.
    state.unsure.pop(name, None)
    return reading
