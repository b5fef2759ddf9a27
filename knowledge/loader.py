"""Reading a knowledge folder (the YAML contract in issue 3) into a `KnowledgeBase`, strictly.

The files are edited by hand and by tools outside the repo, and a reload must never let a broken
file reach users, so validation is strict (unknown keys, wrong types, missing fields, duplicate
ids, bad dates) and every problem names the file and line. Lines come from the YAML node marks:
we compose the node tree ourselves instead of `yaml.safe_load`, which loses positions and
silently keeps the last of two duplicate keys.

Layout: faq/*.yaml (category + entries), synonyms.yaml, userdict.txt, stopwords.txt, tests.yaml;
all but faq/ are optional.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from knowledge.errors import KnowledgeError, Problem
from knowledge.normalize import DEFAULT_STOPWORDS, GENERAL_SYNONYM_GROUPS, Vocabulary, normalize
from knowledge.schema import FaqEntry, KnowledgeBase, RegressionCase

ENTRY_KEYS = ("id", "question", "similar", "answer", "keywords", "valid_from", "valid_until", "enabled")
REQUIRED_ENTRY_KEYS = ("id", "question", "answer")
FILE_KEYS = ("category", "entries")
TEST_KEYS = ("q", "expect")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

# libyaml's parser keeps the node marks and parses a 10k-entry knowledge base ~10× faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass(slots=True)
class _Ctx:
    """The file being read and the problems found so far."""

    file: str
    problems: list[Problem]

    def error(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(self.file, line, message))


def _read(path: Path, ctx: _Ctx) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        ctx.problems.append(Problem(ctx.file, 0, f"无法读取文件：{exc.strerror}"))
        return None


def _compose(data: bytes, ctx: _Ctx) -> Node | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        ctx.problems.append(Problem(ctx.file, 0, "文件不是 UTF-8 编码"))
        return None
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        ctx.problems.append(Problem(ctx.file, line, f"YAML 语法错误：{exc.problem or exc}"))
    except yaml.YAMLError as exc:
        ctx.problems.append(Problem(ctx.file, 0, f"YAML 语法错误：{exc}"))
    return None


def _compose_file(path: Path, ctx: _Ctx) -> Node | None:
    data = _read(path, ctx)
    return None if data is None else _compose(data, ctx)


def _mapping(node: Node, ctx: _Ctx, allowed: tuple[str, ...], what: str) -> dict[str, Node] | None:
    """A mapping's keys → value nodes; unknown and repeated keys are problems."""
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{what}应为键值对（mapping）")
        return None
    out: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else None
        if key is None or key not in allowed:
            ctx.error(key_node, f"{what}中有未知字段 {key!r}（允许的字段：{', '.join(allowed)}）")
        elif key in out:
            ctx.error(key_node, f"{what}中字段 {key} 重复出现")
        else:
            out[key] = value_node
    return out


def _text(node: Node, ctx: _Ctx, field: str) -> str | None:
    # Any plain scalar is text: an admin writing `question: 12345` means the characters, not a number.
    if isinstance(node, ScalarNode) and node.tag != _NULL and node.value.strip():
        return str(node.value).strip()
    if isinstance(node, ScalarNode):
        ctx.error(node, f"字段 {field} 不能为空")
    else:
        ctx.error(node, f"字段 {field} 应为文本")
    return None


def _text_list(node: Node, ctx: _Ctx, field: str) -> list[str]:
    if isinstance(node, ScalarNode) and node.tag == _NULL:
        return []
    if not isinstance(node, SequenceNode):
        ctx.error(node, f"字段 {field} 应为列表，例如 [\"…\", \"…\"]")
        return []
    out: list[str] = []
    for item in node.value:
        text = _text(item, ctx, f"{field} 的列表项")
        if text:
            out.append(text)
    return out


def _date(node: Node, ctx: _Ctx, field: str) -> date | None:
    if isinstance(node, ScalarNode) and node.tag == _NULL:
        return None
    if isinstance(node, ScalarNode) and node.tag in (_TIMESTAMP, _STR):
        try:
            return date.fromisoformat(node.value.strip())
        except ValueError:
            try:
                return datetime.fromisoformat(node.value.strip()).date()
            except ValueError:
                pass
    ctx.error(node, f"字段 {field} 应为日期，格式 YYYY-MM-DD（例如 2025-12-31），实际为 {_show(node)}")
    return None


def _bool(node: Node, ctx: _Ctx, field: str) -> bool | None:
    if isinstance(node, ScalarNode) and node.tag == _BOOL:
        return bool(SafeConstructor.bool_values[node.value.lower()])
    ctx.error(node, f"字段 {field} 应为 true 或 false，实际为 {_show(node)}")
    return None


def _show(node: Node) -> str:
    return repr(node.value) if isinstance(node, ScalarNode) else type(node).__name__.removesuffix("Node")


def _load_faq_file(data: bytes, ctx: _Ctx) -> list[FaqEntry]:
    before = len(ctx.problems)
    root = _compose(data, ctx)
    if root is None:
        if len(ctx.problems) == before:
            ctx.problems.append(Problem(ctx.file, 0, "文件为空，应包含 category 和 entries"))
        return []
    top = _mapping(root, ctx, FILE_KEYS, "文件顶层")
    if top is None:
        return []
    category = ""
    if "category" not in top:
        ctx.error(root, "文件缺少 category（分类名称）")
    else:
        category = _text(top["category"], ctx, "category") or ""
    if "entries" not in top:
        ctx.error(root, "文件缺少 entries（条目列表）")
        return []
    entries_node = top["entries"]
    if not isinstance(entries_node, SequenceNode):
        ctx.error(entries_node, "entries 应为条目列表（每项以 - 开头）")
        return []
    entries: list[FaqEntry] = []
    for item in entries_node.value:
        entry = _load_entry(item, category, ctx)
        if entry is not None:
            entries.append(entry)
    return entries


def _load_entry(node: Node, category: str, ctx: _Ctx) -> FaqEntry | None:
    before = len(ctx.problems)
    fields = _mapping(node, ctx, ENTRY_KEYS, "条目")
    if fields is None:
        return None
    for key in REQUIRED_ENTRY_KEYS:
        if key not in fields:
            ctx.error(node, f"条目缺少必填字段 {key}")
    entry_id = _text(fields["id"], ctx, "id") if "id" in fields else None
    if entry_id is not None and not _ID.match(entry_id):
        ctx.error(fields["id"], f"id {entry_id!r} 只能包含字母、数字、-、_、.")
    question = _text(fields["question"], ctx, "question") if "question" in fields else None
    answer = _text(fields["answer"], ctx, "answer") if "answer" in fields else None
    similar = _text_list(fields["similar"], ctx, "similar") if "similar" in fields else []
    keywords = _text_list(fields["keywords"], ctx, "keywords") if "keywords" in fields else []
    valid_from = _date(fields["valid_from"], ctx, "valid_from") if "valid_from" in fields else None
    valid_until = _date(fields["valid_until"], ctx, "valid_until") if "valid_until" in fields else None
    enabled = _bool(fields["enabled"], ctx, "enabled") if "enabled" in fields else True
    if valid_from and valid_until and valid_until < valid_from:
        ctx.error(fields["valid_until"], f"valid_until（{valid_until}）早于 valid_from（{valid_from}）")
    if len(ctx.problems) > before or entry_id is None or question is None or answer is None:
        return None
    return FaqEntry(
        id=entry_id,
        category=category,
        question=question,
        similar=tuple(similar),
        answer=answer,
        keywords=tuple(keywords),
        valid_from=valid_from,
        valid_until=valid_until,
        enabled=bool(enabled),
        file=ctx.file,
        line=node.start_mark.line + 1,
    )


def _load_synonyms(path: Path, ctx: _Ctx) -> dict[str, str]:
    root = _compose_file(path, ctx)
    if root is None:
        return {}
    if not isinstance(root, SequenceNode):
        ctx.error(root, "synonyms.yaml 应为同义词组的列表，例如 - [社保, 社会保险]")
        return {}
    canonical_of: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for group in root.value:
        words = _text_list(group, ctx, "同义词组")
        if isinstance(group, SequenceNode) and len(words) < 2:
            ctx.error(group, "同义词组至少需要两个词，第一个为标准词")
            continue
        if not words:
            continue
        canonical = normalize(words[0]).replace(" ", "")
        for word in words:
            key = normalize(word).replace(" ", "")
            line = group.start_mark.line + 1
            if key in canonical_of and canonical_of[key] != canonical:
                ctx.error(group, f"词 {word!r} 已出现在第 {first_seen[key]} 行的同义词组中")
                continue
            canonical_of[key] = canonical
            first_seen.setdefault(key, line)
    return {w: c for w, c in canonical_of.items() if w != c}


def with_general_synonyms(synonyms: dict[str, str]) -> dict[str, str]:
    """The knowledge base's synonyms over the general ones (normalize.GENERAL_SYNONYMS).

    A word the admins listed keeps their meaning, and so does every word of a general group
    whose canonical word they listed (their group decides what it means here).
    """
    theirs = {*synonyms, *synonyms.values()}
    merged: dict[str, str] = {}
    for group in GENERAL_SYNONYM_GROUPS:
        canonical = synonyms.get(group[0], group[0])
        for word in group:
            if word not in theirs and word != canonical:
                merged[word] = canonical
    merged.update(synonyms)
    return merged


def _read_lines(path: Path, ctx: _Ctx) -> Iterator[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        ctx.problems.append(Problem(ctx.file, 0, "文件不是 UTF-8 编码"))
        return
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _load_userdict(path: Path, ctx: _Ctx) -> list[tuple[str, int | None]]:
    """jieba's format: `word [freq] [tag]` per line."""
    words: list[tuple[str, int | None]] = []
    for number, line in _read_lines(path, ctx):
        parts = line.split()
        freq: int | None = None
        if len(parts) > 3:
            ctx.problems.append(Problem(ctx.file, number, "每行格式应为：词语 [词频] [词性]"))
            continue
        if len(parts) >= 2:
            if not parts[1].isdigit():
                ctx.problems.append(Problem(ctx.file, number, f"词频 {parts[1]!r} 应为正整数"))
                continue
            freq = int(parts[1])
        words.append((parts[0], freq))
    return words


def _load_stopwords(path: Path, ctx: _Ctx) -> set[str]:
    return {normalize(line) for _number, line in _read_lines(path, ctx)}


def _load_tests(path: Path, ctx: _Ctx) -> list[RegressionCase]:
    root = _compose_file(path, ctx)
    if root is None:
        return []
    if not isinstance(root, SequenceNode):
        ctx.error(root, "tests.yaml 应为列表，每项形如 - {q: 问题, expect: 条目id 或 null}")
        return []
    cases: list[RegressionCase] = []
    for item in root.value:
        fields = _mapping(item, ctx, TEST_KEYS, "测试用例")
        if fields is None:
            continue
        if "q" not in fields or "expect" not in fields:
            ctx.error(item, "测试用例需要 q（问题）和 expect（期望的条目 id，或 null 表示不应回答）")
            continue
        query = _text(fields["q"], ctx, "q")
        expect_node = fields["expect"]
        expect = None
        if not (isinstance(expect_node, ScalarNode) and expect_node.tag == _NULL):
            expect = _text(expect_node, ctx, "expect")
            if expect is None:
                continue
        if query:
            cases.append(RegressionCase(query, expect, ctx.file, item.start_mark.line + 1))
    return cases


def find_collisions(entries: Iterable[FaqEntry]) -> list[Problem]:
    """Two entries sharing one phrasing (after normalisation): the matcher cannot tell them apart."""
    owner: dict[str, FaqEntry] = {}
    out: list[Problem] = []
    for entry in entries:
        for text in dict.fromkeys(normalize(p) for p in entry.phrasings()):
            other = owner.setdefault(text, entry)
            if other.id != entry.id:
                out.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"条目 {entry.id} 的问法「{text}」与条目 {other.id}（{other.file}:{other.line}）相同",
                    )
                )
    return out


def load_knowledge(
    directory: Path, today: date | None = None, previous: KnowledgeBase | None = None
) -> KnowledgeBase:
    """Load and validate a knowledge folder; raise `KnowledgeError` listing every problem found.

    `today` only decides which entries are reported as expired; matching checks dates per query.
    `previous` is the knowledge base this one replaces: FAQ files whose bytes have not changed
    are not parsed again (parsing is most of a 10k-entry reload; an edit usually touches one file).
    """
    today = today or date.today()
    problems: list[Problem] = []
    if not directory.is_dir():
        raise KnowledgeError([Problem(str(directory), 0, "知识库目录不存在")])
    faq_files = sorted([*directory.glob("faq/*.yaml"), *directory.glob("faq/*.yml")])
    if not faq_files:
        raise KnowledgeError([Problem("faq/", 0, "没有找到任何 FAQ 文件（faq/*.yaml）")])

    entries: list[FaqEntry] = []
    parsed: dict[str, tuple[bytes, tuple[FaqEntry, ...]]] = {}
    cache = previous.parsed if previous is not None and previous.directory == directory else {}
    for path in faq_files:
        ctx = _Ctx(_rel(path, directory), problems)
        data = _read(path, ctx)
        if data is None:
            continue
        digest = hashlib.blake2b(data, digest_size=16).digest()
        cached = cache.get(ctx.file)
        if cached is not None and cached[0] == digest:
            file_entries = cached[1]
        else:
            before = len(problems)
            file_entries = tuple(_load_faq_file(data, ctx))
            if len(problems) > before:
                continue
        parsed[ctx.file] = (digest, file_entries)
        entries.extend(file_entries)

    seen: dict[str, FaqEntry] = {}
    for entry in entries:
        first = seen.setdefault(entry.id, entry)
        if first is not entry:
            problems.append(
                Problem(entry.file, entry.line, f"条目 id {entry.id} 重复（已在 {first.file}:{first.line} 定义）")
            )

    def optional(name: str) -> tuple[Path, _Ctx] | None:
        path = directory / name
        return (path, _Ctx(name, problems)) if path.is_file() else None

    synonyms: dict[str, str] = {}
    user_words: list[tuple[str, int | None]] = []
    stopwords: set[str] = set()
    tests: list[RegressionCase] = []
    if found := optional("synonyms.yaml"):
        synonyms = _load_synonyms(*found)
    if found := optional("userdict.txt"):
        user_words = _load_userdict(*found)
    if found := optional("stopwords.txt"):
        stopwords = _load_stopwords(*found)
    if found := optional("tests.yaml"):
        tests = _load_tests(*found)

    # An entry in a file that failed to load is unknown here, not missing: reporting every case
    # that expects it would bury the one real error under spurious ones.
    faq_failed = any(p.file.startswith("faq/") for p in problems)
    for case in tests:
        if case.expect is not None and case.expect not in seen and not faq_failed:
            problems.append(Problem(case.file, case.line, f"expect 引用了不存在的条目 id {case.expect!r}"))

    if problems:
        raise KnowledgeError(problems)

    warnings: list[Problem] = []
    for entry in entries:
        if entry.enabled and entry.valid_until is not None and entry.valid_until < today:
            warnings.append(Problem(entry.file, entry.line, f"条目 {entry.id} 已于 {entry.valid_until} 过期"))
    # Synonyms and keywords go into the tokenizer too, so that jieba cuts them out whole.
    words = [*user_words, *((w, None) for w in {*synonyms, *synonyms.values()})]
    words.extend((w, None) for group in GENERAL_SYNONYM_GROUPS for w in group)
    words.extend((k, None) for e in entries for k in e.keywords)
    return KnowledgeBase(
        directory=directory,
        entries=tuple(entries),
        vocabulary=Vocabulary(
            synonyms=with_general_synonyms(synonyms), stopwords=DEFAULT_STOPWORDS | frozenset(stopwords)
        ),
        user_words=tuple(words),
        tests=tuple(tests),
        warnings=tuple(warnings),
        parsed=parsed,
    )


def _rel(path: Path, directory: Path) -> str:
    try:
        return path.relative_to(directory).as_posix()
    except ValueError:
        return str(path)
