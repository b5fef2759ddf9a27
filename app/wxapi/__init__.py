"""The WeChat server API, as this service uses it: access token, customer-service messages, menu.

`WeChatClient` is async (httpx), built once in the app's lifespan and closed at shutdown. It
keeps the access token in the shared `Store` so every worker uses one token, and it reports
every call's outcome to `ApiStats` (and an optional observer) for the metrics module.
"""

from app.wxapi.client import WeChatClient
from app.wxapi.errors import WeChatApiError, WeChatError, WeChatTimeout, WeChatUnavailable
from app.wxapi.stats import ApiObserver, ApiStats

__all__ = [
    "ApiObserver",
    "ApiStats",
    "WeChatApiError",
    "WeChatClient",
    "WeChatError",
    "WeChatTimeout",
    "WeChatUnavailable",
]
