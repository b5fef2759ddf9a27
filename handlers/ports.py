"""Ports: the I/O that handlers need, declared here and implemented in `app/`.

Handlers call these through `HandlerContext.services`; tests pass recording fakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EndpointResult:
    ok: bool
    data: Mapping[str, object]
    # "timeout" | "unavailable" | "bad_response" when not ok.
    error: str = ""


class Services(Protocol):
    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        """Store a ticket and return its readable number, e.g. `20261126-0012`."""
        ...

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        """Call a configured HTTP endpoint with its timeout; never raises for network errors."""
        ...
