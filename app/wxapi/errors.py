"""Typed failures of a WeChat API call; callers map them to what the user or operator sees."""

from __future__ import annotations

# Customer-service window closed: more than 48 h since the user's last message (or the short
# window after a click/follow/scan has passed). Retrying cannot help.
WINDOW_CLOSED = 45015
# Customer-service quota for this window used up. Retrying cannot help either.
QUOTA_USED = 45047
# The access token was rejected: invalid (40001, 40014) or expired (42001). Refresh and retry once.
TOKEN_REJECTED = frozenset({40001, 40014, 42001})
# The account has no menu (menu/get).
NO_MENU = 46003
# Pushes (issue 19): the daily call quota is used up (stop for today, resume tomorrow);
# the user does not follow the account (43004) or refused/has not subscribed to the message (43101).
DAILY_QUOTA = 45009
NOT_FOLLOWING = 43004
NOT_SUBSCRIBED = 43101
# Another mass send with the same clientmsgid was already made (WeChat dedups for 24 h).
DUPLICATE_CLIENTMSGID = 45065


class WeChatError(Exception):
    """Any failed call; `code` is the short label used in counters and late-delivery details."""

    code: str = "error"


class WeChatApiError(WeChatError):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, api: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{api}: errcode {errcode} ({errmsg})")
        self.api = api
        self.errcode = errcode
        self.errmsg = errmsg
        self.code = str(errcode)


class WeChatTimeout(WeChatError):
    """No complete answer within the client's time budget."""

    code = "timeout"


class WeChatUnavailable(WeChatError):
    """Network failure, an HTTP error status or a body that is not WeChat's JSON."""

    def __init__(self, message: str, code: str = "network") -> None:
        super().__init__(message)
        self.code = code
