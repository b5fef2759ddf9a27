"""`wxbot kb check` and `wxbot ask`: what admins run before (and after) editing the knowledge base.

`kb suggest` turns the citizens' picks from 「您是不是想问」 menus into `similar:` lines, and
`kb lint` looks for entries that get in each other's way (knowledge/learning.py).

`kb check` is the same validation a reload does, plus what only a person can fix: two entries
sharing a phrasing, standard questions that match another entry, expired entries, and the admins'
own regression cases (knowledge/tests.yaml). `ask` shows what the matcher decides for a question,
one JSON object per line with `-` (for scripts and the accuracy work).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from app.cli.accounts import AccountOpt

if TYPE_CHECKING:
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import MatchConfig, Matcher, MatchResult

kb_app = typer.Typer(no_args_is_help=True, help="知识库（FAQ）：检查文件、试问")

KnowledgeOpt = Annotated[
    Path | None, typer.Option("--knowledge", help="知识库目录，默认为 KNOWLEDGE_DIR 设置（./knowledge）")
]
TZ = ZoneInfo("Asia/Shanghai")


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")
    app.command("ask")(ask)


def match_config() -> MatchConfig:
    """The thresholds the service uses: MATCH_<FIELD> variables (or .env), else the defaults."""
    from app.settings import MatchSettings
    from knowledge.matcher import MatchConfig

    return MatchConfig(**MatchSettings().model_dump())


def _directory(knowledge: Path | None) -> Path:
    if knowledge is not None:
        return knowledge
    from app.settings import Settings

    return Settings().knowledge_dir


def _today() -> date:
    return datetime.now(TZ).date()


def _load_for(knowledge: Path | None, account: str | None) -> tuple[str, Matcher | LayeredMatcher]:
    """The folder given, or the account's knowledge as the service composes it (`--account`)."""
    from app.settings import Settings

    settings = Settings()
    if knowledge is not None or (account is None and settings.accounts_file is None):
        directory = _directory(knowledge)
        return str(directory), _load(directory)
    from app.cli.accounts import load_matcher, resolve
    from knowledge.errors import KnowledgeError
    from knowledge.normalize import warm_up

    chosen = resolve(account, settings)
    label = f"账号 {chosen.id}（{' + '.join(str(p) for p in chosen.knowledge)}）"
    warm_up()
    try:
        return label, load_matcher(chosen, match_config())
    except KnowledgeError as exc:
        for problem in exc.problems:
            typer.echo(f"错误 {problem}", err=True)
        typer.echo(f"{label}：{len(exc.problems)} 处错误，知识库无法加载。", err=True)
        raise typer.Exit(code=1) from None


def _phrases(matcher: Matcher | LayeredMatcher) -> int:
    from knowledge.layered import LayeredMatcher

    if isinstance(matcher, LayeredMatcher):
        return matcher.phrase_count
    return matcher.index.phrase_count


def _load(directory: Path) -> Matcher:
    """Load and index, or print every problem as file:line and exit 1."""
    from knowledge.errors import KnowledgeError
    from knowledge.matcher import Matcher
    from knowledge.normalize import warm_up

    warm_up()
    try:
        return Matcher.from_directory(directory, match_config())
    except KnowledgeError as exc:
        for problem in exc.problems:
            typer.echo(f"错误 {problem}", err=True)
        typer.echo(f"{directory}：{len(exc.problems)} 处错误，知识库无法加载。", err=True)
        raise typer.Exit(code=1) from None


@kb_app.command("check")
def check(knowledge: KnowledgeOpt = None, account: AccountOpt = None) -> None:
    """检查知识库：格式错误（文件:行号）、重复 id、问法冲突、过期条目、回归用例；有错误时退出码非 0。"""
    from knowledge.loader import find_collisions

    directory, matcher = _load_for(knowledge, account)
    kb = matcher.kb
    today = _today()
    errors: list[str] = []
    warnings: list[str] = []

    # Two entries sharing a phrasing can never both be answered: an error here, although a reload
    # tolerates it so that one careless edit does not keep every other fix from going live.
    errors.extend(str(p) for p in find_collisions(kb.entries))
    warnings.extend(str(p) for p in kb.warnings)

    # A standard question that the matcher gives to another entry: the two need telling apart.
    for entry in kb.entries:
        if not entry.is_active(today):
            continue
        result = matcher.match(entry.question, today)
        top = result.candidates[0] if result.candidates else None
        if top is not None and top.faq_id != entry.id:
            warnings.append(
                f"{entry.file}:{entry.line}: 条目 {entry.id} 的标准问题「{entry.question}」匹配到了条目 "
                f"{top.faq_id}「{top.question}」（得分 {top.score:.2f}），两者需要区分得更清楚"
            )

    failed = 0
    for case in kb.tests:
        result = matcher.match(case.query, today)
        ok = result.decision != "answer" if case.expect is None else result.faq_id == case.expect
        if not ok:
            failed += 1
            got = result.faq_id if result.decision == "answer" else result.decision
            tops = "、".join(f"{c.faq_id} {c.score:.2f}" for c in result.candidates) or "无"
            want = case.expect or "不回答（null）"
            errors.append(f"{case.file}:{case.line}: 用例「{case.query}」期望 {want}，实际 {got}（候选：{tops}）")

    for line in warnings:
        typer.echo(f"提醒 {line}")
    for line in errors:
        typer.echo(f"错误 {line}", err=True)
    active = sum(e.is_active(today) for e in kb.entries)
    categories = len({e.category for e in kb.entries})
    typer.echo(
        f"{directory}：{len(kb.entries)} 个条目（生效 {active} 个），{categories} 个分类，"
        f"{_phrases(matcher)} 个问法；回归用例 {len(kb.tests) - failed}/{len(kb.tests)} 通过；"
        f"{len(errors)} 个错误，{len(warnings)} 个提醒。"
    )
    if errors:
        raise typer.Exit(code=1)


@kb_app.command("suggest")
def suggest(
    since: Annotated[str | None, typer.Option("--since", help="起始日期（含），默认 7 天前，如 2026-11-01")] = None,
    until: Annotated[str | None, typer.Option("--until", help="截止日期（不含），默认现在")] = None,
    knowledge: KnowledgeOpt = None,
    apply: Annotated[
        Path | None, typer.Option("--apply", help="把全部建议写入这个审阅文件（YAML 片段），而不是只打印")
    ] = None,
    min_count: Annotated[int, typer.Option("--min-count", help="至少被选过几次才建议")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """群众在「您是不是想问」菜单里选中的条目：把他们的问法建议为该条目的 similar（按相似归并，附次数）。"""
    from app.cli.report import _rules, _window
    from app.db.engine import make_engine
    from app.settings import Settings
    from app.turnlog.picks import all_menu_picks
    from app.turnlog.report import iter_users
    from knowledge.learning import propose

    settings = Settings()
    matcher = _load(_directory(knowledge))
    start, end = _window(since, until)
    engine = make_engine(settings.database_url)
    try:
        labels = all_menu_picks(iter_users(engine, start, end, _rules(settings, None, None)))
    finally:
        engine.dispose()
    proposals = propose(labels, matcher, _today(), min_count=min_count)
    if as_json:
        items = [{"id": p.entry.id, "question": p.entry.question, "file": p.entry.file, "line": p.entry.line,
                  "count": p.count, "phrasings": [{"text": t, "count": n} for t, n in p.phrasings],
                  "yaml": p.yaml()} for p in proposals]
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
    elif not proposals:
        typer.echo(f"这段时间群众从菜单中选择了 {len(labels)} 次，没有需要补充的问法。")
    else:
        typer.echo(f"群众从菜单中选择了 {len(labels)} 次；以下问法建议加入对应条目的 similar：")
        for n, p in enumerate(proposals, start=1):
            typer.echo(f"\n{n}. {p.entry.id}「{p.entry.question}」 ×{p.count}")
            typer.echo(p.yaml())
    if apply is not None:
        header = (
            "# wxbot kb suggest：群众从「您是不是想问」菜单中选择的条目及其问法，供审阅。\n"
            "# 确认无误后把各段 similar 下的行粘贴到对应文件的条目中，再运行 wxbot kb check。\n"
        )
        apply.write_text(header + "".join(f"\n{p.yaml()}\n" for p in proposals), encoding="utf-8")
        phrasings = sum(len(p.phrasings) for p in proposals)
        typer.echo(f"已写入 {apply}（{len(proposals)} 个条目，{phrasings} 个问法）", err=True)


@kb_app.command("lint")
def lint(knowledge: KnowledgeOpt = None) -> None:
    """知识库体检：相互混淆的条目、永远匹配不到的条目、全是停用词的问法、可能有用的同义词。"""
    from knowledge.learning import lint as run_lint

    matcher = _load(_directory(knowledge))
    report = run_lint(matcher, _today())
    by_id = matcher.kb.by_id
    typer.echo(f"相互混淆的条目（问法更像另一个条目，考虑合并或写得更有区分度）：{len(report.near_duplicates)}")
    for d in report.near_duplicates:
        a, b = by_id[d.a], by_id[d.b]
        typer.echo(
            f"  {a.id}「{a.question}」 ↔ {b.id}「{b.question}」：{d.shared}/{d.total} 个问法相近，如「{d.example}」"
        )
    typer.echo(f"永远匹配不到的条目（自己的问法都匹配到了别的条目）：{len(report.never_win)}")
    for e in report.never_win:
        typer.echo(f"  {e.file}:{e.line}: {e.id}「{e.question}」")
    typer.echo(f"全是停用词的问法（只有一字不差的问候才能匹配到）：{len(report.stopword_only)}")
    for e, phrase in report.stopword_only:
        typer.echo(f"  {e.file}:{e.line}: {e.id}「{phrase}」")
    typer.echo(f"可能有用的同义词（同一条目的问法中一一对应的词）：{len(report.synonyms)}")
    for s in report.synonyms:
        typer.echo(f"  - [{s.word}, {s.other}]  ×{s.count}  例：{s.example}")


def _as_json(query: str, result: MatchResult) -> str:
    return json.dumps(
        {
            "query": query,
            "decision": result.decision,
            "faq_id": result.faq_id,
            "score": round(result.score, 4),
            "candidates": [
                {"faq_id": c.faq_id, "question": c.question, "score": round(c.score, 4)} for c in result.candidates
            ],
        },
        ensure_ascii=False,
    )


def ask(
    query: Annotated[str, typer.Argument(help="要试问的问题；- 表示从标准输入逐行读取，每行输出一个 JSON 对象")],
    knowledge: KnowledgeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    account: AccountOpt = None,
) -> None:
    """试问：显示匹配结果（回答 / 反问 / 兜底）和候选条目及得分。"""
    _, matcher = _load_for(knowledge, account)
    today = _today()
    if query == "-":
        for line in sys.stdin:
            text = line.strip()
            if text:
                typer.echo(_as_json(text, matcher.match(text, today)))
        return
    result = matcher.match(query, today)
    if as_json:
        typer.echo(_as_json(query, result))
        return
    labels = {"answer": "直接回答", "clarify": "反问（请用户选择）", "fallback": "兜底（未找到答案）"}
    typer.echo(f"决定：{labels[result.decision]}  最高得分 {result.score:.2f}")
    for i, c in enumerate(result.candidates, start=1):
        typer.echo(f"  {i}. {c.faq_id}  {c.score:.2f}  {c.question}")
    if result.faq_id is not None:
        entry = matcher.entry(result.faq_id)
        if entry is not None:
            typer.echo(f"\n{entry.answer}")
