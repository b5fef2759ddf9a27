"""The menu file: WeChat's limits and our click keys enforced, every problem with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.menu import Menu, MenuError, MenuTargets, load_menu
from flows.registry import load_flows
from knowledge.loader import load_knowledge

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "menu.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, targets: MenuTargets | None = None) -> list[str]:
    with pytest.raises(MenuError) as failure:
        load_menu(path, targets)
    return [str(p) for p in failure.value.problems]


def click(name: str, key: str, indent: int = 6) -> str:
    pad = " " * indent
    return f"{pad}- name: {name}\n{pad}  type: click\n{pad}  key: {key}\n"


@pytest.fixture(scope="module")
def sample_targets() -> MenuTargets:
    registry = load_flows(ROOT / "flows")
    kb = load_knowledge(ROOT / "knowledge")
    return MenuTargets(
        flows={f.id for f in registry},
        flow_keys={k for f in registry for k in f.triggers.menu},
        faqs={e.id for e in kb.entries},
        categories={e.category for e in kb.entries},
    )


@pytest.fixture(scope="module")
def sample_menu(sample_targets: MenuTargets) -> Menu:
    return load_menu(ROOT / "knowledge" / "menu.yaml", sample_targets)


def test_sample_menu_reaches_every_sample_flow(sample_menu: Menu, sample_targets: MenuTargets) -> None:
    keys = {leaf.key for leaf in sample_menu.leaves()}
    assert sample_targets.flows is not None
    assert {f"flow:{flow_id}" for flow_id in sample_targets.flows} <= keys


def test_sample_menu_offers_faq_categories_an_agent_and_a_web_page(sample_menu: Menu) -> None:
    leaves = sample_menu.leaves()
    assert sum(leaf.key.startswith("cat:") for leaf in leaves) >= 3
    assert any(leaf.key == "handoff" for leaf in leaves)
    assert any(leaf.type == "view" for leaf in leaves)


def test_menu_converts_to_wechat_json(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "button:\n"
        "  - name: 办事\n    sub_button:\n" + click("预约", "flow:booking") +
        "  - name: 官网\n    type: view\n    url: https://example.gov.cn/\n",
    )
    assert load_menu(path).to_wechat() == {
        "button": [
            {"name": "办事", "sub_button": [{"type": "click", "name": "预约", "key": "flow:booking"}]},
            {"type": "view", "name": "官网", "url": "https://example.gov.cn/"},
        ]
    }


def test_more_than_three_buttons_is_refused_at_its_line(tmp_path: Path) -> None:
    buttons = "".join(click(f"菜单{i}", "handoff", indent=2) for i in range(4))
    path = write(tmp_path, "button:\n" + buttons)
    assert problems(path) == [f"{path}:2: 一级菜单应为 1 到 3 个，现有 4 个"]


def test_more_than_five_sub_buttons_is_refused(tmp_path: Path) -> None:
    subs = "".join(click(f"子{i}", "handoff") for i in range(6))
    path = write(tmp_path, "button:\n  - name: 服务\n    sub_button:\n" + subs)
    assert problems(path) == [f"{path}:4: 子菜单应为 1 到 5 个，现有 6 个"]


def test_a_top_level_name_longer_than_16_bytes_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n" + click("办事服务大厅指南", "handoff", indent=2))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:2: 菜单名「办事服务大厅指南」超过 16 字节")


def test_an_unknown_click_key_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n" + click("乱码", "V1001_TODAY", indent=2))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:4: 无法识别的 key 'V1001_TODAY'")


def test_a_key_declared_by_a_flow_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n" + click("进度", "V1001_PROGRESS", indent=2))
    menu = load_menu(path, MenuTargets(flow_keys={"V1001_PROGRESS"}))
    assert menu.leaves()[0].key == "V1001_PROGRESS"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("flow:missing", "指向不存在的流程 'missing'"),
        ("faq:missing", "指向不存在的 FAQ 条目 'missing'"),
        ("cat:天文", "指向不存在的 FAQ 分类 '天文'"),
    ],
)
def test_keys_pointing_at_nothing_are_refused(tmp_path: Path, key: str, message: str) -> None:
    path = write(tmp_path, "button:\n" + click("按钮", key, indent=2))
    targets = MenuTargets(flows={"booking"}, faqs={"sb-01"}, categories={"社保"})
    (problem,) = problems(path, targets)
    assert message in problem


def test_a_parent_button_cannot_also_have_a_key(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n  - name: 服务\n    key: handoff\n    sub_button:\n" + click("人工", "handoff"))
    assert problems(path) == [f"{path}:3: 有子菜单的一级菜单不能设置 key"]


def test_unknown_fields_and_types_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n  - name: 扫码\n    type: scancode_push\n    kye: x\n")
    found = problems(path)
    assert f"{path}:4: 未知字段 'kye'，可用：name, type, key, url, appid, pagepath, sub_button" in found
    assert any(p.startswith(f"{path}:3: 不支持的菜单类型 'scancode_push'") for p in found)


def test_a_view_url_must_be_a_web_address(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n  - name: 官网\n    type: view\n    url: www.example.gov.cn\n")
    assert problems(path) == [f"{path}:4: 链接 'www.example.gov.cn' 应以 https:// 或 http:// 开头"]


def test_yaml_syntax_errors_name_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "button:\n  - name: 服务\n    type: [click\n")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:4: YAML 语法错误")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "button:\n" + click("一", "nothing-1", indent=2) + click("二", "nothing-2", indent=2),
    )
    assert len(problems(path)) == 2
