"""Topics citizens can subscribe to (issue 19): `knowledge/topics.yaml`, validated like the FAQ files.

A topic names the FAQ categories and flows that belong to it, so an answer in one of those
categories can offer the topic once, and a campaign about a topic reaches its subscribers.
Every problem names the file and line, as the rest of the knowledge base does.

    topics:
      - id: gongjijin
        name: 公积金政策
        categories: [公积金]
        flows: []
        aliases: [公积金]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import SequenceNode

from knowledge.errors import KnowledgeError, Problem
from knowledge.loader import _compose_file, _Ctx, _mapping, _text, _text_list

TOPICS_FILE = "topics.yaml"
TOPIC_KEYS = ("id", "name", "categories", "flows", "aliases")
_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    name: str
    categories: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    # Other words a citizen may use after 「订阅」 (「订阅公积金」 for 公积金政策).
    aliases: tuple[str, ...] = ()


class TopicCatalog:
    """The topics, looked up by id, by FAQ category, by flow, or by what a citizen typed."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._topics = list(topics)
        self._by_id = {t.id: t for t in topics}
        self._by_category = {c: t for t in topics for c in t.categories}
        self._by_flow = {f: t for t in topics for f in t.flows}

    def __iter__(self) -> Iterator[Topic]:
        return iter(self._topics)

    def __len__(self) -> int:
        return len(self._topics)

    def get(self, topic_id: str) -> Topic | None:
        return self._by_id.get(topic_id)

    def for_category(self, category: str) -> Topic | None:
        return self._by_category.get(category)

    def for_flow(self, flow_id: str) -> Topic | None:
        return self._by_flow.get(flow_id)

    def named(self, text: str) -> Topic | None:
        """The topic a citizen means by `text` (「公积金政策」「公积金」), longest name first."""
        text = text.strip()
        if not text:
            return None
        candidates = sorted(
            ((name, t) for t in self._topics for name in (t.name, t.id, *t.aliases)),
            key=lambda pair: -len(pair[0]),
        )
        for name, topic in candidates:
            if name == text:
                return topic
        for name, topic in candidates:
            if name in text or (len(text) >= 2 and text in name):
                return topic
        return None


def load_topics(path: Path, *, categories: set[str] | None = None, flows: set[str] | None = None) -> TopicCatalog:
    """Read topics.yaml; a missing file is no topics. Unknown categories/flows are errors when given."""
    if not path.exists():
        return TopicCatalog([])
    ctx = _Ctx(path.name, [])
    root = _compose_file(path, ctx)
    topics: list[Topic] = []
    if root is not None:
        top = _mapping(root, ctx, ("topics",), "topics.yaml 顶层")
        items = top.get("topics") if top is not None else None
        if top is not None and items is None:
            ctx.error(root, "文件缺少 topics（主题列表）")
        elif items is not None and not isinstance(items, SequenceNode):
            ctx.error(items, "topics 应为列表")
        elif items is not None:
            seen: dict[str, int] = {}
            for item in items.value:
                fields = _mapping(item, ctx, TOPIC_KEYS, "主题")
                if fields is None:
                    continue
                line = item.start_mark.line + 1
                missing = [k for k in ("id", "name") if k not in fields]
                for key in missing:
                    ctx.error(item, f"主题缺少 {key}")
                if missing:
                    continue
                topic_id = _text(fields["id"], ctx, "id") or ""
                name = _text(fields["name"], ctx, "name") or ""
                if topic_id and not _ID.match(topic_id):
                    ctx.error(fields["id"], f"主题 id {topic_id!r} 只能包含小写字母、数字、- 和 _")
                if topic_id in seen:
                    ctx.error(fields["id"], f"主题 id {topic_id} 重复（第 {seen[topic_id]} 行已定义）")
                seen.setdefault(topic_id, line)
                cats = _text_list(fields["categories"], ctx, "categories") if "categories" in fields else []
                fls = _text_list(fields["flows"], ctx, "flows") if "flows" in fields else []
                aliases = _text_list(fields["aliases"], ctx, "aliases") if "aliases" in fields else []
                if categories is not None:
                    for cat in cats:
                        if cat not in categories:
                            ctx.error(fields["categories"], f"分类 {cat!r} 不存在于 faq/ 中")
                if flows is not None:
                    for flow in fls:
                        if flow not in flows:
                            ctx.error(fields["flows"], f"流程 {flow!r} 不存在")
                if not cats and not fls:
                    ctx.error(item, f"主题 {topic_id} 至少需要一个 categories 或 flows")
                topics.append(Topic(topic_id, name, tuple(cats), tuple(fls), tuple(aliases)))
            owners: dict[str, str] = {}
            for topic in topics:
                for cat in topic.categories:
                    if cat in owners and owners[cat] != topic.id:
                        clash = f"分类 {cat} 同时属于主题 {owners[cat]} 和 {topic.id}"
                        ctx.problems.append(Problem(ctx.file, 0, clash))
                    owners[cat] = topic.id
    if ctx.problems:
        raise KnowledgeError(ctx.problems)
    return TopicCatalog(topics)
