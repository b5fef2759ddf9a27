"""`wxbot report` (ops numbers) and `wxbot kb unanswered` (what to add to the knowledge base)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from app.cli.db import parse_day
from app.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

    from app.turnlog.consultations import Rules
    from app.turnlog.report import Report
    from app.turnlog.unanswered import Cluster
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import Matcher

# Below this many rows the report is quick and a progress bar would only flicker.
PROGRESS_MIN_ROWS = 5000
DEFAULT_DAYS = 7


def register(app: typer.Typer) -> None:
    app.command()(report)
    try:
        from app.cli.kb import kb_app
    except ImportError:
        app.command("kb-unanswered")(unanswered)
    else:
        kb_app.command("unanswered")(unanswered)


def _window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    end = parse_day(until) if until else datetime.now(UTC)
    start = parse_day(since) if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise typer.BadParameter("--since 必须早于 --until")
    return start, end


def _rules(settings: Settings, idle_minutes: float | None, reask_hours: float | None) -> Rules:
    from app.turnlog.consultations import Rules

    return Rules(
        idle=timedelta(minutes=idle_minutes or settings.consultation_idle_minutes),
        reask_window=timedelta(hours=reask_hours or settings.faq_reask_window_hours),
    )


@contextmanager
def _progress(engine: Engine, start: datetime, end: datetime, rules: Rules) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when there are many rows (stdout stays clean for --json)."""
    from app.turnlog.report import count_rows

    total = count_rows(engine, start, end, rules)
    if total < PROGRESS_MIN_ROWS:
        yield None
        return
    with typer.progressbar(length=total, label="读取对话记录", file=sys.stderr) as bar:
        yield bar.update


def _load(settings: Settings, since: str | None, until: str | None, idle: float | None,
          reask: float | None, account: str | None = None) -> Report:
    from app.db.engine import make_engine
    from app.turnlog.report import build_report

    start, end = _window(since, until)
    rules = _rules(settings, idle, reask)
    engine = make_engine(settings.database_url)
    try:
        with _progress(engine, start, end, rules) as on_rows:
            return build_report(engine, start, end, rules, on_rows=on_rows, account=account)
    finally:
        engine.dispose()


def _account_id(account: str | None) -> str | None:
    """`--account` checked against the configured accounts (None: every account)."""
    if account is None:
        return None
    from app.cli.accounts import resolve

    return resolve(account).id


SinceOpt = typer.Option(None, "--since", help=f"起始日期（含），默认 {DEFAULT_DAYS} 天前，如 2026-11-01")
UntilOpt = typer.Option(None, "--until", help="截止日期（不含），默认现在")
IdleOpt = typer.Option(None, "--idle-minutes", help="空闲多少分钟算新的一次咨询（默认取设置）")
ReaskOpt = typer.Option(None, "--reask-hours", help="FAQ 答复后多少小时内未再问算解决（默认取设置）")
KnowledgeOpt = typer.Option(None, "--knowledge-dir", help="知识库目录（默认取设置）")
AccountOpt = typer.Option(None, "--account", help="只看这个账号（ACCOUNTS_FILE 中的 id）；默认全部账号")


def _compare(settings: Settings, since: str | None, until: str | None, idle: float | None,
             reask: float | None, as_json: bool, top: int) -> None:
    from app.accounts import AccountsError, configured_accounts
    from app.db.engine import make_engine
    from app.turnlog.comparison import compare

    start, end = _window(since, until)
    names: dict[str, str] | None = None
    if settings.accounts_file is not None:
        try:
            names = {a.id: a.name for a in configured_accounts(settings)}
        except AccountsError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
    engine = make_engine(settings.database_url)
    try:
        result = compare(engine, start, end, _rules(settings, idle, reask), accounts=names, top=top)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(render_comparison(result.to_json()))


def render_comparison(data: dict[str, Any]) -> str:
    header = ("账号", "消息", "p95", "解决率", "轮次", "未匹配率", "满意", "待办工单", "超期")
    rows = [header]
    for a in data["accounts"]:
        label = f"{a['account']} {a['name']}".strip()
        rows.append((
            label, str(a["turns"]), _num(a["p95_ms"], " ms"), _pct(a["resolution"]), _num(a["interactions"]),
            _pct(a["fallback"]), _pct(a["satisfied"]), str(a["open_tickets"]), str(a["overdue_tickets"]),
        ))
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(r)).rstrip() for r in rows]
    if data["shared_unanswered"]:
        lines.append("")
        lines.append("多个账号都未能解答的问题（集中补充一次即可）：")
        for item in data["shared_unanswered"]:
            where = "、".join(f"{k} {v}" for k, v in item["accounts"].items())
            lines.append(f"  {item['count']:>5}  {item['question']}  （{where}）")
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def report(
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    as_json: bool = typer.Option(False, "--json", help="输出一个 JSON 对象"),
    top: int = typer.Option(10, help="列出多少个未解答问题"),
    idle_minutes: float | None = IdleOpt,
    reask_hours: float | None = ReaskOpt,
    account: str | None = AccountOpt,
    compare: bool = typer.Option(False, "--compare", help="各账号对比表，以及多个账号共有的未解答问题"),
) -> None:
    """运营报表：响应时间、咨询轮次、解决率、转人工率、满意度、未解答问题。"""
    if compare:
        _compare(Settings(), since, until, idle_minutes, reask_hours, as_json, top)
        return
    settings = Settings()
    result = _load(settings, since, until, idle_minutes, reask_hours, _account_id(account)).to_json(top=top)
    if account is not None:
        result["account"] = account
    result["tickets"] = _tickets(settings, since, until, _account_id(account))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(render_text(result))


def _tickets(settings: Settings, since: str | None, until: str | None, account: str | None) -> dict[str, Any]:
    """First-response and resolution times of the window's tickets (issue 17)."""
    from app.db.engine import make_engine
    from app.desk.stats import ticket_stats

    start, end = _window(since, until)
    engine = make_engine(settings.database_url)
    try:
        return ticket_stats(engine, start, end, datetime.now(UTC), account=account).to_json()
    finally:
        engine.dispose()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:g}{unit}"


def _local(iso: str | None) -> str:
    from app.turnlog.report import LOCAL_TZ

    return "—" if iso is None else datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def render_text(data: dict[str, Any]) -> str:
    window = data["window"]
    lat = data["latency_ms"]
    cons = data["consultations"]
    inter = cons["interactions"]
    rates = data["rates"]
    sat = data["satisfaction"]
    lines = [
        f"时间范围    {_local(window['since'])} — {_local(window['until'])}（北京时间）",
        f"消息投递    {data['turns']}（其中微信重试 {data['retries']}）",
        f"响应时间    p50 {_num(lat['p50'], ' ms')}  p95 {_num(lat['p95'], ' ms')}  p99 {_num(lat['p99'], ' ms')}",
        f"5 秒内答复  {_pct(data['within_5s'])}",
        f"咨询        {cons['count']} 次，已解决 {cons['resolved']} 次（解决率 {_pct(rates['resolution'])}）",
        f"每次解决的交互轮次  平均 {_num(inter['mean'])}  中位数 {_num(inter['median'])}  p90 {_num(inter['p90'])}",
        f"未匹配率    {_pct(rates['fallback'])}    转人工率 {_pct(rates['handoff'])}",
        f"满意度      {sat['responses']} 人评价，满意率（非常满意+满意）{_pct(sat['satisfied'])}"
        f"，目标 ≥ {sat['target'] * 100:.0f}%",
        "评价分布    " + "  ".join(f"{level} {n}" for level, n in sat["counts"].items()),
    ]
    if "tickets" in data:
        from app.desk.stats import render_lines

        lines += render_lines(data["tickets"])
    if data["top_unanswered"]:
        lines.append("未解答的问题（按相似度归并）：")
        lines += [f"  {item['count']:>5}  {item['question']}" for item in data["top_unanswered"]]
    return "\n".join(lines)


# --- wxbot kb unanswered ---------------------------------------------------------------------


def suggest(
    clusters: list[Cluster], matcher: Matcher | LayeredMatcher | None, today: date, limit: int
) -> list[dict[str, Any]]:
    """For each cluster: the entry it most likely belongs to (if any) and the YAML to paste.

    Clusters that land on the same entry are merged: an admin edits each entry once.
    """
    # The thresholds of the stage whose scores the candidates carry (MATCH_RERANK).
    floor = matcher.thresholds.clarify if matcher is not None else 1.0
    strong = matcher.thresholds.answer if matcher is not None else 1.0
    by_entry: dict[str, dict[str, Any]] = {}
    known: dict[str, set[str]] = {}
    items: list[dict[str, Any]] = []
    for c in clusters:
        phrasings = c.phrasings(5)
        best: tuple[str, float] | None = None
        if matcher is not None:
            for text in phrasings:
                result = matcher.match(text, today)
                if result.candidates and (best is None or result.candidates[0].score > best[1]):
                    best = (result.candidates[0].faq_id, result.candidates[0].score)
        entry = matcher.entry(best[0]) if matcher is not None and best is not None and best[1] >= floor else None
        if entry is None or best is None:
            items.append({"question": c.question, "count": c.count, "phrasings": phrasings, "entry": None,
                          "yaml": _new_entry_snippet(c.question, phrasings)})
            continue
        item = by_entry.get(entry.id)
        if item is None:
            item = {"question": c.question, "count": 0, "phrasings": [], "entry": {
                "id": entry.id, "question": entry.question, "file": entry.file, "line": entry.line,
                "score": round(best[1], 3), "confident": best[1] >= strong,
            }}
            by_entry[entry.id] = item
            known[entry.id] = set(entry.phrasings())
            items.append(item)
        item["count"] += c.count
        item["phrasings"] += [p for p in phrasings if p not in item["phrasings"]]
    for item in items:
        if (entry_info := item["entry"]) is not None:
            new = [p for p in item["phrasings"] if p not in known[entry_info["id"]]]
            item["yaml"] = _similar_snippet(entry_info["id"], entry_info["question"], entry_info["file"], new)
    items.sort(key=lambda item: -item["count"])
    return items[:limit]


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _similar_snippet(faq_id: str, question: str, file: str, phrasings: list[str]) -> str:
    if not phrasings:
        # Already listed yet unanswered: the wording is fine, the matching is not.
        return f"# {file}：条目 {faq_id} 已收录这些问法，请检查同义词、停用词或匹配阈值"
    lines = [f"# {file}：条目 {faq_id}「{question}」的 similar 下追加", "    similar:"]
    lines += [f"      - {_yaml_str(p)}" for p in phrasings]
    return "\n".join(lines)


def _new_entry_snippet(question: str, phrasings: list[str]) -> str:
    lines = [
        "# 新条目：放入合适分类的 faq/*.yaml，补全 id 与答复",
        "  - id: TODO-新编号",
        f"    question: {_yaml_str(question)}",
        "    similar:",
    ]
    lines += [f"      - {_yaml_str(p)}" for p in phrasings if p != question] or ["      []"]
    lines += ["    answer: |-", "      （请填写答复）"]
    return "\n".join(lines)


def unanswered(
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    top: int = typer.Option(20, help="列出多少组问题"),
    knowledge_dir: Path | None = KnowledgeOpt,
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
    idle_minutes: float | None = IdleOpt,
    reask_hours: float | None = ReaskOpt,
    account: str | None = AccountOpt,
    surge: bool = typer.Option(
        False, "--surge", help="只看近 24 小时突然增多的未解答问题（热点），默认读取近 8 天记录作对比"
    ),
) -> None:
    """未解答或中途放弃的问题：按相似度归组，给出最可能归属的条目和可粘贴的 YAML。"""
    from app.cli.accounts import load_matcher, resolve
    from app.turnlog import surge as surge_rule
    from app.turnlog.report import LOCAL_TZ
    from knowledge.errors import KnowledgeError
    from knowledge.matcher import Matcher

    settings = Settings()
    if surge and since is None:
        end = parse_day(until) if until else datetime.now(UTC)
        since = (end - timedelta(days=surge_rule.BASELINE_DAYS + 1)).astimezone(LOCAL_TZ).date().isoformat()
    result = _load(settings, since, until, idle_minutes, reask_hours, _account_id(account))
    matcher: Matcher | LayeredMatcher | None
    try:
        if knowledge_dir is not None or (account is None and settings.accounts_file is None):
            matcher = Matcher.from_directory(knowledge_dir or settings.knowledge_dir)
        else:
            matcher = load_matcher(resolve(account, settings))
    except KnowledgeError as exc:
        typer.echo(f"知识库无法加载，只列出问题：{exc}", err=True)
        matcher = None
    if surge:
        _print_surges(result.unanswered_at, matcher, parse_day(until) if until else datetime.now(UTC), as_json,
                      settings, _account_id(account))
        return
    items = suggest(result.unanswered, matcher, date.today(), top)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        typer.echo("这段时间没有未解答的问题。")
        return
    for n, item in enumerate(items, start=1):
        entry = item["entry"]
        if entry is None:
            where = "知识库里没有相近的条目：建议新建"
        elif entry["confident"]:
            where = f"最可能属于 {entry['id']}「{entry['question']}」（匹配度 {entry['score']}）"
        else:
            where = f"可能属于 {entry['id']}「{entry['question']}」（匹配度 {entry['score']}，较低，请确认后再添加）"
        typer.echo(f"\n{n}. {item['question']}  ×{item['count']}  — {where}")
        typer.echo(item["yaml"])


def _print_surges(
    events: list[tuple[datetime, str]], matcher: Matcher | LayeredMatcher | None, now: datetime, as_json: bool,
    settings: Settings, account: str | None,
) -> None:
    from app.db.engine import make_engine
    from app.turnlog.surge import MIN_COUNT, RATIO, answer_status, first_answers, surges

    found = surges(events, now)
    engine = make_engine(settings.database_url)
    try:
        answers = first_answers(engine, found, now, account=account)
    finally:
        engine.dispose()
    items = []
    for s, answered_at in zip(found, answers, strict=True):
        item = suggest([s.cluster], matcher, date.today(), 1)[0]
        item.update(last_day=s.last_day, usual_per_day=s.usual_per_day, started_at=s.started_at.isoformat(),
                    first_answer=answer_status(s.started_at, answered_at, now))
        items.append(item)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        rule = f"至少 {MIN_COUNT} 次，且不少于平时每天的 {RATIO:g} 倍"
        typer.echo(f"近 24 小时没有突然增多的未解答问题（规则：{rule}）。")
        return
    for n, item in enumerate(items, start=1):
        first = item["first_answer"]
        if first["answered"]:
            verdict = "在 24 小时内" if first["within_target"] else "超过 24 小时目标"
            answered = f"首个 FAQ 答复于 {_local(first['answered_at'])}，用时 {first['hours']:g} 小时（{verdict}）"
        else:
            answered = f"尚无 FAQ 答复，已过 {first['hours']:g} 小时" + (
                "，已超过 24 小时目标" if first["overdue"] else "，请在 24 小时内补充答复"
            )
        typer.echo(
            f"\n热点 {n}：{item['question']}  近 24 小时 ×{item['last_day']}"
            f"（平时每天约 {item['usual_per_day']:g} 次），"
            f"始于 {_local(item['started_at'])}；{answered}"
        )
        typer.echo(item["yaml"])
