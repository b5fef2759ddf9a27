"""Store keys carry the account, so two accounts' identical OpenIDs never share state (issue 16)."""

from __future__ import annotations

from app.stores import keys


def test_per_user_keys_differ_between_accounts_for_the_same_openid() -> None:
    for build in (keys.session, keys.user_lock):
        assert build("rsj", "o1") != build("gjj", "o1")
    assert keys.rate("rsj", "o1", 7) != keys.rate("gjj", "o1", 7)


def test_dedup_keys_differ_between_appids_for_the_same_msgid() -> None:
    assert keys.dedup("wx1", "123") != keys.dedup("wx2", "123")
