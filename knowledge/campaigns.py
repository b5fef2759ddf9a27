"""Campaigns (issue 19): `campaigns/*.yaml`, validated like the rest of the content (file:line errors),
and the pure arithmetic of planning one — who the frequency cap removes, when quiet hours let it start.

    title: 2027 年公积金贷款利率调整
    topics: [gongjijin]
    channel: template          # template: a template message to each subscriber; subscribe: a subscription
                               # notice (订阅通知, bizsend) to each subscriber; mass: a mass send to a tag
    template_id: TPL_POLICY    # template and subscribe only
    tag_id: 101                # mass only: the tag kept in sync with the topic's subscribers
    content: 自 1 月 1 日起……
    url: https://example.gov.cn/policy/1     # optional
    schedule: 2026-12-08 10:00               # optional, Beijing time; default: now
    quiet_hours: "22:00-08:00"               # default
    frequency_cap: {count: 1, days: 7}       # per citizen, across campaigns; default one a week
    rate_per_second: 20                      # default
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from yaml.nodes import MappingNode, Node, ScalarNode

from knowledge.errors import KnowledgeError, Problem
from knowledge.loader import _compose_file, _Ctx, _mapping, _text, _text_list

TZ = ZoneInfo("Asia/Shanghai")
KEYS = (
    "title", "topics", "channel", "template_id", "tag_id", "content", "url", "schedule", "quiet_hours",
    "frequency_cap", "rate_per_second",
)
CHANNELS = ("template", "subscribe", "mass")
DEFAULT_QUIET = "22:00-08:00"
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# WeChat: a 服务号 may mass-send each follower four messages a month.
MASS_PER_MONTH = 4

Channel = Literal["template", "subscribe", "mass"]


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    def contains(self, at: datetime) -> bool:
        t = at.astimezone(TZ).time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours it falls in."""
        if not self.contains(at):
            return at
        local = at.astimezone(TZ)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return end if end > local else end + timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    title: str
    topics: tuple[str, ...]
    channel: Channel
    content: str
    template_id: str = ""
    tag_id: int = 0
    url: str = ""
    schedule: datetime | None = None
    quiet: QuietHours = field(default_factory=lambda: parse_quiet(DEFAULT_QUIET))
    cap_count: int = 1
    cap_days: int = 7
    rate_per_second: float = 20.0


def parse_quiet(value: str) -> QuietHours:
    m = _HOURS.match(value.strip())
    if m is None:
        raise ValueError(value)
    return QuietHours(time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4])))


def _int(node: Node, ctx: _Ctx, name: str, low: int, high: int) -> int | None:
    if isinstance(node, ScalarNode) and re.fullmatch(r"\d+", node.value.strip()):
        value = int(node.value)
        if low <= value <= high:
            return value
    ctx.error(node, f"字段 {name} 应为 {low} 到 {high} 之间的整数")
    return None


def load_campaign(path: Path, *, topics: Collection[str] | None = None) -> Campaign:
    """One campaign file; every problem found is raised together, each with file:line."""
    ctx = _Ctx(path.name, [])
    root = _compose_file(path, ctx)
    campaign = None if root is None else _campaign(path.stem, root, ctx, topics)
    if ctx.problems or campaign is None:
        raise KnowledgeError(ctx.problems or [Problem(ctx.file, 0, "文件为空")])
    return campaign


def _campaign(stem: str, root: Node, ctx: _Ctx, known_topics: Collection[str] | None) -> Campaign | None:
    if not _ID.match(stem):
        ctx.problems.append(Problem(ctx.file, 0, "文件名只能包含字母、数字、. - _（它就是活动编号）"))
    fields = _mapping(root, ctx, KEYS, "活动")
    if fields is None:
        return None
    for key in ("title", "topics", "channel", "content"):
        if key not in fields:
            ctx.error(root, f"活动缺少 {key}")
    title = _text(fields["title"], ctx, "title") if "title" in fields else None
    content = _text(fields["content"], ctx, "content") if "content" in fields else None
    topics = _text_list(fields["topics"], ctx, "topics") if "topics" in fields else []
    if "topics" in fields and not topics:
        ctx.error(fields["topics"], "topics 至少需要一个主题")
    if known_topics is not None:
        for topic in topics:
            if topic not in known_topics:
                ctx.error(fields["topics"], f"主题 {topic!r} 不存在于 topics.yaml")
    channel = _text(fields["channel"], ctx, "channel") if "channel" in fields else None
    if channel is not None and channel not in CHANNELS:
        ctx.error(fields["channel"], f"channel 应为 {' 或 '.join(CHANNELS)}，实际为 {channel!r}")
        channel = None
    template_id = _text(fields["template_id"], ctx, "template_id") or "" if "template_id" in fields else ""
    tag_id = _int(fields["tag_id"], ctx, "tag_id", 1, 2**31) or 0 if "tag_id" in fields else 0
    if channel in ("template", "subscribe") and not template_id:
        ctx.error(root, f"channel 为 {channel} 时需要 template_id（模板消息或订阅通知的模板编号）")
    if channel == "mass" and not tag_id:
        ctx.error(root, "channel 为 mass 时需要 tag_id（与订阅同步的用户标签）")
    url = _text(fields["url"], ctx, "url") or "" if "url" in fields else ""
    if url and not url.startswith(("https://", "http://")):
        ctx.error(fields["url"], "url 应以 https:// 开头")
    schedule = None
    if "schedule" in fields:
        raw = _text(fields["schedule"], ctx, "schedule")
        try:
            schedule = datetime.fromisoformat(raw).replace(tzinfo=TZ) if raw else None
        except ValueError:
            ctx.error(fields["schedule"], f"schedule 应为 YYYY-MM-DD HH:MM（北京时间），实际为 {raw!r}")
    quiet = parse_quiet(DEFAULT_QUIET)
    if "quiet_hours" in fields:
        raw = _text(fields["quiet_hours"], ctx, "quiet_hours") or ""
        try:
            quiet = parse_quiet(raw)
        except ValueError:
            ctx.error(fields["quiet_hours"], f"quiet_hours 应为 HH:MM-HH:MM，例如 22:00-08:00，实际为 {raw!r}")
    cap_count, cap_days = 1, 7
    if "frequency_cap" in fields:
        node = fields["frequency_cap"]
        cap = _mapping(node, ctx, ("count", "days"), "frequency_cap") if isinstance(node, MappingNode) else None
        if cap is None:
            if not isinstance(node, MappingNode):
                ctx.error(node, "frequency_cap 应为 {count: 1, days: 7}")
        else:
            cap_count = _int(cap["count"], ctx, "frequency_cap.count", 1, 100) or 1 if "count" in cap else 1
            cap_days = _int(cap["days"], ctx, "frequency_cap.days", 1, 365) or 7 if "days" in cap else 7
    rate = 20.0
    if "rate_per_second" in fields:
        rate = float(_int(fields["rate_per_second"], ctx, "rate_per_second", 1, 1000) or 20)
    if title is None or content is None or channel is None or not topics:
        return None
    return Campaign(
        id=stem, title=title, topics=tuple(topics), channel=channel,  # type: ignore[arg-type]
        content=content, template_id=template_id, tag_id=tag_id, url=url, schedule=schedule, quiet=quiet,
        cap_count=cap_count, cap_days=cap_days, rate_per_second=rate,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """A dry run: who would be sent to, who the cap removes, and when it would start and end."""

    campaign: str
    channel: Channel
    audience: int
    capped: int
    already: int
    to_send: int
    start_at: datetime
    end_at: datetime
    # The schedule fell in quiet hours and was moved to their end.
    deferred: bool
    capped_ids: Sequence[str] = ()


def plan(
    campaign: Campaign, audience: Sequence[str], recent: Mapping[str, int], already: Collection[str], now: datetime
) -> Plan:
    """`recent`: pushes each citizen got within the cap window (other campaigns); `already`: this
    campaign's rows from an earlier (interrupted) run, which the send resumes rather than repeats."""
    todo = [o for o in audience if o not in already]
    capped = [o for o in todo if recent.get(o, 0) >= campaign.cap_count]
    to_send = len(todo) - len(capped)
    wanted = max(campaign.schedule or now, now)
    start = campaign.quiet.next_allowed(wanted)
    return Plan(
        campaign=campaign.id, channel=campaign.channel, audience=len(audience), capped=len(capped),
        already=len(audience) - len(todo), to_send=to_send, start_at=start,
        end_at=finish_time(campaign, start, to_send), deferred=start != wanted, capped_ids=capped,
    )


def finish_time(campaign: Campaign, start: datetime, count: int) -> datetime:
    """When `count` sends at the campaign's rate end, pausing through quiet hours."""
    if campaign.channel == "mass":
        return start
    left = count / campaign.rate_per_second
    at = start
    for _ in range(400):
        at = campaign.quiet.next_allowed(at)
        local = at.astimezone(TZ)
        quiet_start = local.replace(hour=campaign.quiet.start.hour, minute=campaign.quiet.start.minute,
                                    second=0, microsecond=0)
        if quiet_start <= local:
            quiet_start += timedelta(days=1)
        window = (quiet_start - local).total_seconds()
        if left <= window:
            return at + timedelta(seconds=math.ceil(left))
        left -= window
        at = quiet_start
    return at
