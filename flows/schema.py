"""The flow file format: what a `flows/*.yaml` file may say, as pydantic models.

A flow is a transition table: named steps, the slots each step asks for, where each goes next
(optionally branching on slot values), an optional confirmation, a completion (reply + action)
and an optional satisfaction question. Unknown keys are rejected so a typo is an error, not a
silently ignored setting. Cross-references (slots named in steps, templates and conditions,
reachable steps) are checked in `flows.check`, which reports them with file:line.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows import rating

SlotType = Literal["choice", "date", "period", "mobile", "id_number", "name", "number", "text", "regex"]

# Targets a step's `next` may name besides another step.
DONE = "done"
# Step ids the engine uses for its own states; flows may not define steps with these ids.
CONFIRM_STEP = "confirm"
# The completion action failed (ticket store or backend down): every fact is kept and 「确认」 runs
# the action again, whether or not the flow has a confirmation of its own.
RETRY_STEP = "retry"
SATISFACTION_STEP = "satisfaction"
RESERVED_STEPS = frozenset({DONE, CONFIRM_STEP, RETRY_STEP, SATISFACTION_STEP})

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(Strict):
    value: str
    synonyms: list[str] = Field(default_factory=list)


class Elsewhere(Strict):
    """Businesses a choice does not offer, and where they are done instead."""

    words: list[str] = Field(min_length=1)
    # Said plainly, e.g. 「驾驶证业务请通过「交管12123」App 预约，或到车管所办理。」
    say: str
    # The words name what only that office does (起诉, 立案): said beside an offered
    # business (「对方不同意离婚 我要起诉」 names 离婚), it is still that office's business.
    only: bool = False


class Slot(Strict):
    type: SlotType
    label: str
    prompt: str
    # Said when an answer cannot be understood; a per-type default is used when empty.
    error: str = ""
    # A short example shown when several slots are asked together, e.g. 「明天」「12月3日」.
    hint: str = ""
    max_attempts: int = Field(default=3, ge=1, le=10)
    # Optional slots are filled whenever the user gives them, and only mentioned alongside
    # required ones — never asked on their own, so they never cost an interaction.
    required: bool = True
    # Whether every message (not only answers to this slot's question) is searched for it.
    # None: the type's default (pattern-like types yes; number and free text no).
    scan: bool | None = None
    # Said when the citizen says they do not know or cannot find the answer (「不知道编号」):
    # where it is printed, or another way to go on. No attempt is counted.
    unknown: str = ""
    # choice
    options: list[Option] = Field(default_factory=list)
    # choice: what is not offered and where it is done (checked before the options fail).
    elsewhere: list[Elsewhere] = Field(default_factory=list)
    # choice: said when the answer to this question alone names nothing offered; {said} is the
    # citizen's words. The options are listed after it.
    not_offered: str = ""
    # choice: the option that takes the citizen's own words when nothing else fits (「其他」);
    # the value kept is 「其他（<their words>）」.
    other: str = ""
    # choice: the option taken, instead of asking, once everything else the step asks is given
    # and the citizen's words named none (a complaint told in full but fitting no category is
    # filed under 其他 for staff to sort; the citizen is not made to classify it).
    otherwise: str = ""
    # date
    working_day: bool = False
    min_days: int = 0
    max_days: int = 366
    # regex (the value must match in full); text (extraction patterns with a `value` group)
    pattern: str = ""
    patterns: list[str] = Field(default_factory=list)
    # regex: a resident ID number (18 characters whose check digit is right) is not this slot's
    # value, though the pattern takes it: a receipt number may be 18 digits too, and only the
    # check digit tells them apart (which a pattern cannot compute).
    not_id_number: bool = False
    # number
    minimum: float | None = None
    maximum: float | None = None
    # text
    min_length: int = Field(default=1, ge=1)
    max_length: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _type_fields(self) -> Slot:
        if self.type == "choice" and not self.options:
            raise ValueError("a choice slot needs options")
        if self.type != "choice" and (
            self.options or self.elsewhere or self.not_offered or self.other or self.otherwise
        ):
            raise ValueError(
                f"options, elsewhere, not_offered, other and otherwise are only for choice slots, not {self.type}"
            )
        for name, value in (("other", self.other), ("otherwise", self.otherwise)):
            if value and value not in [opt.value for opt in self.options]:
                raise ValueError(f"{name}: {value!r} is not one of the options")
        if self.type == "regex" and not self.pattern:
            raise ValueError("a regex slot needs a pattern")
        for expr in [self.pattern, *self.patterns]:
            if expr:
                try:
                    compiled = re.compile(expr)
                except re.error as exc:
                    raise ValueError(f"bad regular expression {expr!r}: {exc}") from exc
                if expr in self.patterns and "value" not in compiled.groupindex:
                    raise ValueError(f"extraction pattern {expr!r} needs a (?P<value>…) group")
        if self.min_days > self.max_days:
            raise ValueError("min_days is after max_days")
        return self

    @property
    def scans(self) -> bool:
        if self.scan is not None:
            return self.scan
        return self.type not in ("number", "text") or bool(self.patterns)


class Condition(Strict):
    slot: str
    # Exactly one of these.
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    filled: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [t for t in (self.equals, self.in_, self.filled) if t is not None]
        if len(tests) != 1:
            raise ValueError("a condition needs exactly one of equals, in, filled")
        return self

    def holds(self, slots: dict[str, str]) -> bool:
        value = slots.get(self.slot)
        if self.filled is not None:
            return (value is not None) == self.filled
        if self.equals is not None:
            return value == self.equals
        return value in (self.in_ or [])


# One condition, or several that must all hold.
When = Condition | list[Condition] | None


def holds(when: When, slots: dict[str, str]) -> bool:
    if when is None:
        return True
    if isinstance(when, Condition):
        return when.holds(slots)
    return all(c.holds(slots) for c in when)


class Branch(Strict):
    when: When = None
    goto: str


class Step(Strict):
    id: str
    # Slots this step collects; all of its missing ones are asked together in one message.
    ask: list[str] = Field(default_factory=list)
    # Shown once when the step is entered (template).
    say: str = ""
    # A step id, `done`, or branches tried in order (the last one usually has no `when`).
    next: str | list[Branch] = DONE

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("step ids are lower-case letters, digits and _")
        if value in RESERVED_STEPS:
            raise ValueError(f"{value!r} is reserved for the engine")
        return value


class Grievance(Strict):
    about: list[str] = Field(min_length=1)
    bad: list[str] = Field(min_length=1)


class Triggers(Strict):
    # Phrases matched against the user's message by the FAQ phrase index.
    phrases: list[str] = Field(default_factory=list)
    # Action words: a message containing one starts the flow. "A+B" needs both A and B; "A…B"
    # needs B within a few characters after A. Matched tolerant of one IME homophone (预越 → 预约),
    # except "A…B" and "=A" (exactly A: 「=约个」, since 「要个」 sounds the same).
    keywords: list[str] = Field(default_factory=list)
    # Topic words (the business, not the action): they start the flow only when no other flow's
    # action word is in the message — 「预约去大厅办营业执照」 is a booking, not licence guidance.
    topics: list[str] = Field(default_factory=list)
    # Citizens' own phrasings, matched like `phrases` (whole-message similarity); admins add
    # the wordings they see in the unanswered report here.
    examples: list[str] = Field(default_factory=list)
    # A message containing one of these is not for this flow (「营业执照丢了」 is not a new licence).
    exclude: list[str] = Field(default_factory=list)
    # Menu keys (custom-menu click EventKey) that start the flow, e.g. flow:booking.
    menu: list[str] = Field(default_factory=list)
    # Slots that, all given in one message that is not a question, start the flow:
    # [business, date] takes 「下周三下午去办居住证」 as a booking without the word 预约.
    fills: list[str] = Field(default_factory=list)
    # Between action words of several flows in one message, the higher `precedence` wins: a
    # complaint names what it is about (「我想投诉你们的预约系统」 is a complaint, not a booking).
    precedence: int = Field(default=0, ge=0, le=3)
    # A grievance said as a plain statement, without 投诉 (「大厅的空调坏了」「厕所臭得很」):
    # something the flow is about and a bad state of it, anywhere in the message; a topic.
    grievance: Grievance | None = None
    # Words that, in a message the FAQ answers, make the answer offer this flow: 「社保卡丢了 咋整
    # 想去大厅补办」 gets how to replace the card, and the booking offered after it.
    offer_when: list[str] = Field(default_factory=list)



# When a flow's action waits for 「确认」 (issue 13):
# - always: every time (an action that cannot be taken back in the chat);
# - when_uncertain: only when a value was inferred rather than stated or the citizen asked to
#   check (`FlowState.unsure`, docs/ARCHITECTURE.md); otherwise the action runs, the reply reads
#   every value back and says in one line how to change or undo it (`undo`);
# - never: the action always runs at once, read back with `undo`.
ConfirmPolicy = Literal["always", "when_uncertain", "never"]


class Confirm(Strict):
    # The read-back that waits for 「确认」 (templates over the slots).
    prompt: str = ""
    when: ConfirmPolicy = "always"
    # Said after an action that ran without 「确认」: how to change or undo it, in one line.
    undo: str = ""

    @model_validator(mode="after")
    def _texts(self) -> Confirm:
        if self.when != "never" and not self.prompt.strip():
            raise ValueError(f"when: {self.when} needs a prompt (the read-back that waits for 「确认」)")
        if self.when != "always" and not self.undo.strip():
            raise ValueError(f"when: {self.when} needs an undo line (how to change or undo what was done)")
        return self


class Reply(Strict):
    when: When = None
    text: str


class Action(Strict):
    # booking: a ticket holding a seat (the flow's `booking` section says which slots and how many seats).
    type: Literal["none", "ticket", "http", "booking"] = "none"
    endpoint: str = ""
    # Request parameters for `http`; values are templates over the slots.
    params: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _endpoint(self) -> Action:
        if (self.type == "http") != bool(self.endpoint):
            raise ValueError("an http action needs an endpoint, and only an http action has one")
        return self


class Complete(Strict):
    action: Action = Field(default_factory=Action)
    # The first reply whose condition holds is sent; templates use slots and, after an
    # action, {ticket} or {result.<field>}.
    replies: list[Reply]
    # http: the backend answered {"found": false}.
    not_found: str = ""
    # http: the backend was slow ("timeout") or down/broken (anything else).
    timeout: str = ""
    unavailable: str = ""


class Satisfaction(Strict):
    # 好差评: five levels (flows.rating); the two lowest are asked for an optional reason.
    prompt: str = rating.PROMPT
    thanks: str = rating.THANKS
    # Said instead of `thanks` after 不满意 or 非常不满意; the reason given next becomes a ticket.
    sorry: str = rating.ASK_REASON


class BookingSpec(Strict):
    """Seats per business, hall, day and period, and which slots say them (issue 18)."""

    hall: str
    # Where the hall is, and each period's opening hours: said in the reminder the day before
    # (app/reminders.py); empty, the reminder names the hall and the period only.
    address: str = ""
    hours: dict[str, str] = Field(default_factory=dict)
    # Seats per business and half-day, unless `capacity_by_business` names the business.
    capacity: int = Field(default=20, ge=1, le=1000)
    capacity_by_business: dict[str, int] = Field(default_factory=dict)
    business: str = "business"
    date: str = "date"
    period: str = "period"

    def capacity_for(self, business: str) -> int:
        return self.capacity_by_business.get(business, self.capacity)


class Flow(Strict):
    id: str
    title: str
    version: str
    description: str = ""
    # Said when the flow starts and some slots are still missing.
    intro: str = ""
    triggers: Triggers = Field(default_factory=Triggers)
    slots: dict[str, Slot]
    steps: list[Step] = Field(min_length=1)
    confirm: Confirm | None = None
    complete: Complete
    satisfaction: Satisfaction | None = None
    # FAQ entries whose answers describe this flow's rules (booking window, open days):
    # `wxbot flows check` reads them against the flow (flows.consistency).
    faq: list[str] = Field(default_factory=list)
    booking: BookingSpec | None = None

    @model_validator(mode="after")
    def _booking(self) -> Flow:
        if (self.complete.action.type == "booking") != (self.booking is not None):
            raise ValueError("a booking action needs a `booking` section, and only a booking action has one")
        if self.booking is not None:
            wanted = {"business": "choice", "date": "date", "period": "period"}
            for role, kind in wanted.items():
                name = getattr(self.booking, role)
                slot = self.slots.get(name)
                if slot is None or slot.type != kind:
                    raise ValueError(f"booking.{role} must name a {kind} slot, not {name!r}")
        return self

    @field_validator("id")
    @classmethod
    def _flow_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("flow ids are lower-case letters, digits and _")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # `version: 2` in YAML is an int; versions are compared as text.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("slots")
    @classmethod
    def _slot_names(cls, value: dict[str, Slot]) -> dict[str, Slot]:
        for name in value:
            if not _ID.match(name):
                raise ValueError(f"slot name {name!r}: lower-case letters, digits and _")
        return value

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def first_step(self) -> str:
        return self.steps[0].id
