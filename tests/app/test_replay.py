"""Replays inside the timestamp window are recognised for the whole window (issue 15).

The dedup record (with the reply, for WeChat's retries) lives `DEDUP_TTL_S`; the timestamp
window is longer. The same signed bytes re-sent after the dedup record expired filed a second
ticket. A small replay record (signature + nonce + timestamp) now lives as long as the window.
"""

from __future__ import annotations

import asyncio

from tests.app.conftest import Harness, HarnessFactory

OPENID = "o_replayer_0001"


async def test_the_same_signed_delivery_resent_after_the_dedup_record_expired_is_not_processed_again(
    harness_factory: HarnessFactory,
) -> None:
    h: Harness = await harness_factory(dedup_ttl_s=0.2, timestamp_window_s=300)
    delivery = h.sim.deliver(h.sim.text(OPENID, "社保卡丢了怎么补办"))
    first = await h.post(delivery)
    assert first.status_code == 200 and "<Content>" in first.text
    await asyncio.sleep(0.4)  # the dedup record is gone; the request is still inside the window
    replayed = await h.post(delivery)
    assert replayed.status_code == 200
    assert replayed.text == "success"
    assert [r.route for r in h.sink.records] == ["faq", "duplicate"]


async def test_a_retry_within_the_dedup_ttl_still_gets_the_identical_reply(harness: Harness) -> None:
    delivery = harness.sim.deliver(harness.sim.text(OPENID, "社保卡丢了怎么补办"))
    first = await harness.post(delivery)
    again = await harness.post(delivery)
    assert first.text == again.text and "<Content>" in again.text


async def test_a_new_signature_for_the_same_message_is_still_deduplicated(harness: Harness) -> None:
    fields = harness.sim.text(OPENID, "社保卡丢了怎么补办")
    first = await harness.post(harness.sim.deliver(fields, nonce="n1"))
    again = await harness.post(harness.sim.deliver(fields, nonce="n2"))
    assert first.text == again.text
