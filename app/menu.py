"""The account's custom menu: `knowledge/menu.yaml` read strictly, checked against WeChat's limits
and against what our click handlers understand, and turned into the JSON `menu/create` takes.

The file mirrors WeChat's own field names (`button`, `sub_button`, `type`, `name`, `key`, `url`,
`appid`, `pagepath`) so admins can hold it next to WeChat's documentation. Every problem names
file:line, and all problems are reported at once. Only button types that this service answers
are accepted: `click` (with a key from `handlers.events`), `view` and `miniprogram`; the
scancode/photo/location types would send events nobody handles.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from handlers.events import CATEGORY_PREFIX, CLICK_HANDLERS, FAQ_PREFIX, FLOW_PREFIX, SUBSCRIBE_PREFIX
from knowledge.errors import Problem

# WeChat's limits (自定义菜单创建接口).
MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
TYPES = ("click", "view", "miniprogram")
_FIELDS = {
    "click": ("key",),
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
}
_BUTTON_KEYS = ("name", "type", "key", "url", "appid", "pagepath", "sub_button")


# The same file:line problem the knowledge base and flows report, so admins read one format.
MenuProblem = Problem


class MenuError(Exception):
    """The menu cannot be used; `problems` lists every problem found."""

    def __init__(self, problems: list[MenuProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class MenuTargets:
    """What click keys may point at; a None set is not checked (e.g. its files failed to load)."""

    flows: Collection[str] | None = None
    # Keys flows declare in `triggers.menu`; the click handler starts those flows too.
    flow_keys: Collection[str] = ()
    faqs: Collection[str] | None = None
    categories: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class MenuButton:
    name: str
    type: str = ""  # "" for a parent of sub-buttons
    key: str = ""
    url: str = ""
    appid: str = ""
    pagepath: str = ""
    sub_buttons: tuple[MenuButton, ...] = ()
    line: int = 0

    def to_wechat(self) -> dict[str, Any]:
        if self.sub_buttons:
            return {"name": self.name, "sub_button": [b.to_wechat() for b in self.sub_buttons]}
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        for name in _FIELDS[self.type]:
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, slots=True)
class Menu:
    file: str
    buttons: tuple[MenuButton, ...] = field(default_factory=tuple)

    def to_wechat(self) -> dict[str, Any]:
        return {"button": [b.to_wechat() for b in self.buttons]}

    def leaves(self) -> list[MenuButton]:
        return [leaf for b in self.buttons for leaf in (b.sub_buttons or (b,))]


def load_menu(path: Path, targets: MenuTargets | None = None) -> Menu:
    """Read and validate a menu file; raise `MenuError` listing every problem."""
    reader = _Reader(str(path), targets or MenuTargets())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MenuError([MenuProblem(str(path), 0, f"无法读取菜单文件：{exc}")]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise MenuError([MenuProblem(str(path), line, f"YAML 语法错误：{exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise MenuError([MenuProblem(str(path), 0, f"YAML 语法错误：{exc}")]) from exc
    menu = reader.menu(root)
    if reader.problems:
        raise MenuError(reader.problems)
    return menu


class _Reader:
    def __init__(self, file: str, targets: MenuTargets) -> None:
        self.file = file
        self.targets = targets
        self.problems: list[MenuProblem] = []

    def error(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(MenuProblem(self.file, line, message))

    def menu(self, root: Node | None) -> Menu:
        if root is None:
            self.error(None, "菜单文件是空的：需要 button（1 到 3 个一级菜单）")
            return Menu(self.file)
        fields = self.mapping(root, ("button",), "菜单文件")
        if fields is None:
            return Menu(self.file)
        if "button" not in fields:
            self.error(root, "缺少 button：菜单需要 1 到 3 个一级菜单")
            return Menu(self.file)
        items = self.sequence(fields["button"], "button")
        if not 1 <= len(items) <= MAX_BUTTONS:
            self.error(fields["button"], f"一级菜单应为 1 到 {MAX_BUTTONS} 个，现有 {len(items)} 个")
        buttons = tuple(b for b in (self.button(item, top=True) for item in items) if b is not None)
        return Menu(self.file, buttons)

    def button(self, node: Node, *, top: bool) -> MenuButton | None:
        fields = self.mapping(node, _BUTTON_KEYS, "菜单项")
        if fields is None:
            return None
        name = self.text(fields.get("name"), "name", node)
        limit = MAX_NAME_BYTES if top else MAX_SUB_NAME_BYTES
        if name and len(name.encode()) > limit:
            self.error(fields["name"], f"菜单名「{name}」超过 {limit} 字节（一个汉字 3 字节）")
        line = node.start_mark.line + 1
        if "sub_button" in fields:
            return self.parent(node, fields, name, line, top=top)
        kind = self.text(fields.get("type"), "type", node)
        if kind and kind not in TYPES:
            self.error(fields["type"], f"不支持的菜单类型 {kind!r}，可用：{', '.join(TYPES)}")
            return None
        values = {k: self.text(fields.get(k), k, node) for k in _FIELDS.get(kind, ())}
        for other in ("key", "url", "appid", "pagepath"):
            if other in fields and other not in values:
                self.error(fields[other], f"{kind} 类型的菜单不使用 {other}")
        if kind == "click":
            self.check_key(values["key"], fields.get("key"))
        if "url" in values:
            self.check_url(values["url"], fields.get("url"))
        return MenuButton(
            name=name,
            type=kind,
            key=values.get("key", ""),
            url=values.get("url", ""),
            appid=values.get("appid", ""),
            pagepath=values.get("pagepath", ""),
            line=line,
        )

    def parent(
        self, node: Node, fields: dict[str, Node], name: str, line: int, *, top: bool
    ) -> MenuButton | None:
        if not top:
            self.error(fields["sub_button"], "子菜单不能再有子菜单（微信只支持两级）")
            return None
        for extra in ("type", "key", "url", "appid", "pagepath"):
            if extra in fields:
                self.error(fields[extra], f"有子菜单的一级菜单不能设置 {extra}")
        items = self.sequence(fields["sub_button"], "sub_button")
        if not 1 <= len(items) <= MAX_SUB_BUTTONS:
            self.error(fields["sub_button"], f"子菜单应为 1 到 {MAX_SUB_BUTTONS} 个，现有 {len(items)} 个")
        subs = tuple(b for b in (self.button(item, top=False) for item in items) if b is not None)
        return MenuButton(name=name, sub_buttons=subs, line=line)

    def check_key(self, key: str, node: Node | None) -> None:
        if not key:
            return
        if len(key.encode()) > MAX_KEY_BYTES:
            self.error(node, f"key 超过 {MAX_KEY_BYTES} 字节")
        t = self.targets
        target = key.partition(":")[2]
        if key in CLICK_HANDLERS or key in t.flow_keys:
            return
        if key.startswith(FLOW_PREFIX) and target:
            if t.flows is not None and target not in t.flows:
                self.error(node, f"key {key!r} 指向不存在的流程 {target!r}（已有：{_listing(t.flows)}）")
        elif key.startswith(FAQ_PREFIX) and target:
            if t.faqs is not None and target not in t.faqs:
                self.error(node, f"key {key!r} 指向不存在的 FAQ 条目 {target!r}")
        elif key.startswith(CATEGORY_PREFIX) and target:
            if t.categories is not None and target not in t.categories:
                self.error(node, f"key {key!r} 指向不存在的 FAQ 分类 {target!r}（已有：{_listing(t.categories)}）")
        elif key.startswith(SUBSCRIBE_PREFIX):
            # Topic ids are checked by wxbot push plan / the topics file itself.
            return
        else:
            known = ", ".join([f"{FLOW_PREFIX}<流程id>", f"{FAQ_PREFIX}<条目id>", f"{CATEGORY_PREFIX}<分类>",
                               f"{SUBSCRIBE_PREFIX}<主题id>", *CLICK_HANDLERS])
            self.error(node, f"无法识别的 key {key!r}，应为：{known}")

    def check_url(self, url: str, node: Node | None) -> None:
        if not url:
            return
        if not url.startswith(("https://", "http://")):
            self.error(node, f"链接 {url!r} 应以 https:// 或 http:// 开头")
        if len(url.encode()) > MAX_URL_BYTES:
            self.error(node, f"链接超过 {MAX_URL_BYTES} 字节")

    # -- YAML nodes ------------------------------------------------------------------------

    def mapping(self, node: Node, allowed: tuple[str, ...], what: str) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.error(node, f"{what}应为键值对")
            return None
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key not in allowed:
                self.error(key_node, f"未知字段 {key!r}，可用：{', '.join(allowed)}")
            elif key in out:
                self.error(key_node, f"字段 {key} 重复")
            else:
                out[key] = value_node
        return out

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.error(node, f"{what} 应为列表")
            return []
        return list(node.value)

    def text(self, node: Node | None, name: str, owner: Node) -> str:
        if node is None:
            self.error(owner, f"缺少 {name}")
            return ""
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:str" or not node.value.strip():
            self.error(node, f"{name} 应为非空文字")
            return ""
        return str(node.value).strip()


def _listing(values: Collection[str]) -> str:
    return "、".join(sorted(values)) or "无"


def describe(menu: Menu) -> str:
    """The menu as admins picture it on the phone, one button per line."""
    lines: list[str] = []
    for button in menu.buttons:
        if button.sub_buttons:
            lines.append(button.name)
            lines += [f"  · {sub.name}  [{_target(sub)}]" for sub in button.sub_buttons]
        else:
            lines.append(f"{button.name}  [{_target(button)}]")
    return "\n".join(lines)


def _target(button: MenuButton) -> str:
    if button.type == "click":
        return f"click {button.key}"
    if button.type == "miniprogram":
        return f"小程序 {button.appid} {button.pagepath}"
    return f"view {button.url}"
