"""okr serve in a real browser (Debian's headless Chromium through chromium-driver): sign in,
check in through the form and see the scorecard change, a viewer gets no form, hostile titles
stay text (no alert). One server for the module, in a thread on a free port.

Screenshots of the main pages go to OKR_WEB_SCREENSHOTS when set (docs/img holds the ones
shown in docs/web.md), else to the test's temporary directory.
"""

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.conftest import Broker
from tests.support.web import HOSTILE_TITLE, seeded_home
from tests.support.web_pages import seed_pages

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

pytestmark = [pytest.mark.integration, pytest.mark.chromium]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
BEN_PASSWORD = "a long pass phrase"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(broker: Broker, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, dict[str, str]]]:
    import uvicorn

    from okr.web.app import create_app

    _, settings, ledger, tokens = seeded_home(tmp_path_factory.mktemp("browser") / "home",
                                              broker.bootstrap)
    seed_pages(ledger)
    from okr.web.passwords import hash_password
    ledger.set_password("ben", hash_password(BEN_PASSWORD))
    port = _free_port()
    app = create_app(settings)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}", tokens
    srv.should_exit = True
    thread.join(timeout=10)
    app.state.site.close()
    ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator["WebDriver"]:
    if CHROMIUM is None or not Path(DRIVER).exists():  # in CI a failure (tests/conftest.py)
        pytest.skip("chromium or chromium-driver not installed (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("OKR_WEB_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def replaced(old: "WebElement") -> "Callable[[WebDriver], bool]":
    """Whether `old` has left the page: selenium's staleness_of, but asked while the new page
    loads Chromium may answer "Node with given id does not belong to the document" instead of
    a stale reference (seen once in a full run): the same answer, said otherwise."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_: "WebDriver") -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False
    return gone


def click_and_wait(d: "WebDriver", by: str, what: str) -> None:
    """Click, then wait until the page it leads to has replaced this one (a click returns
    before a form's answer has loaded, at times)."""
    from selenium.webdriver.support.ui import WebDriverWait

    old = d.find_element("tag name", "html")
    d.find_element(by, what).click()
    WebDriverWait(d, 30).until(replaced(old))
    WebDriverWait(d, 30).until(
        lambda drv: drv.execute_script("return document.readyState") == "complete")


def sign_in(d: "WebDriver", base: str, token: str) -> None:
    from selenium.webdriver.common.by import By
    d.get(f"{base}/signin")
    d.delete_all_cookies()  # whoever was signed in before
    d.get(f"{base}/scorecard")
    assert "/signin" in d.current_url
    d.find_element(By.ID, "token").send_keys(token)
    click_and_wait(d, By.ID, "signin")
    assert d.current_url.endswith("/scorecard")


def kr_value_on_scorecard(d: "WebDriver") -> str:
    from selenium.webdriver.common.by import By
    return str(d.find_element(By.CSS_SELECTOR, "#kr-k-sales td.value").text)


def test_sign_in_check_in_through_the_form_and_see_the_scorecard_change(
        server: tuple[str, dict[str, str]], browser: "WebDriver", shots: Path) -> None:
    from selenium.webdriver.common.by import By
    base, tokens = server
    d = browser
    sign_in(d, base, tokens["mia"])
    assert "mia · member · sales" in d.find_element(By.ID, "who").text
    before = kr_value_on_scorecard(d)
    known_before = datetime.now(UTC).isoformat()
    click_and_wait(d, By.LINK_TEXT, "k-sales")
    d.find_element(By.ID, "value").send_keys("23")
    d.find_element(By.ID, "confidence").send_keys("0.8")
    d.find_element(By.ID, "note").send_keys("signed two pilots")
    click_and_wait(d, By.ID, "submit-checkin")
    assert d.find_element(By.ID, "kr-value").text == "23 deals"
    rows = d.find_element(By.ID, "check-ins").text
    assert "web:mia" in rows and "signed two pilots" in rows
    d.save_screenshot(str(shots / "key-result.png"))
    d.get(f"{base}/scorecard")
    after = kr_value_on_scorecard(d)
    assert after.startswith("23 → 40") and after != before
    d.save_screenshot(str(shots / "scorecard.png"))
    # Time travel: as the ledger knew it just before the check-in, the earlier value.
    d.find_element(By.ID, "known_at").send_keys(known_before)
    click_and_wait(d, By.ID, "travel-go")
    assert "known_at=" in d.current_url
    assert kr_value_on_scorecard(d) == before
    d.save_screenshot(str(shots / "time-travel.png"))
    click_and_wait(d, By.ID, "travel-now")
    assert kr_value_on_scorecard(d) == after


def test_a_viewer_gets_no_check_in_form(server: tuple[str, dict[str, str]],
                                        browser: "WebDriver") -> None:
    from selenium.webdriver.common.by import By
    base, tokens = server
    d = browser
    sign_in(d, base, tokens["vic"])
    d.get(f"{base}/kr/k-sales")
    assert not d.find_elements(By.ID, "checkin")
    assert "checking in is for its team's members" in d.find_element(By.ID, "read-only").text


def test_hostile_titles_render_as_inert_text(server: tuple[str, dict[str, str]],
                                             browser: "WebDriver", shots: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    base, tokens = server
    d = browser
    sign_in(d, base, tokens["ana"])
    title = d.find_element(
        By.CSS_SELECTOR, "#objective-o-sales .title").text
    assert "<script>alert(1)</script> & <b>bold</b>" in title
    assert not d.find_elements(By.CSS_SELECTOR, "#objective-o-sales .title b")
    assert "\u202e" not in title and "\\u202e" in title  # the bidi override shown, not obeyed
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.text  # noqa: B018
    assert HOSTILE_TITLE.startswith("<script>")
    d.save_screenshot(str(shots / "hostile-titles.png"))


def no_alert(d: "WebDriver") -> None:
    from selenium.common.exceptions import NoAlertPresentException
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.text  # noqa: B018


def test_links_lead_from_the_scorecard_to_objective_key_result_kpi_review_and_audit(
        server: tuple[str, dict[str, str]], browser: "WebDriver", shots: Path) -> None:
    """The item pages, the review and the audit feed, reached by their links; charts drawn as
    SVG; hostile text inert on each; and the objective page fits a phone's width."""
    from selenium.webdriver.common.by import By
    base, tokens = server
    d = browser
    sign_in(d, base, tokens["aud"])
    click_and_wait(d, By.CSS_SELECTOR, "#objective-o-child a.key")
    assert d.current_url.endswith("/objective/o-child")
    assert "\\u202e" in d.find_element(By.ID, "objective-title").text  # shown, not obeyed
    no_alert(d)
    d.save_screenshot(str(shots / "objective.png"))
    click_and_wait(d, By.ID, "parent-link")
    click_and_wait(d, By.LINK_TEXT, "k-eng")
    chart = d.find_element(By.CSS_SELECTOR, "#kr-chart svg")
    assert chart.size["width"] > 300
    assert len(chart.find_elements(By.TAG_NAME, "circle")) == 2  # the check-ins
    d.save_screenshot(str(shots / "key-result-chart.png"))
    d.get(f"{base}/objective/o-child")
    click_and_wait(d, By.LINK_TEXT, "wau")
    assert d.current_url.endswith("/kpi/wau")
    assert len(d.find_elements(By.CSS_SELECTOR, "#kpi-chart svg rect")) == 3  # the bands
    no_alert(d)
    d.save_screenshot(str(shots / "kpi.png"))
    click_and_wait(d, By.LINK_TEXT, "Reviews")
    click_and_wait(d, By.LINK_TEXT, "live")
    assert "goalpost moved" in d.find_element(By.ID, "revisions").text
    # the sections `okr review` prints, said as it says them (93%, not 0.93)
    for table in ("teams", "habits", "calibration"):
        assert d.find_element(By.ID, table).is_displayed(), table
    assert "%" in d.find_element(By.ID, "teams").text
    assert d.find_element(By.ID, "backdated").is_displayed()
    no_alert(d)
    d.save_screenshot(str(shots / "review.png"))
    d.get(f"{base}/retro?a=live&b=live")  # the change column and each cycle's days
    retro = d.find_element(By.ID, "retro")
    assert "change" in retro.find_element(By.TAG_NAME, "thead").text
    assert retro.find_element(By.XPATH, ".//tbody/tr[1]/td[1]").text == "days"
    assert retro.find_element(By.XPATH, ".//tbody/tr[2]/td[2]").text.startswith("no: as of ")
    click_and_wait(d, By.LINK_TEXT, "Audit")
    assert d.find_element(By.ID, "bundle-form")  # an auditor may download bundles
    assert "KeyResultRevised" in d.find_element(By.ID, "feed").text
    no_alert(d)
    d.save_screenshot(str(shots / "audit.png"))
    # A phone: no page wider than the screen (tables scroll inside their own box).
    d.set_window_size(390, 844)
    try:
        for path in ("/kr/k-eng", "/kpi/wau", "/initiative/i-chat", "/review/live",
                     "/retro?a=live&b=live", "/audit", "/trail/k-eng", "/scorecard",
                     "/objective/o-eng"):
            d.get(f"{base}{path}")
            width = d.execute_script("return document.documentElement.scrollWidth")
            assert width <= d.execute_script("return window.innerWidth"), (path, d.execute_script(
                "return [...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect()"
                ".right > window.innerWidth).map(e => e.tagName + '#' + e.id + '.' + e.className)"
                ".slice(0, 12).join(' ')"))
        d.save_screenshot(str(shots / "objective-phone.png"))
    finally:
        d.set_window_size(1200, 900)


def test_sign_in_with_a_name_and_password_and_a_wrong_one_is_refused(
        server: tuple[str, dict[str, str]], browser: "WebDriver") -> None:
    from selenium.webdriver.common.by import By
    base, _ = server
    d = browser
    d.get(f"{base}/signin")
    d.delete_all_cookies()
    for password, lands in (("a long pass phrasE", "/signin"), (BEN_PASSWORD, "/scorecard")):
        d.get(f"{base}/scorecard")
        d.find_element(By.ID, "name").send_keys("ben")
        d.find_element(By.ID, "password").send_keys(password)
        click_and_wait(d, By.ID, "signin-password")
        assert d.current_url.endswith(lands)
        if lands == "/signin":
            assert "is not valid" in d.find_element(By.ID, "error").text
    assert "ben · member · eng" in d.find_element(By.ID, "who").text
