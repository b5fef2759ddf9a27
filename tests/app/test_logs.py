"""No secret and no unmasked personal data in any log line of a full run."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app import logs as app_logs
from app.turnlog.privacy import pseudonym
from app.wechat.crypto import MessageCrypto
from app.wechat.simulator import Simulator
from bench.common import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "WECHAT_TOKEN": "tokenForLogTest42",
    "WECHAT_AES_KEY": "LogTestAesKey0123456789abcdefghijklmnopqrst"[:43],
    "ADMIN_TOKEN": "admin-token-for-the-log-test-0001",
    "PSEUDONYM_KEY": "pseudonym-key-for-the-log-test",
    "WECHAT_APPSECRET": "appsecret-for-the-log-test-0001",
}
OPENID = "oLogTestUserOpenId0000000001"
PERSONAL = ["110101199003074512", "13812345678", "6222021234567890123"]


def test_a_full_run_logs_no_secret_openid_or_personal_data(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        **SECRETS,
        "APP_ENV": "dev",
        "WECHAT_ENCRYPT_MODE": "safe",
        "WECHAT_APPID": "wxlogtest0000001",
        "DATABASE_URL": f"sqlite:///{tmp_path}/wxbot.db",
        "LOG_LEVEL": "DEBUG",
        "REPLY_DEADLINE_S": "2",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, cwd=tmp_path, check=False,
                   capture_output=True)
    log_path = tmp_path / "service.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "debug"],
            env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        crypto = MessageCrypto(SECRETS["WECHAT_TOKEN"], SECRETS["WECHAT_AES_KEY"], "wxlogtest0000001")
        sim = Simulator(SECRETS["WECHAT_TOKEN"], "safe", crypto)
        texts = [
            "你好", f"我的身份证号是{PERSONAL[0]}，手机{PERSONAL[1]}", f"银行卡{PERSONAL[2]}",
            "我想预约明天上午办社保卡", "张三", PERSONAL[1], "取消", "人工",
        ]
        with httpx.Client(base_url=base, timeout=10) as client:
            deliveries = [sim.deliver(sim.event(OPENID, "subscribe"))] + [
                sim.deliver(sim.text(OPENID, t)) for t in texts
            ]
            for d in deliveries:
                client.post("/wechat", params=d.params, content=d.body)
            # Bad input is logged too: forged signatures, malformed bodies.
            bad = sim.deliver(sim.text(OPENID, "x"))
            client.post("/wechat", params={**bad.params, "signature": "0" * 40}, content=bad.body)
            client.post("/wechat", params=bad.params, content=b"<xml><broken")
            client.get("/admin/sessions/" + OPENID, headers={"Authorization": "Bearer wrong"})
    finally:
        process.terminate()
        process.wait(timeout=20)
    logs = log_path.read_text(errors="replace")
    assert logs.strip(), "the run produced no log lines at all"
    for name, value in SECRETS.items():
        assert value not in logs, f"{name} leaked into the logs"
    assert OPENID not in logs
    for value in PERSONAL:
        assert value not in logs
    assert not re.search(r"signature=[0-9a-f]{40}", logs)


def test_a_turns_log_lines_carry_the_user_and_message_as_pseudonyms() -> None:
    app_logs.configure("INFO")
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "wxbot")
    key = SECRETS["PSEUDONYM_KEY"].encode()
    app_logs.bind_turn(key, OPENID, "msg:10001")
    try:
        record = logging.LogRecord("wxbot.turns", logging.WARNING, __file__, 1, "store unavailable", None, None)
        assert handler.formatter is not None
        line = json.loads(handler.formatter.format(record))
    finally:
        app_logs.clear()
    assert line["user"] == pseudonym(key, OPENID)[:16]
    assert line["msg"] == pseudonym(key, "msg:10001")[:16]
    assert OPENID not in json.dumps(line)
