"""The Official Accounts one deployment serves, as explicit values (issue 16).

Every turn carries its `Account` from the route it arrived on down to the store keys, the
tickets it files and the turn-log row it leaves. Nothing reads the current account from ambient
state (thread-locals or context variables), which async code loses; the SDK peers' issue
trackers are full of accounts overwriting each other's caches that way.

Without an accounts file the deployment serves one account, `default`, from the `WECHAT_*`
settings, exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from app.settings import Settings

DEFAULT_ACCOUNT = "default"
EncryptMode = Literal["plain", "compatible", "safe"]


@dataclass(frozen=True, slots=True)
class Account:
    """One Official Account: its WeChat credentials and the content it serves."""

    id: str
    name: str
    appid: str
    token: str
    aes_key: str = ""
    encrypt_mode: EncryptMode = "plain"
    appsecret: str = ""
    # Later folders override earlier ones by entry id.
    knowledge: tuple[Path, ...] = ()
    flows: tuple[Path, ...] = ()
    menu: Path | None = None
    service_hours: str = ""
    kf_account: str | None = None


def single_account(settings: Settings) -> Account:
    """The one account of a deployment configured by `WECHAT_*` alone."""
    return Account(
        id=DEFAULT_ACCOUNT,
        name="",
        appid=settings.wechat_appid,
        token=settings.wechat_token.get_secret_value(),
        aes_key=settings.wechat_aes_key.get_secret_value(),
        encrypt_mode=settings.wechat_encrypt_mode,
        appsecret=settings.wechat_appsecret.get_secret_value(),
        knowledge=(settings.knowledge_dir,),
        flows=(settings.flows_dir,),
        menu=settings.knowledge_dir / "menu.yaml",
        service_hours=settings.service_hours,
        kf_account=settings.kf_account,
    )
