"""The dashboard across several accounts (issue 16): an account filter and the city-wide comparison."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.ops.router import build_ops_router
from app.turnlog.rows import to_row
from app.turnlog.store import insert_rows
from tests.ops.test_router import NOW, TOKEN, require_admin
from tests.turnlog.records import record

ACCOUNTS = {"rsj": "市人社局", "gjj": "市公积金中心"}


def client_for(engine: Engine) -> TestClient:
    app = FastAPI()
    app.include_router(
        build_ops_router(engine=lambda: engine, require_admin=require_admin, clock=lambda: NOW, accounts=ACCOUNTS)
    )
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def seed(engine: Engine) -> None:
    at = NOW - timedelta(hours=1)
    rows = [
        record(0, account="rsj", openid="a", received_at=at),
        record(1, account="rsj", openid="b", received_at=at),
        record(2, account="rsj", openid="c", received_at=at, route="fallback", faq_id="", text="公积金怎么转到外地"),
        record(3, account="gjj", openid="d", received_at=at, route="fallback", faq_id="", text="公积金怎么转去外地啊"),
    ]
    insert_rows(engine, [to_row(f"r{i}", r, b"k") for i, r in enumerate(rows)])


def test_the_comparison_lists_every_account_with_its_figures(engine: Engine) -> None:
    seed(engine)
    html = client_for(engine).get("/ops?days=1&token=t").text
    assert 'id="compare"' in html
    assert '<tr data-account="rsj"><td>市人社局</td><td>3</td>' in html
    assert '<tr data-account="gjj"><td>市公积金中心</td><td>1</td>' in html
    assert "多个账号共有的未解答问题" in html and "rsj 1、gjj 1" in html


def test_the_account_filter_shows_one_accounts_figures(engine: Engine) -> None:
    seed(engine)
    client = client_for(engine)
    html = client.get("/ops?days=1&account=gjj&token=t").text
    assert "服务号运营看板 · 市公积金中心" in html
    assert 'id="compare"' not in html
    assert '<div class="kpi"><b>1</b><span>消息投递</span></div>' in html
    # The filter links keep the other parameters and switch only the account; never a token
    # (issue 15: the query token is traded for a cookie and dropped from every link).
    assert "days=1&amp;account=rsj" in html
    assert "token" not in html


def test_an_unknown_account_shows_all_accounts(engine: Engine) -> None:
    seed(engine)
    html = client_for(engine).get("/ops?days=1&account=nobody").text
    assert '<div class="kpi"><b>4</b><span>消息投递</span></div>' in html
