"""Follow-through journeys (issue 18): what citizens do after the bot gave them something.

Each journey in bench/journeys_followthrough.yaml is a short script: `setup` messages that put the
citizen (or other citizens) where the journey starts — a booking made, a complaint filed, a period
filled up — and then the journey's own `turns`, each a message and the words its reply must hold.
Interactions are the journey's turns; setup is not counted. A journey completes when every reply
holds what it must.

Placeholders, so the file is valid whenever it is run: `{new_year}` is next 1 January as
「2027年1月1日」, `{spring_festival}` a statutory 春节 day of next year, `{cn}` a Chinese numeral for
repeated setup citizens (names cannot hold digits), `{i}` their index, and `{name}` anything a
turn's `capture` regex took from an earlier reply (`(?P<number>…)`).

    .venv/bin/python bench/journeys.py --followthrough bench/journeys_followthrough.yaml
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import yaml

from flows.calendar import statutory_holidays

CHINESE = "一二三四五六七八九十"


class Sender(Protocol):
    def say(self, openid: str, text: str) -> str: ...


@dataclass
class Turn:
    say: str
    expect: list[str] = field(default_factory=list)
    capture: str = ""
    # Another citizen (setup only): `{i}` and `{cn}` number them.
    openid: str = ""
    repeat: int = 1


@dataclass
class Script:
    id: str
    kind: str
    setup: list[Turn]
    turns: list[Turn]


@dataclass
class ScriptResult:
    script: Script
    completed: bool = False
    interactions: int = 0
    failure: str = ""
    transcript: list[tuple[str, str]] = field(default_factory=list)


def _turn(raw: dict[str, Any]) -> Turn:
    expect = raw.get("expect", [])
    return Turn(
        say=str(raw["say"]),
        expect=[expect] if isinstance(expect, str) else list(expect),
        capture=str(raw.get("capture", "")),
        openid=str(raw.get("openid", "")),
        repeat=int(raw.get("repeat", 1)),
    )


def load(path: Path) -> list[Script]:
    return [
        Script(
            id=str(raw["id"]), kind=str(raw.get("kind", raw["id"])),
            setup=[_turn(t) for t in raw.get("setup", [])], turns=[_turn(t) for t in raw["turns"]],
        )
        for raw in yaml.safe_load(path.read_text(encoding="utf-8"))
    ]


def placeholders(today: date) -> dict[str, str]:
    year = today.year + 1
    spring = min(d for d, name in statutory_holidays(year).items() if name == "春节")
    # 初一, the day after 除夕: the day citizens mean by 春节.
    spring = spring.fromordinal(spring.toordinal() + 1)
    return {"new_year": f"{year}年1月1日", "spring_festival": f"{year}年{spring.month}月{spring.day}日"}


def _fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], m[0]), text)


def play(sender: Sender, script: Script, run: str, today: date) -> ScriptResult:
    result = ScriptResult(script)
    openid = f"bench-{run}-{script.id}"
    values = placeholders(today)
    for step in script.setup:
        for i in range(step.repeat):
            local = {**values, "i": str(i), "cn": CHINESE[i % len(CHINESE)]}
            who = _fill(step.openid, {**local, "run": run}) if step.openid else openid
            reply = sender.say(who, _fill(step.say, local))
            if not _holds(reply, step, values):
                result.failure = f"setup {step.say!r} got {reply[:80]!r}"
                return result
    for step in script.turns:
        text = _fill(step.say, values)
        reply = sender.say(openid, text)
        result.transcript.append((text, reply))
        result.interactions += 1
        if not _holds(reply, step, values):
            result.failure = f"reply to {text!r} lacks {step.expect}"
            return result
    result.completed = True
    return result


def _holds(reply: str, step: Turn, values: dict[str, str]) -> bool:
    if not all(_fill(word, values) in reply for word in step.expect):
        return False
    if step.capture:
        m = re.search(step.capture, reply)
        if m is None:
            return False
        values.update(m.groupdict())
    return True


def report(results: list[ScriptResult]) -> bool:
    done = [r.interactions for r in results if r.completed]
    mean = statistics.mean(done) if done else float("nan")
    print(
        f"{'follow-through':<14} completed {len(done)}/{len(results)} "
        f"({len(done) / len(results) if results else 0:.0%})  interactions mean {mean:.2f}"
    )
    print("  " + "  ".join(f"{r.script.id} {r.interactions if r.completed else 'FAILED'}" for r in results))
    for r in results:
        if not r.completed:
            print(f"\n--- {r.script.id} {r.failure}")
            for said, reply in r.transcript:
                print(f"  > {said}\n    {reply.replace(chr(10), chr(10) + '    ')}")
    return bool(results) and len(done) == len(results)


def today_in_shanghai() -> date:
    from datetime import datetime

    return datetime.now(ZoneInfo("Asia/Shanghai")).date()
