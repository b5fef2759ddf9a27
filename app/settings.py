"""Typed settings, read from the environment (and an optional `.env`) once, in the app factory.

Secrets have no default outside the dev profile: in `prod`, a missing or placeholder secret
stops start-up with a message that names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge.matcher import MatchConfig

# WeChat's own worked example (shared/wechat/vectors.json): usable with the simulator only.
DEV_TOKEN = "wxbotdev"
DEV_APPID = "wxba5fad812f8e6fb9"
DEV_AES_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
DEV_ADMIN_TOKEN = "dev-admin-token"
DEV_PSEUDONYM_KEY = "dev-pseudonym-key"
DEV_DESK_SECRET_KEY = "dev-desk-secret-key"
_PLACEHOLDERS = {"", "changeme", "change-me", "xxx", "todo", "placeholder"}


class MatchSettings(BaseSettings, MatchConfig):
    """The matcher's thresholds from MATCH_<FIELD> variables (defaults chosen on the dev set)."""

    model_config = SettingsConfigDict(env_prefix="MATCH_", env_file=".env", extra="ignore", frozen=True)


class ConfigError(Exception):
    """Settings that must stop start-up; the message names every offending variable."""



class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["dev", "prod"] = "dev"

    wechat_token: SecretStr = SecretStr("")
    wechat_appid: str = ""
    wechat_aes_key: SecretStr = SecretStr("")
    wechat_encrypt_mode: Literal["plain", "compatible", "safe"] = "plain"
    wechat_appsecret: SecretStr = SecretStr("")
    wechat_api_base: str = "https://api.weixin.qq.com"

    redis_url: str | None = None
    database_url: str = "sqlite:///./data/wxbot.db"
    # Several Official Accounts in one deployment (app/accounts.py); unset: the single account
    # configured by the WECHAT_* variables, served at /wechat.
    accounts_file: Path | None = None
    knowledge_dir: Path = Path("./knowledge")
    flows_dir: Path = Path("./flows")
    # Push campaigns (issue 19): one YAML file per campaign, named by its id.
    campaigns_dir: Path = Path("./campaigns")
    # Where citizens reach this service (https://…): pushes carry signed links under it to count opens.
    public_base_url: str = ""
    admin_token: SecretStr = SecretStr("")
    # GET /metrics: unset, it is open (restrict it at the network edge, as Prometheus targets
    # usually are); set, scrapes need `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: SecretStr | None = None
    # Key for pseudonymous user ids in the turn log (keyed hash of the OpenID).
    pseudonym_key: SecretStr = SecretStr("")

    # The reply must leave within this budget; WeChat gives up at 5 s.
    reply_deadline_s: float = Field(default=4.0, gt=0, lt=5)
    session_ttl_s: float = Field(default=1800, gt=0)
    # How long a finished delivery's reply is kept for retries. WeChat makes at most three
    # deliveries about 5 s apart, so 30 s covers a late third try; longer only costs memory
    # (every reply is kept that long: at 1000 messages/s, 120 s held ~150 MB in one worker).
    dedup_ttl_s: float = Field(default=30, gt=0)
    # The per-user lock's lease: on the order of the reply deadline, so a lock whose release
    # was lost (a Redis blip) frees itself before the user's next message needs it (issue 15).
    # A turn running longer (a late reply) may then overlap the user's next message.
    lock_ttl_s: float = Field(default=6, gt=0)
    max_body_bytes: int = 64 * 1024
    # A request body must arrive within this (WeChat sends a few KB at once); slower is a 408.
    body_read_timeout_s: float = Field(default=5.0, gt=0)
    # Signed requests older or newer than this are refused as replays.
    timestamp_window_s: int = 300
    # Messages one user may send per minute before we answer politely instead of doing the work.
    rate_limit_per_minute: int = Field(default=30, ge=0)

    # Hand-off
    kf_account: str | None = None
    service_hours: str = "09:00-17:30"
    fallbacks_before_handoff: int = 3

    # Flow backends: JSON mapping name → {"url": …, "timeout": seconds}.
    flow_endpoints: dict[str, dict[str, object]] = Field(default_factory=dict)

    # Turn log (issue 5). Off: no rows, no helper process, `submit` returns at once.
    turnlog_enabled: bool = True
    # Rows wait here as JSONL while the database is unreachable; replayed when it returns.
    turnlog_spool_dir: Path = Path("./data/spool")
    turnlog_queue_size: int = Field(default=10_000, gt=0)
    turnlog_batch_size: int = Field(default=1000, gt=0)
    turnlog_flush_interval_s: float = Field(default=1.0, gt=0)
    # Where the writer runs. In a helper process (~49 MB beside each worker) its work never
    # touches the worker's GIL; on the worker's own thread, SQLite batch writes were measured
    # stalling replies (p99 0.7–1.1 s under wrk at c=16, against 46 ms with the helper), so the
    # thread is only the fallback when the helper cannot run.
    turnlog_writer: Literal["process", "thread"] = "process"
    # Consultations (docs/consultations.md): idle gap that starts a new one, and how long an
    # FAQ answer must go without a re-ask to count as resolved.
    consultation_idle_minutes: float = Field(default=30, gt=0)
    faq_reask_window_hours: float = Field(default=24, gt=0)

    # The staff desk (issue 17): the key that signs desk session cookies, how long a session
    # survives without a request, whether the cookie is sent over HTTPS only (prod: always
    # behind TLS), and the YAML with SLA targets and template messages (README "The staff desk").
    desk_secret_key: SecretStr = SecretStr("")
    desk_idle_minutes: float = Field(default=30, gt=0)
    desk_cookie_secure: bool | None = None
    desk_config: Path | None = None
    # How often each worker of `wxbot serve` runs the notification task (booking reminders, sends
    # interrupted by a dead worker; app/reminders.py). 0 turns the task off (e.g. when
    # `wxbot notify reminders` runs from cron instead).
    notify_interval_s: float = Field(default=300, ge=0)

    log_level: str = "INFO"

    @field_validator("accounts_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `ACCOUNTS_FILE=` in a .env means no accounts file, not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("flow_endpoints", mode="before")
    @classmethod
    def _parse_endpoints(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _dev_defaults(self) -> Settings:
        if self.app_env == "dev":
            if not self.wechat_token.get_secret_value():
                self.wechat_token = SecretStr(DEV_TOKEN)
            if not self.wechat_appid:
                self.wechat_appid = DEV_APPID
            if not self.wechat_aes_key.get_secret_value():
                self.wechat_aes_key = SecretStr(DEV_AES_KEY)
            if not self.admin_token.get_secret_value():
                self.admin_token = SecretStr(DEV_ADMIN_TOKEN)
            if not self.pseudonym_key.get_secret_value():
                self.pseudonym_key = SecretStr(DEV_PSEUDONYM_KEY)
            if not self.desk_secret_key.get_secret_value():
                self.desk_secret_key = SecretStr(DEV_DESK_SECRET_KEY)
        if self.desk_cookie_secure is None:
            self.desk_cookie_secure = self.app_env == "prod"
        return self

    def check_production(self) -> None:
        """Raise ConfigError naming every secret that is missing or a placeholder in prod."""
        if self.app_env != "prod":
            return
        problems: list[str] = []
        secrets = {
            "WECHAT_TOKEN": self.wechat_token.get_secret_value(),
            "WECHAT_APPID": self.wechat_appid,
            "ADMIN_TOKEN": self.admin_token.get_secret_value(),
            "PSEUDONYM_KEY": self.pseudonym_key.get_secret_value(),
            "DESK_SECRET_KEY": self.desk_secret_key.get_secret_value(),
        }
        multi = self.accounts_file is not None
        if multi:
            # The accounts' own secrets are checked when the accounts file is read (app.accounts).
            del secrets["WECHAT_TOKEN"], secrets["WECHAT_APPID"]
        if self.wechat_encrypt_mode != "plain" and not multi:
            secrets["WECHAT_AES_KEY"] = self.wechat_aes_key.get_secret_value()
        dev_values = {DEV_TOKEN, DEV_AES_KEY, DEV_ADMIN_TOKEN, DEV_PSEUDONYM_KEY, DEV_DESK_SECRET_KEY}
        for name, value in secrets.items():
            if value.strip().lower() in _PLACEHOLDERS or value in dev_values:
                problems.append(f"{name} is missing or a placeholder")
        token = self.wechat_token.get_secret_value() if not multi else ""
        if token and not (3 <= len(token) <= 32 and token.isalnum()):
            problems.append("WECHAT_TOKEN must be 3-32 letters or digits")
        aes = self.wechat_aes_key.get_secret_value()
        if self.wechat_encrypt_mode != "plain" and aes and len(aes) != 43 and not multi:
            problems.append("WECHAT_AES_KEY (EncodingAESKey) must be 43 characters")
        if len(self.admin_token.get_secret_value()) < 16 and "ADMIN_TOKEN is missing or a placeholder" not in problems:
            problems.append("ADMIN_TOKEN must be at least 16 characters")
        if problems:
            raise ConfigError("Refusing to start in prod: " + "; ".join(problems))
