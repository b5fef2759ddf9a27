"""`wxbot`: the one console entry point; each module below adds its subcommands."""

from __future__ import annotations

import typer

from app.cli import accounts, chat, db, flows, kb, menu, notify, push, report, serve, staff

app = typer.Typer(no_args_is_help=True, add_completion=False, help="政务服务号后台 wxbot")
for module in (serve, chat, kb, flows, menu, db, report, accounts, staff, push, notify):
    module.register(app)


def main() -> None:
    app()
