"""The reach and surge panels through the router: the account filter, the below-target mark, surges on load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.db import subscriptions
from app.ops.router import ReachSource, build_ops_router
from app.push import store
from app.push.overview import campaign_reaches
from app.turnlog.privacy import Pseudonymiser
from knowledge.loader import load_knowledge
from knowledge.topics import load_topics
from tests.ops.seed import CAMPAIGNS, SURGE_QUESTION, seed_push

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
TOKEN = "a-very-long-admin-token"
KEY = b"panel-key"
ROOT = Path(__file__).resolve().parents[2]


def require_admin(authorization: str | None = Header(None)) -> None:
    if authorization != f"Bearer {TOKEN}":
        raise HTTPException(401)


def _client(engine: Engine, campaigns: Path, accounts: dict[str, str] | None = None) -> TestClient:
    topics = load_topics(ROOT / "knowledge" / "topics.yaml")
    entries = list(load_knowledge(ROOT / "knowledge").entries)

    def source(db: Engine, account: str | None) -> list[dict[str, Any]]:
        return [r.as_dict() for r in campaign_reaches(
            db, account, campaigns_dir=campaigns, topics_of=lambda _a: topics, entries_of=lambda _a: entries,
            pseudonym=Pseudonymiser(KEY),
        )]

    def reaches() -> ReachSource:
        return source

    app = FastAPI()
    app.include_router(build_ops_router(engine=lambda: engine, require_admin=require_admin, clock=lambda: NOW,
                                        accounts=accounts, reaches=reaches))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def _campaigns(tmp_path: Path) -> Path:
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for name, text in CAMPAIGNS.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def test_the_panel_marks_the_campaign_below_75_percent(engine: Engine, tmp_path: Path) -> None:
    seed_push(engine, NOW, KEY)
    html = _client(engine, _campaigns(tmp_path)).get("/ops?days=7").text
    assert 'id="reach"' in html
    assert 'class="below" data-campaign="gjj-rate-2027" data-account="default" data-reach="0.6"' in html
    assert 'class="met" data-campaign="shebao-base-2027" data-account="default" data-reach="1.0"' in html
    assert html.count("低于目标") == 1 and "未送达 1" in html
    # The surges are detected when the page loads (no watch here): the seeded one, answered in 6 hours.
    assert 'id="surges"' in html and SURGE_QUESTION in html and 'data-hours="6.0"' in html
    assert "<script" not in html


def test_the_account_filter_applies_to_the_reach_panel(engine: Engine, tmp_path: Path) -> None:
    for account, campaign in (("city", "gjj-rate-2027"), ("county", "shebao-base-2027")):
        subscriptions.subscribe(engine, f"{account}-o1", "gongjijin", account=account)
        store.add_recipients(engine, campaign, "template", [f"{account}-o1"], store.PENDING, NOW, account=account)
    client = _client(engine, _campaigns(tmp_path), accounts={"city": "市本级", "county": "县"})
    city = client.get("/ops?account=city").text
    assert 'data-campaign="gjj-rate-2027" data-account="city"' in city and "shebao-base-2027" not in city
    both = client.get("/ops").text
    assert 'data-account="city"' in both and 'data-account="county"' in both


def test_no_campaigns_says_so(engine: Engine, tmp_path: Path) -> None:
    html = _client(engine, _campaigns(tmp_path)).get("/ops").text
    assert "还没有发送过推送活动" in html and "目前没有突然增多的未解答问题" in html
