"""Cross-reference checks a schema cannot express: steps and slots that do not exist, steps that
can never be reached or loop forever, and template placeholders or conditions naming unknown slots.

Run on every load (a flow with problems is never put into service) and by `wxbot flows check`.
"""

from __future__ import annotations

from flows.errors import Problem
from flows.loader import SourceMap
from flows.schema import DONE, Condition, Flow, When
from flows.templates import placeholders


def _targets(flow: Flow, index: int) -> list[tuple[str, tuple[str | int, ...]]]:
    step = flow.steps[index]
    if isinstance(step.next, str):
        return [(step.next, ("steps", index, "next"))]
    return [(b.goto, ("steps", index, "next", j, "goto")) for j, b in enumerate(step.next)]


def _each(when: When, where: tuple[str | int, ...]) -> list[tuple[Condition, tuple[str | int, ...]]]:
    if when is None:
        return []
    if isinstance(when, Condition):
        return [(when, where)]
    return [(c, (*where, k)) for k, c in enumerate(when)]


def _conditions(flow: Flow) -> list[tuple[Condition, tuple[str | int, ...]]]:
    found: list[tuple[Condition, tuple[str | int, ...]]] = []
    for i, step in enumerate(flow.steps):
        if not isinstance(step.next, str):
            for j, branch in enumerate(step.next):
                found += _each(branch.when, ("steps", i, "next", j, "when"))
    for i, reply in enumerate(flow.complete.replies):
        found += _each(reply.when, ("complete", "replies", i, "when"))
    return found


def _check_steps(flow: Flow, src: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    ids = [s.id for s in flow.steps]
    for i, step_id in enumerate(ids):
        if step_id in ids[:i]:
            problems.append(src.problem(f"step {step_id!r} is defined twice", "steps", i, "id"))
    asked_by: dict[str, str] = {}
    for i, step in enumerate(flow.steps):
        for j, name in enumerate(step.ask):
            if name not in flow.slots:
                message = f"step {step.id!r} asks for unknown slot {name!r}"
                problems.append(src.problem(message, "steps", i, "ask", j))
            elif name in asked_by:
                message = f"slot {name!r} is asked by steps {asked_by[name]!r} and {step.id!r}"
                problems.append(src.problem(message, "steps", i, "ask", j))
            else:
                asked_by[name] = step.id
        for target, where in _targets(flow, i):
            if target != DONE and target not in ids:
                problems.append(src.problem(f"step {step.id!r} goes to unknown step {target!r}", *where))
        if not isinstance(step.next, str) and step.next and step.next[-1].when is not None:
            problems.append(src.problem(
                f"step {step.id!r}: the last branch needs no `when`, so every case goes somewhere",
                "steps", i, "next",
            ))
    if problems:
        return problems

    # Reachability from the first step, and loops (a loop would pass filled steps forever).
    reached: set[str] = set()
    order = {s.id: i for i, s in enumerate(flow.steps)}

    def visit(step_id: str, trail: tuple[str, ...]) -> None:
        if step_id == DONE:
            return
        if step_id in trail:
            i = order[step_id]
            problems.append(src.problem(f"steps loop back to {step_id!r}: {' → '.join((*trail, step_id))}",
                                        "steps", i, "id"))
            return
        if step_id in reached:
            return
        reached.add(step_id)
        for target, _where in _targets(flow, order[step_id]):
            visit(target, (*trail, step_id))

    visit(flow.first_step, ())
    for i, step in enumerate(flow.steps):
        if step.id not in reached:
            problems.append(src.problem(f"step {step.id!r} can never be reached", "steps", i, "id"))
    return problems


def _check_conditions(flow: Flow, src: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    for condition, where in _conditions(flow):
        slot = flow.slots.get(condition.slot)
        if slot is None:
            problems.append(src.problem(f"condition on unknown slot {condition.slot!r}", *where, "slot"))
            continue
        if slot.type == "choice":
            known = {o.value for o in slot.options}
            tested = [condition.equals] if condition.equals is not None else list(condition.in_ or [])
            for value in tested:
                if value not in known:
                    message = f"condition compares {condition.slot!r} with {value!r}, not one of its options"
                    problems.append(src.problem(message, *where))
    return problems


def _templates(flow: Flow) -> list[tuple[str, tuple[str | int, ...], frozenset[str]]]:
    """(template, where, extra names it may use beyond slots and title)."""
    none: frozenset[str] = frozenset()
    found: list[tuple[str, tuple[str | int, ...], frozenset[str]]] = [(flow.intro, ("intro",), none)]
    for name, slot in flow.slots.items():
        found.append((slot.prompt, ("slots", name, "prompt"), none))
        found.append((slot.error, ("slots", name, "error"), none))
    for i, step in enumerate(flow.steps):
        found.append((step.say, ("steps", i, "say"), none))
    if flow.confirm is not None:
        found.append((flow.confirm.prompt, ("confirm", "prompt"), none))
    action = flow.complete.action
    after = frozenset({"ticket"}) if action.type in ("ticket", "booking") else none
    if flow.confirm is not None:
        # Said after the action ran: its number may be named.
        found.append((flow.confirm.undo, ("confirm", "undo"), after))
    for i, reply in enumerate(flow.complete.replies):
        found.append((reply.text, ("complete", "replies", i, "text"), after))
    for key, tpl in action.params.items():
        found.append((tpl, ("complete", "action", "params", key), none))
    for key in ("not_found", "timeout", "unavailable"):
        found.append((getattr(flow.complete, key), ("complete", key), none))
    return found


def _check_templates(flow: Flow, src: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    http = flow.complete.action.type == "http"
    for template, where, extra in _templates(flow):
        for name in placeholders(template):
            if name in flow.slots or name == "title" or name in extra:
                continue
            if http and name.startswith("result.") and where[:2] == ("complete", "replies"):
                continue
            problems.append(src.problem(f"template uses unknown {{{name}}}", *where))
    return problems


def _check_triggers(flow: Flow, src: SourceMap) -> list[Problem]:
    return [
        src.problem(f"triggers.fills names unknown slot {name!r}", "triggers", "fills", i)
        for i, name in enumerate(flow.triggers.fills)
        if name not in flow.slots
    ]


def check_flow(flow: Flow, src: SourceMap) -> list[Problem]:
    problems = _check_steps(flow, src) + _check_conditions(flow, src) + _check_templates(flow, src)
    problems += _check_triggers(flow, src)
    if not flow.complete.replies:
        problems.append(src.problem("complete.replies needs at least one reply", "complete"))
    elif flow.complete.replies[-1].when is not None:
        problems.append(src.problem(
            "the last completion reply needs no `when`, so every case gets an answer", "complete", "replies",
        ))
    return problems
