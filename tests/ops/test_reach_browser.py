"""The dashboard's reach and surge panels in a real headless Chromium (Selenium, the system
chromedriver), served by the whole app (`create_app`) over a database holding two sent campaigns
and a surge: the figures are read back from the rendered page, and the campaign below the 75%
target is marked. A screenshot is kept under test-artifacts/ops/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.settings import Settings
from tests import browser
from tests.ops.seed import CAMPAIGNS, SURGE_QUESTION, seed_push

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ADMIN = "reach-browser-admin-token-0123456789"
KEY = "reach-browser-pseudonym-key"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed_push(engine, datetime.now(UTC), KEY.encode())
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    for name, text in CAMPAIGNS.items():
        (campaigns / f"{name}.yaml").write_text(text, encoding="utf-8")
    settings = Settings(
        app_env="dev", redis_url=None, database_url=url, admin_token=ADMIN, pseudonym_key=KEY,
        campaigns_dir=campaigns, turnlog_spool_dir=tmp_path / "spool",
    )
    with browser.served(settings, engine) as base:
        yield base
    engine.dispose()


def test_the_reach_panel_shows_each_campaigns_funnel_and_marks_the_one_below_target(
    served: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with browser.chromium(tmp_path / "profile", window="1366,1800") as driver:
        driver.get(f"{served}/ops?days=7&token={ADMIN}")
        # The token was traded for the cookie: the address no longer carries it.
        assert "token" not in driver.current_url
        panel = driver.find_element(By.ID, "reach")
        assert "政策推送到达" in panel.text and "目标 ≥ 75%" in panel.text
        rows = {r.get_attribute("data-campaign"): r for r in panel.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert set(rows) == {"gjj-rate-2027", "shebao-base-2027"}

        def cells(campaign: str) -> list[str]:
            return [c.text for c in rows[campaign].find_elements(By.TAG_NAME, "td")]

        gjj = cells("gjj-rate-2027")
        assert gjj[0].startswith("公积金贷款利率调整") and "公积金政策" in gjj[0]
        # targeted → sent → delivered → opened → consulted within 10 days → unsubscribed
        assert [c.split("（")[0] for c in gjj[1:7]] == ["10", "10", "6", "2", "3", "1"]
        assert "60.0%" in gjj[7] and "低于目标" in gjj[7]
        assert "below" in (rows["gjj-rate-2027"].get_attribute("class") or "")
        red = rows["gjj-rate-2027"].find_element(By.CSS_SELECTOR, "td.reach").value_of_css_property("color")
        assert red in ("rgba(200, 55, 45, 1)", "rgb(200, 55, 45)")

        shebao = cells("shebao-base-2027")
        assert [c.split("（")[0] for c in shebao[1:7]] == ["4", "4", "4", "0", "0", "0"]
        assert "100.0%" in shebao[7] and "达标" in shebao[7] and "低于目标" not in shebao[7]
        assert "below" not in (rows["shebao-base-2027"].get_attribute("class") or "")

        surges = driver.find_element(By.ID, "surges")
        items = surges.find_elements(By.CSS_SELECTOR, "ol.surges li")
        assert len(items) == 1
        assert SURGE_QUESTION in items[0].text and "近 24 小时 6 次" in items[0].text
        assert items[0].get_attribute("data-answered") == "yes"
        assert items[0].get_attribute("data-hours") == "6.0"
        assert "用时 6 小时（24 小时内）" in items[0].text

        driver.save_screenshot(str(browser.artefacts("ops") / "reach-and-surges.png"))
        # Nothing on the page runs script (the CSP forbids it): no <script> element at all.
        assert driver.find_elements(By.TAG_NAME, "script") == []
