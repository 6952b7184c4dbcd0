"""The console in a real headless browser (Debian's chromium + chromedriver, via selenium),
served by uvicorn on loopback over a sandbox Halo: log in, read a run; and the daemon's flow:
a waiting plan notified to a local receiver, approved in the browser from the notification's
link, the sandbox's tickets changed.

Skipped, with the reason, where no browser is installed (``.ci/run`` installs one). Nothing
is downloaded: selenium is pointed at the system's chromium and chromedriver. Each page is
saved as a PNG in ``$HALO_AUTOMATE_SCREENSHOTS`` (else a temporary folder, printed).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apply_support import PLAYBOOKS, differences, planned_state, playbook, rig, tickets
from notify_support import receiver
from web_support import PASSWORD, console_settings, free_port, password_hash

from halo_automate.config import settings_from_mapping
from halo_automate.engine.runner import Runner
from halo_automate.sandbox import SandboxServer
from halo_automate.service.daemon import Daemon
from halo_automate.web.server import WebServer, serve_console

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select
except ImportError:  # pragma: no cover - selenium is in the test extra
    webdriver = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
    reason="no browser for the end-to-end console tests: install Debian's chromium and "
    "chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does)",
)
WAIT = 20.0  # seconds a page may take to show what a test waits for
SPAM = (PLAYBOOKS / "close-spam.yaml").read_text(encoding="utf-8")
UNLABELLED = """return [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)"""
"""Every visible form control has a label a screen reader reads."""


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("HALO_AUTOMATE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,900", "--lang=en"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def served(sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[WebServer, Any]]:
    """The console over a sandbox rig, served on a free loopback port."""
    r = rig(sandbox, tmp_path / "journal.db")
    server = serve_console(console_settings(tmp_path, r), r.journal, r.runner)
    yield server, r
    server.close()


def until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def snap(browser: Any, shots: Path, name: str, width: int = 1280) -> None:
    """A full-page screenshot at ``width`` px; the page must fit that width (wide tables
    scroll inside their own region, or stack at phone width)."""
    browser.set_window_size(width, 900)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(int(height) + 120, 600), 6000))
    browser.save_screenshot(str(shots / f"{name}.png"))
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} at {width} px is {overflow} px wider than the window"
    assert browser.execute_script(UNLABELLED) == [], f"{name}: form controls without a label"
    browser.set_window_size(1280, 900)


def log_in(browser: Any, url: str, user: str) -> None:
    """Log in with the keyboard alone: the user name has the focus, Tab, password, Enter."""
    browser.delete_all_cookies()
    browser.get(f"{url}/")
    until(lambda: "/login" in browser.current_url, "the redirect to the login")
    assert browser.switch_to.active_element.get_attribute("id") == "username"
    browser.switch_to.active_element.send_keys(user + Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "password"
    browser.switch_to.active_element.send_keys(PASSWORD + Keys.ENTER)
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "form.logout"), "the overview")


def test_log_in_read_a_run_filter_it_and_the_other_pages(
    browser: Any, served: tuple[WebServer, Any], shots: Path
) -> None:
    """Login by keyboard (then the skip link is the first Tab stop), the overview, a run filtered by
    client, history, a playbook, an undo preview; at 1280 px and at phone width."""
    server, r = served
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    r.runner.run(playbook("category-cleanup"), trigger="cli", confirm=None, preview_only=True)
    browser.get(f"{server.url}/login")
    snap(browser, shots, "login")
    log_in(browser, server.url, "alice")
    assert "close-spam" in browser.page_source and outcome.run_id in browser.page_source
    snap(browser, shots, "overview")
    snap(browser, shots, "overview-phone", width=390)
    browser.switch_to.active_element.send_keys(Keys.TAB)  # the first stop: the skip link
    assert browser.switch_to.active_element.text == "Skip to content"

    browser.find_element(By.LINK_TEXT, outcome.run_id).click()
    until(lambda: browser.find_elements(By.ID, "changes"), "the run page")
    plan = r.plan_of(outcome.run_id)
    client = plan.changes[0].client_name
    Select(browser.find_element(By.ID, "client")).select_by_visible_text(client)
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    until(lambda: "(filtered)" in browser.page_source, "the filtered run page")
    cells = browser.find_elements(By.CSS_SELECTOR, "table.changes tbody td:nth-child(2)")
    assert cells and {c.text for c in cells} == {client}
    snap(browser, shots, "run")
    snap(browser, shots, "run-phone", width=390)

    browser.find_element(By.LINK_TEXT, "Undo this run…").click()
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "form.confirm"), "the undo preview")
    snap(browser, shots, "undo-preview")
    browser.find_element(By.LINK_TEXT, "History").click()
    until(lambda: "Runs, newest first" in browser.page_source, "history")
    snap(browser, shots, "history")
    browser.get(f"{server.url}/playbooks/close-spam.yaml")
    until(lambda: "Valid: no problems." in browser.page_source, "the playbook page")
    snap(browser, shots, "playbook")


def test_the_daemon_flow_notification_then_approval_in_the_browser(
    browser: Any, sandbox: SandboxServer, tmp_path: Path, shots: Path
) -> None:
    """The issue's flow: the daemon's scheduled run of close-spam needs another person's
    approval, so it waits and a notification reaches a local receiver with the console link;
    bob opens that link, logs in, approves in the queue; the daemon applies the plan, the
    sandbox's tickets are as planned, the run page shows it, and the success is announced."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    text = SPAM.replace('schedule: "*/15 * * * *"', 'schedule: "every 1h"')
    text += "approval: {required: true, approver_must_differ: true}\n"
    text += "notify: {on: [awaiting_approval, succeeded], channels: [audit]}\n"
    (folder / "close-spam.yaml").write_text(text, encoding="utf-8")
    port = free_port()
    with receiver() as rx:
        settings = settings_from_mapping(
            {
                "halo": {"base_url": sandbox.base_url, "client_id": "id", "client_secret": "x"},
                "playbooks_dir": str(folder),
                "journal": str(tmp_path / "journal.db"),
                "daemon": {"watch_playbooks": False},
                "notify": {"channels": {"audit": {"type": "webhook", "url": f"{rx.base_url}/h"}}},
                "web": {"listen": f"127.0.0.1:{port}", "users": {"bob": password_hash()}},
            },
            env={},
        )
        r = rig(sandbox, tmp_path / "journal.db")
        service = Daemon(settings, Runner(r.client, r.journal), install_signals=False)
        thread = threading.Thread(target=service.serve, daemon=True)
        thread.start()
        try:
            waiting = rx.wait_for(1, timeout=WAIT)[0]
            run_id, link = waiting.body["run_id"], waiting.body["link"]
            assert waiting.body["event"] == "awaiting_approval"
            assert link == f"http://127.0.0.1:{port}/runs/{run_id}"
            before, plan = tickets(sandbox), r.plan_of(run_id)
            browser.delete_all_cookies()
            browser.get(link)  # the notification's link: log in first, then the run page
            until(lambda: "/login" in browser.current_url, "the login")
            browser.switch_to.active_element.send_keys("bob" + Keys.TAB)
            browser.switch_to.active_element.send_keys(PASSWORD + Keys.ENTER)
            until(lambda: browser.find_elements(By.ID, "approval"), "the waiting run's page")
            assert browser.current_url == link
            browser.find_element(By.LINK_TEXT, "Review it in the approvals queue").click()
            until(lambda: browser.find_elements(By.ID, f"approve-{run_id}"), "the queue")
            snap(browser, shots, "approvals")
            assert tickets(sandbox) == before
            browser.find_element(By.ID, f"approve-{run_id}").click()
            until(lambda: "applied as run" in browser.page_source, "the applied plan")
            assert differences(tickets(sandbox), planned_state(before, plan)) == []
            snap(browser, shots, "approved")
            browser.find_element(By.CSS_SELECTOR, "#approval a").click()
            until(lambda: browser.find_elements(By.ID, "changes"), "the applying run's page")
            done = browser.find_elements(By.CSS_SELECTOR, "table.changes .s-done")
            assert len(done) == 2 * len(plan.changes)  # each ticket's status and close note
            snap(browser, shots, "applied-run")
            events = [b.body["event"] for b in rx.wait_for(2, timeout=WAIT)]
            assert events == ["awaiting_approval", "succeeded"]
        finally:
            service.request_stop()
            thread.join(20)
