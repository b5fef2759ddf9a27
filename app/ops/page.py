"""The dashboard page: a `Report` rendered as one self-contained HTML document (Chinese, phone-first)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from html import escape
from typing import Any

from app.ops.charts import SeriesPoint, bar_list, column_chart, latency_chart, satisfaction_chart
from app.turnlog.report import LOCAL_TZ, Report

ROUTE_NAMES = {
    "faq": "FAQ 答复",
    "clarify": "追问澄清",
    "fallback": "未能匹配",
    "flow": "办事流程",
    "menu": "菜单",
    "event": "关注等事件",
    "handoff": "转人工",
    "media": "图片语音等",
    "more": "查看更多",
    "quiet": "人工服务中",
    "duplicate": "微信重试",
    "late": "超时补发",
    "unknown": "其他",
}
WINDOWS = {1: "近 24 小时", 7: "近 7 天", 30: "近 30 天"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",
"WenQuanYi Zen Hei",sans-serif;background:#f3f5f8;color:#1f2937;line-height:1.5}
header{background:#173e7a;color:#fff;padding:14px 16px}
header h1{margin:0;font-size:1.15rem;font-weight:600}
header p{margin:2px 0 0;font-size:.85rem;opacity:.85}
nav{display:flex;gap:8px;padding:10px 16px 0;flex-wrap:wrap}
nav a{padding:4px 12px;border-radius:14px;background:#fff;color:#173e7a;text-decoration:none;font-size:.9rem;
border:1px solid #cdd6e4}
nav a.on{background:#173e7a;color:#fff;border-color:#173e7a}
main{padding:12px 16px 24px;display:grid;gap:12px;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));
max-width:1320px;margin:0 auto}
.kpis{grid-column:1/-1;display:grid;gap:8px;grid-template-columns:repeat(auto-fit,minmax(140px,1fr))}
.kpi{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.kpi b{display:block;font-size:1.35rem;font-weight:600}
.kpi span{font-size:.8rem;color:#6b7280}
.kpi.warn b{color:#c8372d}
section{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.06);min-width:0}
section h2{margin:0 0 4px;font-size:1rem}
section p.note{margin:0 0 8px;font-size:.8rem;color:#6b7280}
svg.chart{width:100%;max-width:560px;height:auto;display:block;margin:0 auto}
ol.unanswered{margin:0;padding:0;list-style:none}
ol.unanswered li{padding:6px 0;border-top:1px solid #eef0f3}
ol.unanswered li:first-child{border-top:0}
ol.unanswered .q{display:flex;justify-content:space-between;gap:8px}
ol.unanswered .q span{overflow-wrap:anywhere}
ol.unanswered .bar{height:6px;background:#e08a1e;border-radius:3px;margin-top:4px}
ol.unanswered small{color:#6b7280}
.wide{grid-column:1/-1}
nav.accounts a{font-size:.8rem}
.scroll{overflow-x:auto}
table.compare{border-collapse:collapse;width:100%;font-size:.85rem;white-space:nowrap}
table.compare th,table.compare td{padding:4px 8px;border-top:1px solid #eef0f3;text-align:right}
table.compare th:first-child,table.compare td:first-child{text-align:left}
table.compare td.warn{color:#c8372d;font-weight:600}
footer{text-align:center;font-size:.75rem;color:#9ca3af;padding-bottom:16px}
"""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} 秒" if value >= 1000 else f"{value:.0f} 毫秒"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _series(report: Report) -> list[SeriesPoint]:
    fmt = "%H时" if report.bucket < timedelta(days=1) else "%m-%d"
    return [
        SeriesPoint(p.start.strftime(fmt), {"p50": p.p50, "p95": p.p95, "p99": p.p99}, p.count)
        for p in report.latency_series
    ]


def _kpi(label: str, value: str, warn: bool = False) -> str:
    return f'<div class="kpi{" warn" if warn else ""}"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _unanswered(items: list[dict[str, Any]]) -> str:
    if not items:
        return '<p class="note">这段时间没有未解答的问题。</p>'
    peak = max(item["count"] for item in items)
    rows = []
    for item in items:
        others = [e for e in item["examples"] if e != item["question"]]
        extra = f"<small>也问作：{escape('；'.join(others))}</small>" if others else ""
        rows.append(
            f'<li data-count="{item["count"]}"><div class="q"><span>{escape(item["question"])}</span>'
            f'<b>{item["count"]}</b></div>{extra}'
            f'<div class="bar" style="width:{max(item["count"] * 100 / peak, 2):.0f}%"></div></li>'
        )
    return f'<ol class="unanswered">{"".join(rows)}</ol>'


def _tickets(data: Mapping[str, Any] | None) -> str:
    """The staff desk's service levels (issue 17), when the dashboard is given them."""
    if data is None:
        return ""
    first, done, within = data["first_response_hours"], data["resolution_hours"], data["within_target"]

    def hours(value: float | None) -> str:
        return "—" if value is None else f"{value:g} 小时"

    kpis = "".join([
        _kpi("新增工单", str(data["created"])),
        _kpi("首次响应 p50 / p90", f"{hours(first['p50'])} / {hours(first['p90'])}"),
        _kpi("首次响应时限内", _pct(within["first_response"]),
             warn=within["first_response"] is not None and within["first_response"] < 0.9),
        _kpi("办结用时 p50 / p90", f"{hours(done['p50'])} / {hours(done['p90'])}"),
        _kpi("办结时限内", _pct(within["resolution"]),
             warn=within["resolution"] is not None and within["resolution"] < 0.9),
        _kpi("未办结已超时", str(data["open_overdue"]), warn=data["open_overdue"] > 0),
    ])
    ages = [(label, label, count) for label, count in data["open_by_age"].items()]
    return (
        '<section id="tickets"><h2>工单办理</h2>'
        '<p class="note">群众提交的投诉、建议、留言和预约：首次响应与办结用时（自然小时），时限按工单台设置。</p>'
        f'<div class="kpis">{kpis}</div><h3>未办结工单按时长</h3>{bar_list(ages, "ticket-ages", "未办结工单按时长")}'
        "</section>"
    )


def _comparison(data: Mapping[str, Any]) -> str:
    """The city-wide table: one row per account, and the gaps several accounts share."""
    columns = ("账号", "消息", "响应 p95", "解决率", "平均轮次", "未匹配率", "满意", "待办工单", "超期")
    head = "".join(f"<th>{h}</th>" for h in columns)
    rows = []
    for a in data["accounts"]:
        label = escape(f"{a['name'] or a['account']}")
        rows.append(
            f'<tr data-account="{escape(a["account"])}"><td>{label}</td><td>{a["turns"]}</td>'
            f'<td>{_ms(a["p95_ms"])}</td><td>{_pct(a["resolution"])}</td><td>{_num(a["interactions"])}</td>'
            f'<td>{_pct(a["fallback"])}</td>'
            f'<td>{_pct(a["satisfied"])}</td><td>{a["open_tickets"]}</td>'
            f'<td{" class=warn" if a["overdue_tickets"] else ""}>{a["overdue_tickets"]}</td></tr>'
        )
    body = "".join(rows)
    table = (
        f'<div class="scroll"><table class="compare"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
    shared = data["shared_unanswered"]
    if shared:
        items = "".join(
            f'<li><div class="q"><span>{escape(item["question"])}</span><b>{item["count"]}</b></div>'
            f'<small>{escape("、".join(f"{k} {v}" for k, v in item["accounts"].items()))}</small></li>'
            for item in shared
        )
        gaps = (
            '<h2>多个账号共有的未解答问题</h2><p class="note">补充到共享知识库一次，所有账号受益。</p>'
            f'<ol class="unanswered">{items}</ol>'
        )
    else:
        gaps = '<p class="note">没有多个账号共有的未解答问题。</p>'
    return f'<section id="compare" class="wide"><h2>各账号对比</h2>{table}{gaps}</section>'


def render_page(
    report: Report,
    days: int,
    links: Mapping[int, str],
    now: datetime,
    *,
    accounts: Mapping[str, tuple[str, str]] | None = None,
    account: str = "",
    comparison: Mapping[str, Any] | None = None,
    tickets: Mapping[str, Any] | None = None,
) -> str:
    """`accounts`: id ("" for all) → (label, link), shown as a filter when there are several."""
    data = report.to_json(top=10)
    lat = data["latency_ms"]
    cons = data["consultations"]
    inter = cons["interactions"]
    rates = data["rates"]
    sat = data["satisfaction"]
    hist = report.interactions_histogram()
    routes = [(k, ROUTE_NAMES.get(k, k), v) for k, v in data["routes"].items()]
    nav = "".join(
        f'<a href="{escape(links[d])}"{" class=on" if d == days else ""}>{label}</a>' for d, label in WINDOWS.items()
    )
    account_nav = ""
    if accounts:
        account_nav = '<nav class="accounts">' + "".join(
            f'<a href="{escape(link)}"{" class=on" if key == account else ""}>{escape(label)}</a>'
            for key, (label, link) in accounts.items()
        ) + "</nav>"
    title_suffix = f" · {escape(accounts[account][0])}" if accounts and account in accounts and account else ""
    within = data["within_5s"]
    target = f"{sat['target'] * 100:.0f}%"
    kpis = "".join([
        _kpi("消息投递", f"{data['turns']}"),
        _kpi("响应 p95", _ms(lat["p95"]), warn=(lat["p95"] or 0) > 4000),
        _kpi("5 秒内答复", _pct(within), warn=within is not None and within < 0.99),
        _kpi("咨询解决率", _pct(rates["resolution"])),
        _kpi("每次解决的平均轮次", _num(inter["mean"])),
        _kpi("未匹配率", _pct(rates["fallback"])),
        _kpi("转人工率", _pct(rates["handoff"])),
        _kpi(
            f"满意率（目标 ≥ {target}）", _pct(sat["satisfied"]),
            warn=sat["satisfied"] is not None and sat["satisfied"] < sat["target"],
        ),
    ])
    caption = f"平均 {_num(inter['mean'])} · 中位数 {_num(inter['median'])} · p90 {_num(inter['p90'])}"
    generated = now.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<title>服务号运营看板</title><style>{CSS}</style></head>
<body>
<header><h1>服务号运营看板{title_suffix}</h1>
<p>{WINDOWS.get(days, f"近 {days} 天")} · 更新于 {generated}（北京时间）</p></header>
<nav>{nav}</nav>{account_nav}
<main>
<div class="kpis">{kpis}</div>
{_comparison(comparison) if comparison else ""}
<section id="latency"><h2>响应时间</h2>
<p class="note">首次投递的 p50 / p95 / p99（毫秒），微信 5 秒内未收到答复会重试。</p>
{latency_chart(_series(report))}</section>
<section id="interactions"><h2>每次咨询的交互轮次</h2>
<p class="note">已解决的咨询共 {cons["resolved"]} 次，按用户发了几条消息分布：{caption}。</p>
{column_chart(list(hist.items()), "interactions", "已解决咨询的交互轮次")}</section>
<section id="routes"><h2>答复方式</h2><p class="note">每条消息由哪一路处理。</p>
{bar_list(routes, "routes", "答复方式")}</section>
<section id="satisfaction"><h2>满意度（好差评）</h2>
<p class="note">共 {sat["responses"]} 人评价；满意率为「非常满意」与「满意」之和，目标 ≥ {target}。</p>
{satisfaction_chart(sat["counts"])}</section>
{_tickets(tickets)}
<section id="unanswered"><h2>未解答的问题</h2>
<p class="note">按相似度归并，建议补充到知识库（wxbot kb unanswered）。</p>
{_unanswered(data["top_unanswered"])}</section>
</main>
<footer>数据来自对话日志；用户标识已做假名化处理，身份证号、手机号、银行卡号已脱敏。</footer>
</body></html>"""
