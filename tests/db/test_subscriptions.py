"""Subscriptions on SQLite and PostgreSQL: subscribe, unsubscribe, list, and an offer made only once."""

from __future__ import annotations

from sqlalchemy import Engine

from app.db import subscriptions


def test_subscribing_twice_says_the_second_time_is_not_new(engine: Engine) -> None:
    assert subscriptions.subscribe(engine, "o1", "gjj") is True
    assert subscriptions.subscribe(engine, "o1", "gjj") is False
    assert subscriptions.subscribed_topics(engine, "o1") == ["gjj"]


def test_an_offer_is_made_once_and_never_after_a_subscription(engine: Engine) -> None:
    assert subscriptions.offer(engine, "o1", "gjj") is True
    assert subscriptions.offer(engine, "o1", "gjj") is False
    # Taking the offer later still subscribes.
    assert subscriptions.subscribe(engine, "o1", "gjj") is True
    assert subscriptions.offer(engine, "o2", "sb") is True
    subscriptions.subscribe(engine, "o3", "sb")
    assert subscriptions.offer(engine, "o3", "sb") is False


def test_unsubscribing_one_topic_or_all(engine: Engine) -> None:
    for topic in ("gjj", "sb", "tax"):
        subscriptions.subscribe(engine, "o1", topic)
    assert subscriptions.unsubscribe(engine, "o1", "sb") == ["sb"]
    assert subscriptions.unsubscribe(engine, "o1", "sb") == []
    assert subscriptions.unsubscribe(engine, "o1", None) == ["gjj", "tax"]
    assert subscriptions.subscribed_topics(engine, "o1") == []
    # An unsubscribed citizen is never offered the topic again, but may subscribe again.
    assert subscriptions.offer(engine, "o1", "gjj") is False
    assert subscriptions.subscribe(engine, "o1", "gjj") is True


def test_subscribers_are_per_account_and_listed_once(engine: Engine) -> None:
    subscriptions.subscribe(engine, "o1", "gjj")
    subscriptions.subscribe(engine, "o1", "sb")
    subscriptions.subscribe(engine, "o2", "sb")
    subscriptions.subscribe(engine, "o3", "sb", account="other")
    subscriptions.offer(engine, "o4", "sb")
    assert subscriptions.subscribers(engine, ["gjj", "sb"]) == ["o1", "o2"]
    assert subscriptions.subscribers(engine, ["sb"], account="other") == ["o3"]


def test_existing_finds_any_standing_of_each_citizen_with_each_topic(engine: Engine) -> None:
    assert subscriptions.existing(engine, [("default", "o1", "gjj")]) == set()
    subscriptions.offer(engine, "o1", "gjj")
    subscriptions.subscribe(engine, "o2", "gjj")
    subscriptions.subscribe(engine, "o3", "gjj")
    subscriptions.unsubscribe(engine, "o3", "gjj")
    subscriptions.subscribe(engine, "o4", "sb", account="other")
    asked = [("default", o, t) for o in ("o1", "o2", "o3", "o4") for t in ("gjj", "sb")]
    asked += [("other", "o1", "gjj"), ("other", "o4", "sb")]
    assert subscriptions.existing(engine, asked) == {
        ("default", "o1", "gjj"), ("default", "o2", "gjj"), ("default", "o3", "gjj"), ("other", "o4", "sb"),
    }
    assert subscriptions.existing(engine, []) == set()


def test_recorded_offers_are_offered_rows_and_leave_existing_rows_as_they_are(engine: Engine) -> None:
    subscriptions.subscribe(engine, "o1", "gjj")
    subscriptions.offer(engine, "o2", "gjj")
    subscriptions.record_offers(engine, [("default", "o1", "gjj"), ("default", "o2", "gjj"),
                                         ("default", "o3", "gjj"), ("other", "o1", "gjj")])
    # o1 stays subscribed; o3 and the other account's o1 were offered once and are never offered again.
    assert subscriptions.subscribed_topics(engine, "o1") == ["gjj"]
    assert subscriptions.offer(engine, "o3", "gjj") is False
    assert subscriptions.offer(engine, "o1", "gjj", account="other") is False
    assert subscriptions.subscribe(engine, "o3", "gjj") is True
    subscriptions.record_offers(engine, [])
