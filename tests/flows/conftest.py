"""Shared fixtures for flow tests: the sample flows, a fixed clock and recording services."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.registry import FlowRegistry, load_flows
from flows.schema import Flow
from handlers.ports import EndpointResult
from tests.fakes.bookings import MemoryBook

SHANGHAI = ZoneInfo("Asia/Shanghai")
FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"
# A Thursday; 11-28/29 are the weekend, 12-02 is next Wednesday.
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


class RecordingServices(MemoryBook):
    """Records every ticket and endpoint call; endpoint answers are set per test.

    Bookings follow the database's rules in memory (tests.fakes.bookings) and are recorded as tickets.
    """

    def __init__(self, endpoint: EndpointResult | None = None, ticket_error: Exception | None = None) -> None:
        super().__init__()
        self.tickets: list[tuple[str, str, dict[str, str]]] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.endpoint = endpoint or EndpointResult(
            True, {"item": "居住证办理", "status": "审核中", "detail": "预计3个工作日内办结"}
        )
        self.ticket_error = ticket_error

    def _ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        if self.ticket_error is not None:
            raise self.ticket_error
        self.tickets.append((flow_id, openid, dict(fields)))
        return super()._ticket(flow_id, openid, fields)

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        self.calls.append((name, dict(params)))
        return self.endpoint


def always_confirming(flow: Flow) -> Flow:
    """`flow` with a confirmation every time (`confirm.when: always`): the confirmation step's own
    behaviour (corrections, 返回, retry) is tested on it, whatever the sample flow's policy is."""
    assert flow.confirm is not None
    return flow.model_copy(update={"confirm": flow.confirm.model_copy(update={"when": "always"})})


def asking_every_step(flow: Flow) -> Flow:
    """`flow` with every slot required, so that each of its steps asks (the sample licence guide
    asks only the enterprise type): moving between steps (返回 across steps) is tested on it."""
    slots = {name: slot.model_copy(update={"required": True}) for name, slot in flow.slots.items()}
    return flow.model_copy(update={"slots": slots})


@pytest.fixture(scope="session")
def registry() -> FlowRegistry:
    return load_flows(FLOWS_DIR)


@pytest.fixture
def services() -> RecordingServices:
    return RecordingServices()
