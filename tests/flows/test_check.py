"""`wxbot flows check` and the loader: every problem is reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from flows.errors import FlowError
from flows.registry import check_dir, load_flows
from tests.flows.conftest import FLOWS_DIR

GOOD = """\
id: demo
title: 演示
version: 1
slots:
  kind:
    type: choice
    label: 类型
    prompt: 请选择类型
    options:
      - value: 甲
      - value: 乙
  note:
    type: text
    label: 备注
    prompt: 请输入备注
steps:
  - id: first
    ask: [kind]
    next:
      - when: {slot: kind, equals: 甲}
        goto: second
      - goto: done
  - id: second
    ask: [note]
    next: done
complete:
  replies:
    - text: 已收到{kind}
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def messages(tmp_path: Path) -> list[str]:
    return [str(p) for p in check_dir(tmp_path)[1]]


def test_the_sample_flows_are_clean() -> None:
    flows, problems = check_dir(FLOWS_DIR)
    assert problems == []
    assert set(flows) == {"booking", "progress", "complaint", "business_licence"}


def test_a_good_flow_has_no_problems(tmp_path: Path) -> None:
    assert messages(write(tmp_path, GOOD)) == []


def test_yaml_syntax_error_points_at_its_line(tmp_path: Path) -> None:
    broken = GOOD.replace("    prompt: 请输入备注", "    prompt: [请输入备注")
    [problem] = check_dir(write(tmp_path, broken))[1]
    assert problem.file == "demo.yaml" and problem.line >= 15 and "YAML" in problem.message


def test_unknown_key_is_reported_at_its_line(tmp_path: Path) -> None:
    broken = GOOD.replace("    prompt: 请输入备注", "    prompt: 请输入备注\n    promt: 拼错了")
    [problem] = check_dir(write(tmp_path, broken))[1]
    assert problem.line == 16 and "promt" in problem.message


def test_wrong_slot_type_is_reported(tmp_path: Path) -> None:
    broken = GOOD.replace("type: text", "type: txt")
    line = line_of(broken, "type: txt")
    assert any("slots.note.type" in m and f":{line}:" in m for m in messages(write(tmp_path, broken)))


def test_step_asking_for_an_unknown_slot(tmp_path: Path) -> None:
    broken = GOOD.replace("ask: [note]", "ask: [notes]")
    line = line_of(broken, "[notes]")
    assert messages(write(tmp_path, broken)) == [f"demo.yaml:{line}: step 'second' asks for unknown slot 'notes'"]


def test_unreachable_step(tmp_path: Path) -> None:
    broken = GOOD.replace("        goto: second", "        goto: done")
    line = line_of(broken, "id: second")
    assert messages(write(tmp_path, broken)) == [f"demo.yaml:{line}: step 'second' can never be reached"]


def test_step_going_to_an_unknown_step(tmp_path: Path) -> None:
    broken = GOOD.replace("        goto: second", "        goto: third")
    assert "unknown step 'third'" in messages(write(tmp_path, broken))[0]


def test_steps_that_loop(tmp_path: Path) -> None:
    broken = GOOD.replace("    ask: [note]\n    next: done", "    ask: [note]\n    next: first")
    assert any("loop" in m for m in messages(write(tmp_path, broken)))


def test_unknown_slot_in_a_condition(tmp_path: Path) -> None:
    broken = GOOD.replace("{slot: kind, equals: 甲}", "{slot: sort, equals: 甲}")
    line = line_of(broken, "slot: sort")
    assert any(f":{line}: condition on unknown slot 'sort'" in m for m in messages(write(tmp_path, broken)))


def test_condition_value_that_is_not_an_option(tmp_path: Path) -> None:
    broken = GOOD.replace("{slot: kind, equals: 甲}", "{slot: kind, equals: 丙}")
    assert any("'丙'" in m for m in messages(write(tmp_path, broken)))


def test_unknown_slot_in_a_template(tmp_path: Path) -> None:
    broken = GOOD.replace("已收到{kind}", "已收到{kinds}")
    line = line_of(broken, "{kinds}")
    assert messages(write(tmp_path, broken)) == [f"demo.yaml:{line}: template uses unknown {{kinds}}"]


def test_ticket_placeholder_needs_a_ticket_action(tmp_path: Path) -> None:
    broken = GOOD.replace("已收到{kind}", "编号{ticket}")
    assert any("{ticket}" in m for m in messages(write(tmp_path, broken)))


def test_duplicate_flow_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    assert any("also used by a.yaml" in m for m in messages(tmp_path))


def test_load_flows_raises_with_every_problem(tmp_path: Path) -> None:
    broken = GOOD.replace("ask: [note]", "ask: [notes]").replace("已收到{kind}", "已收到{kinds}")
    with pytest.raises(FlowError) as caught:
        load_flows(write(tmp_path, broken))
    assert len(caught.value.problems) == 2


def test_cli_check_passes_on_the_sample_flows() -> None:
    # A fixed day: from December the booking window reaches next year, whose holiday schedule the
    # shipped calendar may not have yet (tests/app/cli/test_flows.py).
    result = CliRunner().invoke(cli, ["flows", "check", "--flows", str(FLOWS_DIR), "--today", "2026-11-20"])
    assert result.exit_code == 0, result.output
    assert "ok  booking" in result.output


def test_cli_check_fails_with_file_and_line(tmp_path: Path) -> None:
    broken = GOOD.replace("ask: [note]", "ask: [notes]")
    write(tmp_path, broken)
    result = CliRunner().invoke(cli, ["flows", "check", "--flows", str(tmp_path)])
    assert result.exit_code == 1
    assert f"demo.yaml:{line_of(broken, '[notes]')}: step 'second' asks for unknown slot 'notes'" in result.output


def test_unknown_slot_in_trigger_fills(tmp_path: Path) -> None:
    broken = GOOD.replace("version: 1\n", "version: 1\ntriggers:\n  fills: [kind, day]\n")
    assert messages(write(tmp_path, broken)) == ["demo.yaml:5: triggers.fills names unknown slot 'day'"]


def test_a_booking_action_needs_a_booking_section(tmp_path: Path) -> None:
    broken = (FLOWS_DIR / "booking.yaml").read_text(encoding="utf-8").replace("booking:\n  hall:", "seats:\n  hall:")
    (tmp_path / "booking.yaml").write_text(broken, encoding="utf-8")
    problems = [str(p) for p in check_dir(tmp_path)[1]]
    assert any("booking.yaml" in p for p in problems)


def test_a_booking_section_must_name_the_right_slots(tmp_path: Path) -> None:
    shipped = (FLOWS_DIR / "booking.yaml").read_text(encoding="utf-8")
    broken = shipped.replace("  capacity: 20\n", "  capacity: 20\n  period: name\n")
    (tmp_path / "booking.yaml").write_text(broken, encoding="utf-8")
    problems = [str(p) for p in check_dir(tmp_path)[1]]
    assert any("booking.period must name a period slot" in p for p in problems)
