"""`/metrics` can require a scrape token (METRICS_TOKEN); without one it is open, as documented."""

from __future__ import annotations

from tests.app.conftest import Harness, HarnessFactory

SCRAPE = "a-scrape-token-for-prometheus"


async def test_metrics_need_the_scrape_token_when_one_is_set(harness_factory: HarnessFactory) -> None:
    h: Harness = await harness_factory(metrics_token=SCRAPE)
    assert (await h.client.get("/metrics")).status_code == 401
    assert (await h.client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    ok = await h.client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert ok.status_code == 200 and "wxbot_turnlog_dropped_total" in ok.text


async def test_metrics_are_open_by_default(harness: Harness) -> None:
    assert (await harness.client.get("/metrics")).status_code == 200
