"""The accounts file (issue 16): read strictly, secrets from the environment, problems with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.accounts import (
    DEFAULT_ACCOUNT,
    AccountsError,
    configured_accounts,
    default_of,
    load_accounts,
    pick,
)
from tests.app.conftest import make_settings

AES_A = "a" * 43
AES_B = "b" * 43


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    for name in ("shared", "rsj", "gjj", "flows"):
        (tmp_path / name).mkdir()
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def two_accounts(root: Path) -> str:
    return f"""\
accounts:
  - id: rsj
    name: 市人社局
    appid: wxrsj0000000001
    token: ${{RSJ_TOKEN}}
    aes_key: ${{RSJ_AES}}
    encrypt_mode: safe
    appsecret: ${{RSJ_SECRET}}
    knowledge: [{root}/shared, {root}/rsj]
    flows: [{root}/flows]
    service_hours: "09:00-17:00"
  - id: gjj
    name: 市公积金中心
    appid: wxgjj0000000001
    token: gjjtoken
    knowledge: [{root}/shared, {root}/gjj]
    flows: {root}/flows
"""


ENV = {"RSJ_TOKEN": "rsjtoken", "RSJ_AES": AES_A, "RSJ_SECRET": "s3cret"}


def test_without_an_accounts_file_the_single_account_comes_from_the_wechat_settings() -> None:
    (account,) = configured_accounts(make_settings(wechat_token="tok123", wechat_appid="wxone"))
    assert account.id == DEFAULT_ACCOUNT
    assert (account.token, account.appid) == ("tok123", "wxone")


def test_accounts_are_read_with_variables_expanded_from_the_environment(folders: Path) -> None:
    rsj, gjj = load_accounts(write(folders, two_accounts(folders)), environ=ENV)
    assert (rsj.id, rsj.name, rsj.token, rsj.aes_key, rsj.appsecret) == ("rsj", "市人社局", "rsjtoken", AES_A, "s3cret")
    assert rsj.encrypt_mode == "safe"
    assert rsj.knowledge == (folders / "shared", folders / "rsj")
    assert rsj.service_hours == "09:00-17:00"
    assert gjj.flows == (folders / "flows",)
    assert gjj.menu == folders / "gjj" / "menu.yaml"  # the account's own folder, by default


def test_a_missing_variable_is_named_with_its_line(folders: Path) -> None:
    path = write(folders, two_accounts(folders))
    with pytest.raises(AccountsError) as caught:
        load_accounts(path, environ={"RSJ_TOKEN": "rsjtoken", "RSJ_SECRET": "x"})
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.line == 6
    assert "RSJ_AES" in problem.message


def test_secrets_never_appear_in_the_repr(folders: Path) -> None:
    rsj, _ = load_accounts(write(folders, two_accounts(folders)), environ=ENV)
    assert "rsjtoken" not in repr(rsj) and AES_A not in repr(rsj) and "s3cret" not in repr(rsj)


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("id: gjj", "id: rsj"), 12, "id 'rsj'"),
        (("appid: wxgjj0000000001", "appid: wxrsj0000000001"), 12, "appid"),
        (("token: gjjtoken", "token: gj"), 15, "token"),
        (("id: gjj", "id: GJJ/1"), 12, "小写字母"),
        (("    token: gjjtoken", "    token: gjjtoken\n    colour: red"), 16, "colour"),
        (("flows: [", "flows: [/nonexistent/flows, "), 2, "/nonexistent/flows"),
        (("encrypt_mode: safe", "encrypt_mode: secret"), 7, "encrypt_mode"),
    ],
)
def test_bad_files_are_refused_naming_file_and_line(
    folders: Path, change: tuple[str, str], line: int, words: str
) -> None:
    path = write(folders, two_accounts(folders).replace(*change, 1))
    with pytest.raises(AccountsError) as caught:
        load_accounts(path, environ=ENV)
    assert any(p.line == line and words in p.message for p in caught.value.problems), caught.value.problems


def test_two_accounts_pushing_one_menu_file_are_refused(folders: Path) -> None:
    text = two_accounts(folders).replace(
        f"    flows: {folders}/flows\n", f"    flows: {folders}/flows\n    menu: {folders}/rsj/menu.yaml\n"
    ).replace("    service_hours", f"    menu: {folders}/rsj/menu.yaml\n    service_hours")
    with pytest.raises(AccountsError) as caught:
        load_accounts(write(folders, text), environ=ENV)
    assert any("menu" in p.message for p in caught.value.problems)


def test_safe_mode_without_an_aes_key_is_refused(folders: Path) -> None:
    text = two_accounts(folders).replace("    aes_key: ${RSJ_AES}\n", "")
    with pytest.raises(AccountsError) as caught:
        load_accounts(write(folders, text), environ=ENV)
    assert any("aes_key" in p.message for p in caught.value.problems)


def test_yaml_syntax_errors_name_the_line(folders: Path) -> None:
    with pytest.raises(AccountsError) as caught:
        load_accounts(write(folders, "accounts:\n  - id: [unclosed\n"), environ=ENV)
    assert caught.value.problems[0].line >= 2


def test_the_default_is_the_account_called_default_or_the_only_one(folders: Path) -> None:
    accounts = load_accounts(write(folders, two_accounts(folders)), environ=ENV)
    assert default_of(accounts) is None
    assert default_of(accounts[:1]) is accounts[0]
    assert pick(accounts, "gjj").id == "gjj"
    with pytest.raises(AccountsError):
        pick(accounts, None)
    with pytest.raises(AccountsError):
        pick(accounts, "nope")


def test_prod_with_an_accounts_file_needs_no_wechat_variables(folders: Path) -> None:
    settings = make_settings(
        app_env="prod", accounts_file=folders / "accounts.yaml", admin_token="a" * 20, pseudonym_key="p" * 20,
        desk_secret_key="d" * 32,
    )
    settings.check_production()  # the accounts' secrets are checked when the file is read


def test_prod_refuses_the_demo_secrets_in_an_accounts_file(folders: Path) -> None:
    text = two_accounts(folders).replace("token: gjjtoken", "token: wxbotdev")
    settings = make_settings(app_env="prod", admin_token="a" * 20, pseudonym_key="p" * 20)
    with pytest.raises(AccountsError) as caught:
        load_accounts(write(folders, text), settings=settings, environ=ENV)
    assert any("示例值" in p.message for p in caught.value.problems)
