"""`AppServices`: endpoints called over real HTTP on 127.0.0.1, tickets numbered per day."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select

from app.db.engine import make_engine
from app.db.models import Base, Ticket
from app.services import AppServices, Endpoint, EndpointConfigError, parse_endpoints


def backend() -> FastAPI:
    app = FastAPI()
    seen: list[dict[str, str]] = []
    app.state.seen = seen

    @app.get("/progress")
    async def progress(number: str) -> JSONResponse:
        seen.append({"number": number})
        if number == "missing":
            return JSONResponse({"detail": "no such application"}, status_code=404)
        return JSONResponse({"item": "居住证办理", "status": "审核中"})

    @app.post("/progress")
    async def progress_post(body: dict[str, str]) -> JSONResponse:
        seen.append(body)
        return JSONResponse({"status": "已办结"})

    @app.get("/slow")
    async def slow() -> JSONResponse:
        await asyncio.sleep(0.6)
        return JSONResponse({})

    @app.get("/broken")
    async def broken() -> JSONResponse:
        return JSONResponse({"error": "boom"}, status_code=500)

    @app.get("/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("not json")

    return app


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(backend(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # bounded: a server that never starts fails the test, not hangs it
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def services(base_url: str, **endpoints: Endpoint) -> AppServices:
    return AppServices(engine=None, endpoints={"progress": Endpoint(f"{base_url}/progress", 1.0), **endpoints})


async def test_get_endpoint_returns_the_json_fields(base_url: str) -> None:
    svc = services(base_url)
    result = await svc.call_endpoint("progress", {"number": "SQ20261120000123"})
    await svc.close()
    assert result.ok and result.data == {"item": "居住证办理", "status": "审核中"}


async def test_post_endpoint_sends_json(base_url: str) -> None:
    svc = services(base_url, post=Endpoint(f"{base_url}/progress", 1.0, "POST"))
    result = await svc.call_endpoint("post", {"number": "A1"})
    await svc.close()
    assert result.ok and result.data == {"status": "已办结"}


async def test_404_means_not_found(base_url: str) -> None:
    svc = services(base_url)
    result = await svc.call_endpoint("progress", {"number": "missing"})
    await svc.close()
    assert result.ok and result.data == {"found": False}


async def test_slow_backend_is_a_timeout(base_url: str) -> None:
    errors: list[tuple[str, str]] = []
    svc = AppServices(
        engine=None,
        endpoints={"slow": Endpoint(f"{base_url}/slow", 0.2)},
        on_backend_error=lambda name, kind: errors.append((name, kind)),
    )
    result = await svc.call_endpoint("slow", {})
    await svc.close()
    assert (result.ok, result.error) == (False, "timeout")
    assert errors == [("slow", "timeout")]


async def test_failing_backend_is_unavailable(base_url: str) -> None:
    svc = services(base_url, broken=Endpoint(f"{base_url}/broken", 1.0))
    result = await svc.call_endpoint("broken", {})
    await svc.close()
    assert (result.ok, result.error) == (False, "unavailable")


async def test_unreachable_backend_is_unavailable() -> None:
    svc = AppServices(engine=None, endpoints={"down": Endpoint("http://127.0.0.1:9/progress", 1.0)})
    result = await svc.call_endpoint("down", {})
    await svc.close()
    assert (result.ok, result.error) == (False, "unavailable")


async def test_non_json_answer_is_a_bad_response(base_url: str) -> None:
    svc = services(base_url, text=Endpoint(f"{base_url}/text", 1.0))
    result = await svc.call_endpoint("text", {})
    await svc.close()
    assert (result.ok, result.error) == (False, "bad_response")


async def test_unconfigured_endpoint_is_unavailable() -> None:
    svc = AppServices(engine=None, endpoints={}, client=httpx.AsyncClient())
    result = await svc.call_endpoint("nowhere", {})
    await svc.close()
    assert (result.ok, result.error) == (False, "unavailable")


def test_endpoint_settings_are_validated() -> None:
    assert parse_endpoints({"progress": {"url": "http://127.0.0.1:9001/p", "timeout": 2}}) == {
        "progress": Endpoint("http://127.0.0.1:9001/p", 2.0, "GET")
    }
    with pytest.raises(EndpointConfigError):
        parse_endpoints({"progress": {"url": "ftp://x"}})
    with pytest.raises(EndpointConfigError):
        parse_endpoints({"progress": {"url": "http://x", "timeout": 0}})


async def test_memory_tickets_are_numbered_per_day() -> None:
    svc = AppServices(engine=None, endpoints={})
    first = await svc.create_ticket("booking", "o1", {"姓名": "张三"})
    second = await svc.create_ticket("complaint", "o2", {})
    await svc.close()
    assert first.endswith("-0001") and second.endswith("-0002") and first[:8] == second[:8]


async def test_database_tickets_go_through_the_repository() -> None:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    svc = AppServices(engine=engine, endpoints={})
    number = await svc.create_ticket("complaint", "o_user", {"问题类别": "服务态度"})
    await svc.close()
    with engine.connect() as conn:
        row = conn.execute(select(Ticket.number, Ticket.flow_id, Ticket.fields)).one()
    assert tuple(row) == (number, "complaint", {"问题类别": "服务态度"})


async def test_ticket_fields_never_keep_identity_numbers_but_keep_the_contact_mobile() -> None:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    svc = AppServices(engine=engine, endpoints={}, pseudonym_key=b"k")
    fields = {"具体情况": "我身份证110105.19900307.1234，卡号6222_0212_3456_7890被扣款", "联系电话": "13812345678"}
    await svc.create_ticket("complaint", "o_user", fields)
    await svc.close()
    with engine.connect() as conn:
        stored, user_id = conn.execute(select(Ticket.fields, Ticket.user_id)).one()
    assert stored == {"具体情况": "我身份证[身份证号]，卡号[银行卡号]被扣款", "联系电话": "13812345678"}
    from app.turnlog.privacy import pseudonym

    assert user_id == pseudonym(b"k", "o_user")
