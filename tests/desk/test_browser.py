"""The desk in a real headless Chromium (Debian's, driven by Selenium through the system
chromedriver; nothing is downloaded): a citizen's complaint arrives over the signed callback,
an agent logs in, finds it in the queue, replies and closes it; the fake WeChat API gets the
reply, and the citizen's own look-up of the number in the chat says 已办结 with the reply.
Screenshots are kept under test-artifacts/desk/ (or $TEST_ARTIFACTS/desk/).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import Ticket, TicketEvent
from app.settings import Settings
from app.wechat.crypto import MessageCrypto
from app.wechat.simulator import Simulator
from tests import browser
from tests.desk.conftest import PASSWORD, PSEUDONYM_KEY, add_staff
from tests.fakes.fake_wechat import FakeWeChat

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPLY = "您好，您反映的情况已转交大厅值班长核实，涉事工作人员已批评教育。"


def wait_for(driver: Any, text: str, timeout: float = 20) -> str:
    """The page's text once it shows `text`: a click navigates, and the old page may still be up."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d: Any) -> str | bool:
        try:
            body: str = d.find_element(By.TAG_NAME, "body").text
        except WebDriverException as exc:
            # Chromium's own word for a stale element when the page is replaced mid-read (seen on a
            # loaded machine); anything else is a real error.
            if "does not belong to the document" in str(exc):
                return False
            raise
        return body if text in body else False

    found: str = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(shown)
    return found


@pytest.fixture
def served(tmp_path: Path, wechat: FakeWeChat) -> Iterator[tuple[str, Settings, object]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    upgrade(engine)
    settings = Settings(
        app_env="dev", redis_url=None, database_url=f"sqlite:///{tmp_path / 'desk.db'}",
        wechat_appid=wechat.appid, wechat_appsecret=wechat.secret, wechat_api_base=wechat.url,
        pseudonym_key=PSEUDONYM_KEY, turnlog_spool_dir=tmp_path / "spool",
    )
    with browser.served(settings, engine) as base:
        yield base, settings, engine
    engine.dispose()


def citizen_says(base: str, settings: Settings, *texts: str) -> str:
    """The citizen's messages over the signed callback; our last answer."""
    token = settings.wechat_token.get_secret_value()
    crypto = MessageCrypto(token, settings.wechat_aes_key.get_secret_value(), settings.wechat_appid)
    sim = Simulator(token, settings.wechat_encrypt_mode, crypto)
    reply = ""
    with httpx.Client(base_url=base, timeout=10) as client:
        for text in texts:
            delivery = sim.deliver(sim.text("o-browser-citizen", text))
            response = client.post("/wechat", params=delivery.params, content=delivery.body)
            assert response.status_code == 200
            reply = sim.read_reply(response.text, delivery.params["nonce"]).get("Content", "")
    return reply


def citizen_complains(base: str, settings: Settings) -> str:
    reply = citizen_says(base, settings, "我要投诉", "三号窗口的工作人员态度很差，让我来回跑了三趟，电话13812345678")
    return reply.split("编号：", 1)[1][:13]


def test_an_agent_replies_to_a_complaint_and_closes_it_in_a_real_browser(
    served: tuple[str, Settings, object], wechat: FakeWeChat, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, settings, engine = served
    number = citizen_complains(base, settings)
    add_staff(engine, "wang.agent", "agent")  # type: ignore[arg-type]

    shots = browser.artefacts("desk")
    with browser.chromium(tmp_path / "profile") as driver:
        driver.get(base + "/desk/")
        assert driver.current_url.endswith("/desk/login"), "no session: the desk sends you to log in"
        driver.save_screenshot(str(shots / "1-login.png"))
        driver.find_element(By.NAME, "username").send_keys("wang.agent")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/desk/login'] button").click()

        wait_for(driver, "工单列表")
        assert driver.current_url.endswith("/desk/")
        # The cookie is not readable by script (HttpOnly).
        assert driver.execute_script("return document.cookie") == ""
        row = driver.find_element(By.LINK_TEXT, number)
        assert "138****5678" in driver.find_element(By.TAG_NAME, "tbody").text  # masked in the queue
        driver.save_screenshot(str(shots / "2-queue.png"))
        row.click()

        body = wait_for(driver, "群众提交的信息")
        assert "13812345678" in body  # an agent opening the ticket sees the number (audited)
        assert "我要投诉" in body  # the conversation that led to it
        reply_form = driver.find_element(By.ID, "reply-form")
        reply_form.find_element(By.NAME, "text").send_keys(REPLY)
        reply_form.find_element(By.TAG_NAME, "button").click()
        assert "已通过客服消息送达" in wait_for(driver, "回复已提交")

        status_form = driver.find_element(By.ID, "status-form")
        Select(status_form.find_element(By.NAME, "status")).select_by_visible_text("已办结")
        status_form.find_element(By.NAME, "note").send_keys("已核实处理完毕")
        status_form.find_element(By.TAG_NAME, "button").click()
        assert "已办结" in wait_for(driver, "状态已更新")
        driver.save_screenshot(str(shots / "3-ticket-closed.png"))

    texts = [body["text"]["content"] for body in wechat.sent if body.get("touser") == "o-browser-citizen"]
    assert any(REPLY in text for text in texts)
    assert any("已办结" in text for text in texts)
    # The citizen looks the number up in the chat: closed, with the staff reply.
    progress = citizen_says(base, settings, f"帮我查一下{number}的进度")
    assert "当前状态：已办结" in progress, progress
    assert REPLY in progress
    with engine.connect() as conn:  # type: ignore[attr-defined]
        status = conn.execute(select(Ticket.status).where(Ticket.number == number)).scalar_one()
        deliveries = conn.execute(select(TicketEvent.delivery)).scalars().all()
    assert status == "已办结"
    assert deliveries == ["sent", "sent"]
