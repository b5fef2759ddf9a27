"""campaigns/*.yaml: defaults, file:line errors, and the plan's arithmetic (cap, quiet hours, timing)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from knowledge.campaigns import TZ, load_campaign, plan
from knowledge.errors import KnowledgeError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "gjj-rate.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = (
    "title: 公积金贷款利率调整\n"
    "topics: [gongjijin]\n"
    "channel: template\n"
    "template_id: TPL1\n"
    "content: 自明年1月1日起，首套房公积金贷款利率下调。\n"
)


def test_a_campaign_gets_the_default_quiet_hours_and_cap(tmp_path: Path) -> None:
    campaign = load_campaign(_write(tmp_path, GOOD), topics={"gongjijin"})
    assert campaign.id == "gjj-rate"
    assert str(campaign.quiet) == "22:00–08:00"
    assert (campaign.cap_count, campaign.cap_days) == (1, 7)


def test_the_shipped_example_campaigns_load() -> None:
    from knowledge.topics import load_topics

    topics = {t.id for t in load_topics(REPO / "knowledge" / "topics.yaml")}
    files = sorted((REPO / "campaigns").glob("*.yaml"))
    assert files
    for path in files:
        load_campaign(path, topics=topics)


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "title: 测试\n"
        "topics: [nope]\n"
        "channel: sms\n"
        "content: 内容\n"
        "quiet_hours: 晚上\n"
        "frequency_cap: {count: 0, days: 7}\n"
        "schedule: 明天\n"
        "colour: red\n"
    ))
    with pytest.raises(KnowledgeError) as caught:
        load_campaign(path, topics={"gongjijin"})
    shown = [str(p) for p in caught.value.problems]
    assert any(s.startswith("gjj-rate.yaml:2: 主题 'nope' 不存在") for s in shown)
    assert any(s.startswith("gjj-rate.yaml:3: channel 应为 template 或 subscribe 或 mass") for s in shown)
    assert any(s.startswith("gjj-rate.yaml:5: quiet_hours 应为") for s in shown)
    assert any(s.startswith("gjj-rate.yaml:6: 字段 frequency_cap.count") for s in shown)
    assert any(s.startswith("gjj-rate.yaml:7: schedule 应为") for s in shown)
    assert any(s.startswith("gjj-rate.yaml:8: 活动中有未知字段 'colour'") for s in shown)


def test_a_template_campaign_needs_a_template_and_a_mass_one_a_tag(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as caught:
        load_campaign(_write(tmp_path, "title: t\ntopics: [a]\nchannel: mass\ncontent: c\n"))
    assert "需要 tag_id" in str(caught.value)


def test_the_plan_removes_capped_citizens_and_resumes_rather_than_repeats(tmp_path: Path) -> None:
    campaign = load_campaign(_write(tmp_path, GOOD + "rate_per_second: 10\n"))
    now = datetime(2026, 12, 7, 10, 0, tzinfo=TZ)
    result = plan(campaign, ["a", "b", "c", "d"], {"b": 1}, {"d"}, now)
    assert (result.audience, result.capped, result.already, result.to_send) == (4, 1, 1, 2)
    assert result.start_at == now and not result.deferred
    assert (result.end_at - now).total_seconds() == 1


def test_a_schedule_in_quiet_hours_moves_to_their_end_and_a_long_send_pauses_through_them(tmp_path: Path) -> None:
    campaign = load_campaign(_write(tmp_path, GOOD + "schedule: 2026-12-07 23:30\nrate_per_second: 1\n"))
    now = datetime(2026, 12, 7, 10, 0, tzinfo=TZ)
    result = plan(campaign, [f"o{i}" for i in range(14 * 3600 + 60)], {}, set(), now)
    assert result.deferred and result.start_at == datetime(2026, 12, 8, 8, 0, tzinfo=TZ)
    # 14 h of sending fit between 08:00 and 22:00; the last minute waits for the next morning.
    assert result.end_at == datetime(2026, 12, 9, 8, 1, tzinfo=TZ)
