"""The dashboard page: a `Report` rendered as one self-contained HTML document (Chinese, phone-first)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from app.ops.charts import SeriesPoint, bar_list, column_chart, latency_chart, satisfaction_chart
from app.turnlog.report import LOCAL_TZ, Report
from app.turnlog.surge import MIN_COUNT, RATIO

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
table.compare tr.below td.reach{color:#c8372d;font-weight:600}
table.compare small{color:#6b7280}
.flag{display:inline-block;margin-left:4px;padding:0 6px;border-radius:8px;font-size:.75rem;font-weight:600}
.flag.below{background:#fde8e6;color:#c8372d}
.flag.met{background:#e6f4ea;color:#1e7a3c}
ol.surges{margin:0;padding:0;list-style:none}
ol.surges li{padding:6px 0;border-top:1px solid #eef0f3;font-size:.9rem}
ol.surges .q{display:flex;justify-content:space-between;gap:8px}
ol.surges .q span{overflow-wrap:anywhere}
ol.surges small{color:#6b7280}
ol.surges li:first-child{border-top:0}
ol.surges .overdue{color:#c8372d;font-weight:600}
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


def _local_time(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")


def _surges(data: Mapping[str, Any], now: datetime) -> str:
    """Clusters of unanswered questions surging now, and how long each has waited for an FAQ answer."""
    items = data["items"]
    checked = _local_time(data["checked_at"])
    if not items:
        body = f'<p class="note">目前没有突然增多的未解答问题（检测于 {checked}）。</p>'
    else:
        rows = []
        for item in items:
            first = item["first_answer"]
            if first["answered"]:
                verdict = "24 小时内" if first["within_target"] else "超过 24 小时"
                answer = (f'<span{" class=overdue" if not first["within_target"] else ""}>'
                          f'已有 FAQ 答复：用时 {first["hours"]:g} 小时（{verdict}）</span>')
            else:
                answer = (f'<span{" class=overdue" if first["overdue"] else ""}>'
                          f'尚无 FAQ 答复，已过 {first["hours"]:g} 小时'
                          f'{"，已超 24 小时" if first["overdue"] else ""}</span>')
            others = [e for e in item["examples"] if e != item["question"]]
            sample = f"<small>也问作：{escape('；'.join(others))}</small><br>" if others else ""
            where = f"<small>账号 {escape(item['account'])}</small> " if len({i["account"] for i in items}) > 1 else ""
            rows.append(
                f'<li data-count="{item["last_day"]}" data-usual="{item["usual_per_day"]}" '
                f'data-answered="{"yes" if first["answered"] else "no"}" data-hours="{first["hours"]}">'
                f'<div class="q"><span>{escape(item["question"])}</span><b>{item["last_day"]}</b></div>'
                f"{sample}<small>近 24 小时 {item['last_day']} 次，平时每天约 {item['usual_per_day']:g} 次；"
                f"始于 {_local_time(item['started_at'])}</small> {where}<br>{answer}</li>"
            )
        body = f'<ol class="surges">{"".join(rows)}</ol>'
    return (
        '<section id="surges"><h2>热点问题（24 小时内答复）</h2>'
        f'<p class="note">未解答的问题按相似度归并：近 24 小时至少 {MIN_COUNT} 次且不少于平时每天的 '
        f"{RATIO:g} 倍即为热点；请在 24 小时内补充 FAQ 答复（wxbot kb unanswered --surge 给出可粘贴的 YAML）。</p>"
        f"{body}</section>"
    )


def _share_of(part: int, whole: int) -> str:
    return "" if not whole else f"<small>（{part * 100 / whole:.0f}%）</small>"


def _reach(items: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """Per campaign: targeted → sent → delivered → opened → consulted → unsubscribed, and the
    10-day reach (delivered / targeted) against the 75% target, marked when below it."""
    if not items:
        body = '<p class="note">还没有发送过推送活动（wxbot push send）。</p>'
    else:
        columns = ("活动", "目标", "已发送", "已送达", "打开链接", "10 天内咨询该主题", "退订", "10 天到达率")
        head = "".join(f"<th>{h}</th>" for h in columns)
        rows = []
        for item in items:
            targeted = item["targeted"]
            value = item["reach_10d"]
            target = item["target"]
            below = value is not None and value < target
            flag = ('<span class="flag below">低于目标</span>' if below
                    else '<span class="flag met">达标</span>' if value is not None else "")
            started = item["first_sent_at"]
            age = ""
            if started:
                days = (now - datetime.fromisoformat(started)).days
                age = f"<br><small>发送后第 {days + 1} 天</small>" if days < 10 else "<br><small>已满 10 天</small>"
            names = "、".join(item["topic_names"]) or "、".join(item["topics"])
            label = escape(item["title"]) + (f"<br><small>{escape(names)}</small>" if names else "")
            rows.append(
                f'<tr class="{"below" if below else "met"}" data-campaign="{escape(item["campaign"])}" '
                f'data-account="{escape(item["account"])}" data-reach="{"" if value is None else value}">'
                f"<td>{label}</td><td>{targeted}</td>"
                f'<td>{item["sent"]}{_share_of(item["sent"], targeted)}</td>'
                f'<td>{item["delivered"]}{_share_of(item["delivered"], targeted)}'
                f'{f"<br><small>未送达 {failed}</small>" if (failed := item.get("failed", 0)) else ""}</td>'
                f'<td>{item["opened"]}{_share_of(item["opened"], targeted)}</td>'
                f'<td>{item["consulted"]}{_share_of(item["consulted"], targeted)}</td>'
                f'<td>{item["unsubscribed"]}</td>'
                f'<td class="reach">{_pct(value)}{flag}{age}</td></tr>'
            )
        body = (f'<div class="scroll"><table class="compare"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table></div>')
    return (
        '<section id="reach" class="wide"><h2>政策推送到达</h2>'
        '<p class="note">10 天到达率 = 已送达 / 目标（目标 ≥ 75%，重点政策 10 天内到达受众）。'
        "目标为订阅了该主题的市民（不含频次上限排除的）；已送达以微信回报为准；"
        "打开为签名链接的首次打开；咨询为发送后 10 天内问过该主题的人数。</p>"
        f"{body}</section>"
    )


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
    reach: Sequence[Mapping[str, Any]] | None = None,
    surges: Mapping[str, Any] | None = None,
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
{_surges(surges, now) if surges is not None else ""}
{_reach(reach, now) if reach is not None else ""}
{_tickets(tickets)}
<section id="unanswered"><h2>未解答的问题</h2>
<p class="note">按相似度归并，建议补充到知识库（wxbot kb unanswered）。</p>
{_unanswered(data["top_unanswered"])}</section>
</main>
<footer>数据来自对话日志；用户标识已做假名化处理，身份证号、手机号、银行卡号已脱敏。</footer>
</body></html>"""
