"""The Official Accounts one deployment serves, as explicit values (issue 16).

Every turn carries its `Account` from the route it arrived on down to the store keys, the
tickets it files and the turn-log row it leaves. Nothing reads the current account from ambient
state (thread-locals or context variables), which async code loses; the SDK peers' issue
trackers are full of accounts overwriting each other's caches that way.

Without an accounts file the deployment serves one account, `default`, from the `WECHAT_*`
settings, exactly as before. With `ACCOUNTS_FILE` it serves every account listed there:

    accounts:
      - id: rsj                      # URL segment: POST /wechat/rsj
        name: 市人社局
        appid: wx…
        token: ${RSJ_TOKEN}          # ${VAR} expands from the environment
        aes_key: ${RSJ_AES_KEY}
        encrypt_mode: safe
        appsecret: ${RSJ_SECRET}
        knowledge: [knowledge, knowledge/accounts/rsj]   # later folders override earlier ones by id
        flows: [flows, flows/accounts/rsj]
        menu: knowledge/accounts/rsj/menu.yaml
        service_hours: "09:00-17:00"
        kf_account: kf2001@rsj

The file is read as strictly as the knowledge base: unknown keys, wrong types, a variable that
is not set, duplicate ids (URL paths), AppIDs or menu files, and folders that do not exist are
all reported at once with file:line. Relative paths are relative to the working directory, like
`KNOWLEDGE_DIR`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from knowledge.errors import Problem

if TYPE_CHECKING:
    from app.settings import Settings

DEFAULT_ACCOUNT = "default"
EncryptMode = Literal["plain", "compatible", "safe"]
ENCRYPT_MODES: tuple[EncryptMode, ...] = ("plain", "compatible", "safe")
# An id is a URL segment and part of every store key: short, lower-case, no separators of ours.
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEYS = (
    "id", "name", "appid", "token", "aes_key", "encrypt_mode", "appsecret", "knowledge", "flows", "menu",
    "service_hours", "kf_account",
)
_REQUIRED = ("id", "appid", "token")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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

    def __repr__(self) -> str:
        # Never the token, AES key or AppSecret: accounts end up in logs and tracebacks.
        return f"Account(id={self.id!r}, appid={self.appid!r}, mode={self.encrypt_mode!r})"


class AccountsError(Exception):
    """The accounts file cannot be used; `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


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


def configured_accounts(settings: Settings) -> tuple[Account, ...]:
    """The accounts this deployment serves: the accounts file's, or the single `WECHAT_*` one."""
    if settings.accounts_file is None:
        return (single_account(settings),)
    return load_accounts(settings.accounts_file, settings=settings)


def pick(accounts: tuple[Account, ...], account_id: str | None) -> Account:
    """The account a one-account command acts on: `--account ID`, or the only/default one."""
    by_id = {a.id: a for a in accounts}
    if account_id:
        if account_id not in by_id:
            known = ", ".join(by_id)
            raise AccountsError([Problem("--account", 0, f"没有 id 为 {account_id!r} 的账号（可用：{known}）")])
        return by_id[account_id]
    fallback = default_of(accounts)
    if fallback is None:
        raise AccountsError(
            [Problem("--account", 0, f"有多个账号，请用 --account 指定其中之一：{', '.join(by_id)}")]
        )
    return fallback


def default_of(accounts: tuple[Account, ...]) -> Account | None:
    """The account plain `/wechat` serves: the one called `default`, or the only one."""
    for account in accounts:
        if account.id == DEFAULT_ACCOUNT:
            return account
    return accounts[0] if len(accounts) == 1 else None


# -- the accounts file --------------------------------------------------------------------


@dataclass(slots=True)
class _Reader:
    file: str
    environ: Mapping[str, str]
    problems: list[Problem]

    def error(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(self.file, line, message))

    def text(self, node: Node, field: str, *, expand: bool = True) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.error(node, f"字段 {field} 应为文本")
            return None
        value = str(node.value).strip()
        if not expand:
            return value
        missing = [name for name in _VAR.findall(value) if name not in self.environ]
        if missing:
            self.error(node, f"字段 {field} 引用的环境变量未设置：{', '.join(missing)}")
            return None
        return _VAR.sub(lambda m: self.environ[m.group(1)], value)

    def paths(self, node: Node, field: str) -> list[tuple[Path, Node]]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        out: list[tuple[Path, Node]] = []
        for item in items:
            text = self.text(item, field)
            if text:
                out.append((Path(text), item))
        if not out:
            self.error(node, f"字段 {field} 至少要有一个目录")
        return out


def load_accounts(
    path: Path, *, settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Account, ...]:
    """Read and validate an accounts file; raise `AccountsError` listing every problem.

    `settings` supplies the defaults an account may leave out (knowledge and flows folders,
    service hours, the hand-off account) and, in `prod`, refuses placeholder secrets.
    """
    reader = _Reader(str(path), os.environ if environ is None else environ, [])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccountsError([Problem(str(path), 0, f"无法读取账号文件：{exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise AccountsError([Problem(str(path), 0, "文件不是 UTF-8 编码")]) from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise AccountsError(
            [Problem(str(path), mark.line + 1 if mark else 0, f"YAML 语法错误：{exc.problem or exc}")]
        ) from None
    accounts_node = _top(root, reader)
    accounts: list[tuple[Account, Node]] = []
    if accounts_node is not None:
        for item in accounts_node.value:
            read = _account(item, reader, settings)
            if read is not None:
                accounts.append((read, item))
    if accounts_node is not None and not accounts and not reader.problems:
        reader.error(accounts_node, "accounts 列表为空")
    _check_unique(accounts, reader)
    for account, node in accounts:
        _check_files(account, node, reader)
    if settings is not None and settings.app_env == "prod":
        for account, node in accounts:
            _check_secrets(account, node, reader)
    if reader.problems:
        raise AccountsError(reader.problems)
    return tuple(a for a, _ in accounts)


def _top(root: Node | None, reader: _Reader) -> SequenceNode | None:
    if not isinstance(root, MappingNode):
        reader.error(root, "账号文件应为 `accounts:` 开头的键值对")
        return None
    found: SequenceNode | None = None
    for key, value in root.value:
        if not isinstance(key, ScalarNode) or key.value != "accounts":
            reader.error(key, f"未知字段 {getattr(key, 'value', key)!r}（只允许 accounts）")
        elif not isinstance(value, SequenceNode):
            reader.error(value, "accounts 应为列表")
        else:
            found = value
    if found is None and not reader.problems:
        reader.error(root, "缺少 accounts 列表")
    return found


def _account(node: Node, reader: _Reader, settings: Settings | None) -> Account | None:
    if not isinstance(node, MappingNode):
        reader.error(node, "每个账号应为键值对（mapping）")
        return None
    fields: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else None
        if key not in _KEYS:
            reader.error(key_node, f"账号中有未知字段 {key!r}（允许的字段：{', '.join(_KEYS)}）")
        elif key in fields:
            reader.error(key_node, f"账号中字段 {key} 重复出现")
        else:
            fields[key] = value_node
    before = len(reader.problems)
    for key in _REQUIRED:
        if key not in fields:
            reader.error(node, f"账号缺少必填字段 {key}")
    values: dict[str, str] = {}
    for key in ("id", "name", "appid", "token", "aes_key", "encrypt_mode", "appsecret", "service_hours",
                "kf_account", "menu"):
        if key in fields:
            value = reader.text(fields[key], key, expand=key != "id")
            if value is not None:
                values[key] = value
    account_id = values.get("id", "")
    if "id" in values and not _ID.match(account_id):
        reader.error(
            fields["id"], f"账号 id {account_id!r} 只能用小写字母、数字、- 和 _（最多 32 个字符），它是 URL 的一段"
        )
    mode = values.get("encrypt_mode", "plain")
    if mode not in ENCRYPT_MODES:
        reader.error(fields["encrypt_mode"], f"encrypt_mode 应为 {' / '.join(ENCRYPT_MODES)}，而不是 {mode!r}")
    token = values.get("token", "")
    if "token" in values and not (3 <= len(token) <= 32 and token.isalnum()):
        reader.error(fields["token"], "token 应为 3-32 位字母或数字（与公众号后台一致）")
    aes_key = values.get("aes_key", "")
    if aes_key and len(aes_key) != 43:
        reader.error(fields["aes_key"], "aes_key（EncodingAESKey）应为 43 个字符")
    # A field whose variable is missing has been reported already; do not pile its consequences on.
    if mode in ("compatible", "safe") and not aes_key and "aes_key" not in fields:
        reader.error(fields.get("encrypt_mode", node), f"{mode} 模式需要 aes_key")
    knowledge = reader.paths(fields["knowledge"], "knowledge") if "knowledge" in fields else []
    flows = reader.paths(fields["flows"], "flows") if "flows" in fields else []
    for listed, what in ((knowledge, "knowledge"), (flows, "flows")):
        seen: set[Path] = set()
        for folder, item in listed:
            if folder in seen:
                reader.error(item, f"{what} 中目录 {folder} 重复出现")
            seen.add(folder)
    if len(reader.problems) > before:
        return None
    default_knowledge = settings.knowledge_dir if settings is not None else Path("knowledge")
    default_flows = settings.flows_dir if settings is not None else Path("flows")
    knowledge_dirs = tuple(p for p, _ in knowledge) or (default_knowledge,)
    menu = Path(values["menu"]) if values.get("menu") else knowledge_dirs[-1] / "menu.yaml"
    return Account(
        id=account_id,
        name=values.get("name", ""),
        appid=values["appid"],
        token=token,
        aes_key=aes_key,
        encrypt_mode=cast(EncryptMode, mode),
        appsecret=values.get("appsecret", ""),
        knowledge=knowledge_dirs,
        flows=tuple(p for p, _ in flows) or (default_flows,),
        menu=menu,
        service_hours=values.get("service_hours", settings.service_hours if settings is not None else ""),
        kf_account=values.get("kf_account") or (settings.kf_account if settings is not None else None),
    )


def _check_unique(accounts: list[tuple[Account, Node]], reader: _Reader) -> None:
    """Ids are URL paths and key prefixes, AppIDs key the dedup records and access tokens, and a
    menu file pushed to two accounts is almost always a copy-paste slip: all must be unique."""
    for what, value_of in (
        ("id", lambda a: a.id),
        ("appid", lambda a: a.appid),
        ("menu", lambda a: str(a.menu) if a.menu is not None else ""),
    ):
        first: dict[str, int] = {}
        for account, node in accounts:
            value = value_of(account)
            if not value:
                continue
            line = node.start_mark.line + 1
            if value in first:
                reader.error(node, f"{what} {value!r} 与第 {first[value]} 行的账号重复")
            else:
                first[value] = line


def _check_files(account: Account, node: Node, reader: _Reader) -> None:
    for folder in (*account.knowledge, *account.flows):
        if not folder.is_dir():
            reader.error(node, f"账号 {account.id}：目录 {folder} 不存在")


def _check_secrets(account: Account, node: Node, reader: _Reader) -> None:
    from app.settings import DEV_AES_KEY, DEV_TOKEN

    if account.token in {DEV_TOKEN, "changeme", "placeholder"}:
        reader.error(node, f"账号 {account.id}：token 是示例值，生产环境不能使用")
    if account.aes_key == DEV_AES_KEY:
        reader.error(node, f"账号 {account.id}：aes_key 是示例值，生产环境不能使用")
