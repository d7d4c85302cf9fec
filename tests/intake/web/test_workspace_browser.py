"""A reviewer's working session in a real browser: headless Chromium driven by Selenium.

Chromium and its driver are Debian's ``chromium`` and ``chromium-driver`` (installed by
scripts/install-test-deps.sh); Selenium is pointed at /usr/bin/chromedriver and never
downloads a driver. The workspace is `derogation-intake serve` in its own process, over a
database (SQLite and PostgreSQL) that the real pipeline filled. Screenshots are kept in the
test's temporary folder; one is copied to docs/screenshots/workspace.png for the README.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.dbs import BACKENDS
from tests.intake.web.workspace import (
    FIRST,
    FIRST_PART1,
    PASSWORDS,
    SECOND_PART2,
    Running,
    running_workspace,
)
from tests.triage.test_reports import HOSTILE_SUBJECT, MESSAGES

REPO = Path(__file__).resolve().parents[3]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = REPO / "docs" / "screenshots" / "workspace.png"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1400,1800")


@pytest.fixture(scope="module", params=BACKENDS)
def running(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The workspace served over a filed database, on each backend."""
    yield from running_workspace(request, tmp_path_factory.mktemp(f"browser-{request.param}"))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Start headless Chromium through Debian's chromedriver, downloads into tmp/downloads."""
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run scripts/install-test-deps.sh", pytrace=False)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Return what pages wrote to the console at warning level or above (CSP refusals too)."""
    return [entry["message"] for entry in driver.get_log("browser")  # type: ignore[no-untyped-call]
            if entry["level"] in ("SEVERE", "WARNING")]


def shot(driver: WebDriver, tmp: Path, name: str) -> Path:
    """Save a screenshot of the whole page among the test's artifacts."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(max(int(width), 1400), min(int(height) + 100, 6000))
    path = tmp / name
    assert driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1800)
    return path


def attachment_bytes(name: str, filename: str) -> bytes:
    """Return the bytes of an attachment of a labelled message, as the applicant sent it."""
    message = email.message_from_bytes((MESSAGES / f"{name}.eml").read_bytes(),
                                       policy=email.policy.default)
    for part in message.walk():
        if part.get_filename() == filename:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError(f"{filename} is not in {name}")


def downloaded(folder: Path, name: str) -> bytes:
    """Wait for a download to finish and return its bytes."""
    target = folder / name
    deadline = time.monotonic() + 60  # a safety net: the file is small
    while not target.exists() or any(folder.glob("*.crdownload")):
        assert time.monotonic() < deadline, f"{name} was not downloaded: {list(folder.iterdir())}"
        time.sleep(0.1)
    return target.read_bytes()


def left(old: WebElement) -> bool:
    """Tell whether the page holding `old` has been replaced.

    Chromium answers a question about an element of a page being torn down either with a
    stale-element error or, in a short window, with "Node with given id does not belong to
    the document"; both mean the old page is gone (selenium's staleness_of knows only the
    first, which made a log-in flaky on a loaded machine).
    """
    try:
        old.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def click_and_wait(driver: WebDriver, element: WebElement) -> None:
    """Click a link or button and wait until the browser has left the page it was on."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 60).until(lambda _: left(old))


def section_text(driver: WebDriver, anchor: str) -> str:
    """Return the visible text of a section of the case page."""
    return str(driver.find_element(By.ID, anchor).text)


def submit(driver: WebDriver, button: str) -> None:
    """Press a form's button and wait for the page that answers (not the one it left)."""
    click_and_wait(driver, driver.find_element(By.ID, button))
    driver.find_element(By.ID, "done")


def log_in(driver: WebDriver, running: Running, name: str, tmp: Path) -> None:
    """Open the workspace, get sent to the login page, and log in."""
    driver.get(running.base + "/")
    assert "/login?next=%2F" in driver.current_url
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    shot(driver, tmp, "0-login.png")
    click_and_wait(driver, driver.find_element(By.ID, "login"))
    driver.find_element(By.CSS_SELECTOR, "table.queue")


def test_a_reviewer_finds_opens_downloads_corrects_decides_merges_and_logs_out(
        running: Running, browser: webdriver.Chrome, tmp_path: Path) -> None:
    log_in(browser, running, "ann", tmp_path)
    assert browser.find_element(By.CSS_SELECTOR, ".who").text == "ann · reviewer"

    # Find the case by its device's name, and open it.
    browser.find_element(By.ID, "search").send_keys("FlowGuard")
    click_and_wait(browser, browser.find_element(By.ID, "filter"))
    links = browser.find_elements(By.CSS_SELECTOR, "a.case-link")
    assert [a.text for a in links] == [running.first]
    shot(browser, tmp_path, "1-queue.png")
    click_and_wait(browser, links[0])
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"Case {running.first}")

    # Download its Part 1: the very bytes the applicant sent.
    browser.find_element(By.LINK_TEXT, FIRST_PART1).click()
    assert downloaded(tmp_path / "downloads", FIRST_PART1) == attachment_bytes(FIRST,
                                                                                FIRST_PART1)

    # Correct a field: the correction is listed under the reviewer's name.
    Select(browser.find_element(By.ID, "field")).select_by_value("quantity")
    browser.find_element(By.ID, "value").send_keys("2")
    submit(browser, "correct")
    corrections = section_text(browser, "corrections")
    assert "quantity" in corrections and "ann" in corrections

    # Mark it incomplete with a reason.
    Select(browser.find_element(By.ID, "status")).select_by_value("incomplete")
    browser.find_element(By.ID, "reason").send_keys("Part 2 must be signed by the physician")
    submit(browser, "decide")
    events = section_text(browser, "events")
    assert "status changed" in events and "Part 2 must be signed by the physician" in events
    assert "ann" in events

    # Merge the second case (a Part 2 that came without the reference) into it.
    checklist_before = section_text(browser, "checklist")
    assert "form_part2" in checklist_before
    browser.find_element(By.ID, "merge-other").send_keys(running.second)
    submit(browser, "merge")
    assert f"merged in: {running.second}" in browser.find_element(By.ID, "links").text
    assert SECOND_PART2 in section_text(browser, "documents")
    present = [row.text for row in browser.find_elements(
        By.CSS_SELECTOR, "#checklist tr.status-present td:nth-child(2)")]
    assert "form_part2" in present
    # The reviewer's "incomplete" stands: a merge that completes the checklist does not undo it.
    assert "incomplete" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, tmp_path, "2-case-after-merge.png")
    browser.set_window_size(1400, 1300)
    browser.execute_script("window.scrollTo(0, 0)")
    top = tmp_path / "3-case-top.png"
    assert browser.save_screenshot(str(top))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(top, SCREENSHOT)  # the README's picture: the top of the case page

    # The merged case says where it went.
    browser.get(f"{running.base}/cases/{running.second}")
    assert f"merged into: {running.first}" in browser.find_element(By.ID, "links").text
    assert "closed" in browser.find_element(By.TAG_NAME, "h1").text

    # Log out: the session is over, the workspace asks for a login again.
    click_and_wait(browser, browser.find_element(By.ID, "logout"))
    browser.find_element(By.ID, "login")
    browser.get(running.base + "/")
    assert "/login" in browser.current_url
    assert console_errors(browser) == []


def test_a_hostile_request_stays_text_in_the_browser(
        running: Running, browser: webdriver.Chrome, tmp_path: Path) -> None:
    log_in(browser, running, "vic", tmp_path)
    browser.get(f"{running.base}/cases/{running.hostile}")
    subtitle = browser.find_element(By.CSS_SELECTOR, "p.subtitle").text
    assert subtitle == HOSTILE_SUBJECT
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is what raises
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert browser.find_elements(By.TAG_NAME, "script") == []
    shot(browser, tmp_path, "hostile.png")
    browser.get(running.base + "/")
    assert HOSTILE_SUBJECT in browser.find_element(By.CSS_SELECTOR, "table.queue").text
    assert console_errors(browser) == []
