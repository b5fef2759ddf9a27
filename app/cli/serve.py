"""`wxbot serve`: run the callback service with uvicorn."""

from __future__ import annotations

import contextlib
import json
import os
import signal

import typer

from app import metrics
from app.settings import DEV_ADMIN_TOKEN, DEV_AES_KEY, DEV_TOKEN, Settings


def register(app: typer.Typer) -> None:
    app.command()(serve)


def _demo(value: str, demo: str) -> str:
    """Print the dev profile's demo secrets; never a secret someone configured."""
    return value if value == demo else "(set in the environment)"


def serve(
    host: str = typer.Option("127.0.0.1", help="监听地址"),
    port: int = typer.Option(8000, help="端口"),
    workers: int = typer.Option(1, min=1, help="工作进程数（多进程时请配置 REDIS_URL 共享会话）"),
    log_level: str = typer.Option("info"),
) -> None:
    """启动回调服务。"""
    import uvicorn

    settings = Settings()
    settings.check_production()
    if settings.accounts_file is not None:
        from app.accounts import AccountsError, configured_accounts

        try:
            accounts = configured_accounts(settings)
        except AccountsError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
        typer.echo(f"wxbot: {len(accounts)} accounts from {settings.accounts_file}:")
        for account in accounts:
            typer.echo(f"  http://{host}:{port}/wechat/{account.id}  {account.name}  ({account.encrypt_mode})")
    elif settings.app_env == "dev":
        typer.echo("wxbot dev profile — point `wxbot chat` or WeChat's test account at:")
        typer.echo(f"  URL            http://{host}:{port}/wechat")
        typer.echo(f"  Token          {_demo(settings.wechat_token.get_secret_value(), DEV_TOKEN)}")
        typer.echo(f"  AppID          {settings.wechat_appid}")
        typer.echo(f"  EncodingAESKey {_demo(settings.wechat_aes_key.get_secret_value(), DEV_AES_KEY)}")
        typer.echo(f"  Mode           {settings.wechat_encrypt_mode}")
        typer.echo(f"  Admin token    {_demo(settings.admin_token.get_secret_value(), DEV_ADMIN_TOKEN)}")
        typer.echo(f"  Stores         {'redis' if settings.redis_url else 'in-process (single worker)'}")
    if settings.app_env == "dev" and not settings.flow_endpoints:
        # The sample account's progress flow looks numbers up in the built-in demo backend.
        demo = {"progress": {"url": f"http://127.0.0.1:{port}/demo/progress", "timeout": 2}}
        os.environ["FLOW_ENDPOINTS"] = json.dumps(demo)
    if os.environ.get(metrics.MULTIPROC_ENV):
        # Several workers share their metrics through files there; start from a clean slate.
        metrics.reset_multiprocess_dir()
    if workers > 1 and not settings.redis_url:
        typer.echo("warning: several workers without REDIS_URL do not share sessions or dedup", err=True)
    options = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "proxy_headers": True,
        # The access log would print the callback's query string, which carries the OpenID;
        # the turn log records every request instead, pseudonymised.
        "access_log": False,
    }
    if workers == 1:
        # One process: SIGHUP reaches the app's own handler (app.reload), a reload.
        uvicorn.run("app.main:create_app", **options)  # type: ignore[arg-type]
        return
    from uvicorn.supervisors import Multiprocess

    class ReloadingSupervisor(Multiprocess):
        """uvicorn's supervisor, except that SIGHUP is forwarded to the workers as a reload.

        uvicorn replaces every worker on SIGHUP (a connection reset for whoever is being
        answered); the README promises a content reload, which each worker's lifespan does on
        SIGHUP (app.reload). Issue 15.
        """

        def handle_hup(self) -> None:
            _forward(signal.SIGHUP, [p.pid for p in self.processes])

    config = uvicorn.Config("app.main:create_app", **options)  # type: ignore[arg-type]
    ReloadingSupervisor(config, sockets=[config.bind_socket()]).run()


def _forward(signum: int, pids: list[int | None]) -> None:
    for pid in pids:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
