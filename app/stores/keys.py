"""Every store key a turn uses, built in one place so each carries its account (issue 16).

OpenIDs are per-AppID in WeChat, but two accounts' test users, a replayed fixture or a
misrouted delivery must still never share a session, a lock or a rate counter, so the account
id is part of every per-user key. Dedup keys carry the AppID with the MsgId: MsgIds are only
unique within one account.
"""

from __future__ import annotations


def session(account: str, openid: str) -> str:
    return f"session:{account}:{openid}"


def user_lock(account: str, openid: str) -> str:
    return f"user:{account}:{openid}"


def rate(account: str, openid: str, window: int) -> str:
    return f"rate:{account}:{openid}:{window}"


def dedup(appid: str, delivery: str) -> str:
    return f"dedup:{appid}:{delivery}"


def replay(appid: str, timestamp: str, nonce: str, signature: str) -> str:
    """The signed parameters of one request: seen again inside the timestamp window, it is a replay."""
    return f"replay:{appid}:{timestamp}:{nonce}:{signature}"
