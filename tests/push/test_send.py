"""`wxbot push send`'s job against the fake WeChat API: once per citizen, errors counted, resumable."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.db import subscriptions
from app.push import send as push_send
from app.push import store
from app.services import AppServices
from knowledge.campaigns import Campaign, load_campaign, parse_quiet
from tests.fakes.fake_wechat import FakeWeChat
from tests.wxapi.conftest import ClientFactory

# 10:00 in Beijing: outside the default quiet hours.
DAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _campaign(tmp_path: Path, extra: str = "", name: str = "gjj.yaml") -> Campaign:
    path = tmp_path / name
    path.write_text(
        "title: 公积金新政\ntopics: [gjj]\nchannel: template\ntemplate_id: TPL\ncontent: 利率下调。\n"
        "rate_per_second: 1000\n" + extra,
        encoding="utf-8",
    )
    return load_campaign(path)


def _subscribe(engine: Engine, n: int, topic: str = "gjj") -> list[str]:
    openids = [f"o_{i:04d}" for i in range(n)]
    for openid in openids:
        subscriptions.subscribe(engine, openid, topic)
    return openids


def _received(wechat: FakeWeChat) -> Counter[str]:
    return Counter(str(body["touser"]) for body in wechat.templates)


def clock(at: datetime = DAY) -> Any:
    return lambda: at


async def test_every_subscriber_gets_one_template_message(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    openids = _subscribe(engine, 25)
    subscriptions.offer(engine, "o_offered_only", "gjj")
    seen: list[tuple[int, int]] = []
    summary = await push_send.send(engine, make_client(), _campaign(tmp_path), clock=clock(),
                                   progress=lambda done, total: seen.append((done, total)))
    assert _received(wechat) == Counter(openids)
    assert (summary.targeted, summary.sent, summary.stopped) == (25, 25, "")
    assert seen[-1] == (25, 25)
    # A second run sends nothing again.
    again = await push_send.send(engine, make_client(), _campaign(tmp_path), clock=clock())
    assert again.sent == 25 and len(wechat.templates) == 25


async def test_refusals_and_limits_are_counted_and_a_limited_citizen_is_retried_next_run(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    openids = _subscribe(engine, 6)
    wechat.refuse_user(openids[0], 43004)
    wechat.refuse_user(openids[1], 43101)
    campaign = _campaign(tmp_path)
    # The third call answers 45047 (this citizen's quota for now).
    client = make_client()
    original = client.send_template
    calls = 0

    async def flaky(openid: str, *args: Any, **kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        if openid == openids[2] and calls < 5:
            wechat.fail_next("template_send", 45047)
        return await original(openid, *args, **kwargs)

    client.send_template = flaky  # type: ignore[method-assign]
    summary = await push_send.send(engine, client, campaign, clock=clock())
    assert (summary.sent, summary.blocked, summary.limited) == (3, 2, 1)
    assert summary.errcodes == {43004: 1, 43101: 1, 45047: 1}
    retried = await push_send.send(engine, make_client(), campaign, clock=clock())
    assert (retried.sent, retried.blocked, retried.limited) == (4, 2, 0)
    assert _received(wechat) == Counter(openids[2:])


async def test_the_daily_quota_stops_the_job_and_the_next_run_goes_on(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    openids = _subscribe(engine, 10)
    campaign = _campaign(tmp_path)
    client = make_client()
    original = client.send_template
    sent = 0

    async def quota_after_four(openid: str, *args: Any, **kwargs: Any) -> str:
        nonlocal sent
        sent += 1
        if sent == 5:
            wechat.fail_next("template_send", 45009)
        return await original(openid, *args, **kwargs)

    client.send_template = quota_after_four  # type: ignore[method-assign]
    first = await push_send.send(engine, client, campaign, clock=clock())
    assert (first.stopped, first.sent, first.errcodes) == ("daily_quota", 4, {45009: 1})
    second = await push_send.send(engine, make_client(), campaign, clock=clock(DAY + timedelta(days=1)))
    assert (second.stopped, second.sent) == ("", 10)
    assert _received(wechat) == Counter(openids)


class Killed(BaseException):
    """What SIGKILL is to the job: nothing after it runs, no except clause catches it."""


async def test_a_kill_mid_send_and_a_resume_message_nobody_twice_and_skip_nobody(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    openids = _subscribe(engine, 30)
    campaign = _campaign(tmp_path)
    services = AppServices(engine=engine, endpoints={})
    # Killed twice: once right after WeChat accepted a message (before it was recorded), once
    # after claiming a row but before calling WeChat.
    for kill_after_call, at in ((True, 7), (False, 19)):
        client = make_client()
        original = client.send_template
        calls = 0

        async def dying(openid: str, *args: Any, _orig: Any = original, _after: bool = kill_after_call,
                        _at: int = at, **kwargs: Any) -> str:
            nonlocal calls
            calls += 1
            if len(wechat.templates) + 1 == _at:
                if _after:
                    await _orig(openid, *args, **kwargs)
                raise Killed
            return str(await _orig(openid, *args, **kwargs))

        client.send_template = dying  # type: ignore[method-assign]
        with pytest.raises(Killed):
            await push_send.send(engine, client, campaign, clock=clock())
    # WeChat reports each accepted template message; the one the kill left unrecorded is found by it.
    for body in wechat.templates:
        await services.record_push_result(
            str(body["touser"]), "templatesendjobfinish",
            {"MsgID": str(wechat.templates.index(body) + 200001), "Status": "success"},
        )
    # Resumed at once: the unrecorded claims are not resent blindly …
    resumed = await push_send.send(engine, make_client(), campaign, clock=clock())
    assert resumed.unknown == 1
    # … and once WeChat has had time to report, the claim it never reported is sent.
    later = await push_send.send(engine, make_client(), campaign, clock=clock(DAY + timedelta(minutes=11)))
    assert (later.sent, later.unknown) == (30, 0)
    assert _received(wechat) == Counter(openids)
    await services.close()


async def test_the_frequency_cap_removes_citizens_pushed_this_week(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    openids = _subscribe(engine, 4)
    subscriptions.subscribe(engine, openids[0], "sb")
    first = _campaign(tmp_path, name="first.yaml")
    await push_send.send(engine, make_client(), first, clock=clock())
    second = _campaign(tmp_path, name="second.yaml")
    summary = await push_send.send(engine, make_client(), second, clock=clock(DAY + timedelta(days=3)))
    assert (summary.capped, summary.sent) == (4, 0)
    third = _campaign(tmp_path, name="third.yaml")
    after_a_week = await push_send.send(engine, make_client(), third, clock=clock(DAY + timedelta(days=8)))
    assert after_a_week.sent == 4


async def test_nothing_is_sent_in_quiet_hours(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    _subscribe(engine, 3)
    night = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    summary = await push_send.send(engine, make_client(), _campaign(tmp_path), clock=clock(night))
    assert summary.stopped == "quiet" and wechat.templates == []


async def test_a_mass_send_tags_the_subscribers_and_is_never_sent_twice(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    openids = _subscribe(engine, 120)
    # Two who unsubscribed since an earlier send are still in the tag: they are taken out.
    wechat.tags[101] = {"o_gone_1", "o_gone_2", openids[0]}
    path = tmp_path / "mass.yaml"
    path.write_text("title: 新政\ntopics: [gjj]\nchannel: mass\ntag_id: 101\ncontent: 利率下调。\n", encoding="utf-8")
    campaign = load_campaign(path)
    client = make_client()
    original = client.mass_send_to_tag

    async def dies_after_sending(*args: Any, **kwargs: Any) -> str:
        await original(*args, **kwargs)
        raise Killed

    client.mass_send_to_tag = dies_after_sending  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await push_send.send(engine, client, campaign, clock=clock())
    summary = await push_send.send(engine, make_client(), campaign, clock=clock())
    assert len(wechat.mass) == 1 and wechat.mass[0]["filter"] == {"is_to_all": False, "tag_id": 101}
    assert wechat.tags[101] == set(openids)
    assert summary.sent == 120 and summary.errcodes == {45065: 1}
    services = AppServices(engine=engine, endpoints={})
    await services.record_push_result("gh", "masssendjobfinish", {
        "MsgID": "3001", "Status": "sendsuccess", "TotalCount": "120", "FilterCount": "118",
        "SentCount": "117", "ErrorCount": "1",
    })
    row = store.mass_row(engine, campaign.id)
    assert row is not None and (row.msg_id, row.sent_count, row.filter_count) == ("3001", 117, 118)
    await services.close()


def test_quiet_hours_that_do_not_cross_midnight() -> None:
    quiet = parse_quiet("12:00-14:00")
    assert quiet.contains(datetime(2026, 12, 7, 5, 0, tzinfo=UTC))  # 13:00 Beijing
    assert not quiet.contains(datetime(2026, 12, 7, 7, 0, tzinfo=UTC))



async def test_with_a_public_address_the_message_links_through_our_signed_link(
    engine: Engine, wechat: FakeWeChat, make_client: ClientFactory, tmp_path: Path
) -> None:
    _subscribe(engine, 2)
    campaign = _campaign(tmp_path, "url: https://example.gov.cn/p/1\n")
    await push_send.send(engine, make_client(), campaign, clock=clock(), link=lambda row_id: f"https://bot/r/{row_id}")
    assert sorted(body["url"] for body in wechat.templates) == ["https://bot/r/1", "https://bot/r/2"]
