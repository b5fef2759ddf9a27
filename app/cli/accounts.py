"""`wxbot accounts check|list`, and the `--account ID` option every one-account command takes.

`check` reads the accounts file as the service would (file:line errors, variables expanded from
the environment), then loads each distinct knowledge and flows folder once and composes every
account's content from them, naming the account and the file for each problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.accounts import Account, AccountsError, configured_accounts, pick

if TYPE_CHECKING:
    from app.settings import Settings
    from flows.registry import FlowRegistry
    from knowledge.errors import Problem
    from knowledge.layered import LayeredMatcher
    from knowledge.matcher import MatchConfig, Matcher

AccountOpt = Annotated[
    str | None,
    typer.Option("--account", help="账号 id（ACCOUNTS_FILE 中的 id）；只有一个账号时可省略"),
]
FileOpt = Annotated[Path | None, typer.Option("--file", help="账号文件，默认为 ACCOUNTS_FILE 设置")]

group = typer.Typer(no_args_is_help=True, help="多个公众号（ACCOUNTS_FILE）：检查、列出")


def register(app: typer.Typer) -> None:
    group.command("check")(check)
    group.command("list")(list_accounts)
    app.add_typer(group, name="accounts")


def _settings(file: Path | None = None) -> Settings:
    from app.settings import Settings

    settings = Settings()
    if file is not None:
        settings = settings.model_copy(update={"accounts_file": file})
    return settings


def _accounts(settings: Settings) -> tuple[Account, ...]:
    try:
        return configured_accounts(settings)
    except AccountsError as exc:
        for problem in exc.problems:
            typer.echo(f"错误 {problem}", err=True)
        typer.echo(f"{settings.accounts_file}：{len(exc.problems)} 处错误。", err=True)
        raise typer.Exit(code=1) from None


def resolve(account_id: str | None, settings: Settings | None = None) -> Account:
    """The account a command acts on (`--account`, or the only / default one); exits 2 otherwise."""
    settings = settings or _settings()
    accounts = _accounts(settings)
    try:
        return pick(accounts, account_id)
    except AccountsError as exc:
        typer.echo(str(exc.problems[0].message), err=True)
        raise typer.Exit(code=2) from None


def load_matcher(account: Account, config: MatchConfig | None = None) -> Matcher | LayeredMatcher:
    """The account's FAQ as the service composes it; raises `KnowledgeError` naming the folder's files."""
    from knowledge.errors import KnowledgeError
    from knowledge.layered import Layer, compose, vocabulary_of

    layers: list[Layer] = []
    for folder in account.knowledge:
        try:
            layers.append(Layer.load(folder, config, inherit=vocabulary_of(layers)))
        except KnowledgeError as exc:
            raise KnowledgeError([_in(folder, p) for p in exc.problems]) from None
    return compose(layers)


def load_registry(account: Account) -> FlowRegistry:
    from flows.errors import FlowError
    from flows.layered import FlowLayer, compose

    layers = []
    for folder in account.flows:
        try:
            layers.append(FlowLayer.load(folder))
        except FlowError as exc:
            raise FlowError([_in(folder, p) for p in exc.problems]) from None
    return compose(layers)


def _in(folder: Path, problem: Problem) -> Problem:
    """The problem with its file named from the working directory, as the admin will open it."""
    from knowledge.errors import Problem

    if not Path(problem.file).is_absolute() and not problem.file.startswith(str(folder)):
        return Problem(str(folder / problem.file), problem.line, problem.message)
    return problem


def check(file: FileOpt = None) -> None:
    """检查账号文件（文件:行号）和每个账号的知识库、流程；有错误时退出码非 0。"""
    from flows.errors import FlowError
    from knowledge.errors import KnowledgeError
    from knowledge.layered import Layer, vocabulary_of
    from knowledge.normalize import warm_up

    settings = _settings(file)
    if settings.accounts_file is None:
        typer.echo("未设置 ACCOUNTS_FILE：本部署只服务一个账号（WECHAT_* 设置），路径 /wechat。")
    accounts = _accounts(settings)
    warm_up()
    errors: list[str] = []
    warnings: list[str] = []
    # Each folder once, as the service loads it, however many accounts list it.
    layers: dict[Path, Layer | None] = {}
    for account in accounts:
        for position, folder in enumerate(account.knowledge):
            if folder not in layers:
                below = [layers.get(f) for f in account.knowledge[:position]]
                try:
                    layers[folder] = Layer.load(folder, inherit=vocabulary_of(below))
                except KnowledgeError as exc:
                    layers[folder] = None
                    errors.extend(f"{_in(folder, p)}" for p in exc.problems)
            layer = layers[folder]
            if layer is None:
                continue
            earlier = set().union(*(e.ids for f in account.knowledge[:position] if (e := layers.get(f))))
            for faq_id in sorted(layer.disabled - earlier):
                warnings.append(
                    f"{folder / 'disable.txt'}: 账号 {account.id}：停用的条目 {faq_id} 在前面的目录中不存在"
                )
        try:
            registry = load_registry(account)
            flows = len(registry)
        except FlowError as exc:
            errors.extend(f"账号 {account.id}：{p}" for p in exc.problems)
            flows = 0
        try:
            matcher = load_matcher(account)
            entries = len(matcher.kb.entries)
        except KnowledgeError:
            entries = 0  # reported above, once per folder
        typer.echo(f"{account.id}  {account.name}  {entries} 个条目，{flows} 个流程")
    for line in warnings:
        typer.echo(f"提醒 {line}")
    for line in errors:
        typer.echo(f"错误 {line}", err=True)
    typer.echo(f"{len(accounts)} 个账号，{len(layers)} 个知识库目录；{len(errors)} 个错误，{len(warnings)} 个提醒。")
    if errors:
        raise typer.Exit(code=1)


def list_accounts(file: FileOpt = None) -> None:
    """列出账号：id、名称、AppID、加密模式、回调路径、知识库和流程目录（不显示密钥）。"""
    settings = _settings(file)
    for account in _accounts(settings):
        path = "/wechat" if settings.accounts_file is None else f"/wechat/{account.id}"
        knowledge = " + ".join(str(p) for p in account.knowledge)
        flows = " + ".join(str(p) for p in account.flows)
        typer.echo(
            f"{account.id}\t{account.name or '-'}\t{account.appid}\t{account.encrypt_mode}\t{path}\t"
            f"知识库 {knowledge}\t流程 {flows}"
        )
