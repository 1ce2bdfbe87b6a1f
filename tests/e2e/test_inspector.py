"""The local inspector in a real headless browser: Debian's chromium, driven by selenium
through chromedriver (`make test` installs both when missing: devstack/ensure-browser.sh).

One page stays open for the module: it must follow a send to `delivered` by itself, with the
timeline and the events, and show a hostile body as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.handoff import Queue
from tests.support.stack import RunningStack, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# No network but the stack's: nothing in the browser may try to reach Google's services.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\"> order 42"
TO = "+15005550010"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


# The page replaces its content on every refresh, so an element found in one call may be gone
# by the next: each read is one script run, which the page's own script cannot interleave.
ROW = """
const row = document.getElementById('message-' + arguments[0]);
if (!row) return null;
const body = row.querySelector('td.body');
return {
  status: row.getAttribute('data-status'),
  timeline: Array.from(row.querySelectorAll('ol.timeline li'), li => li.getAttribute('data-status')),
  events: Array.from(row.querySelectorAll('li.event'), e => [e.getAttribute('data-type'), e.innerText]),
  body: body ? body.innerText : null,
  injected: row.querySelectorAll('td.body script, td.body img').length,
  text: row.innerText,
};
"""


def row_of(browser: WebDriver, sid: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = browser.execute_script(ROW, sid)
    return row


def status_of(browser: WebDriver, sid: str) -> str | None:
    row = row_of(browser, sid)
    return row["status"] if row else None


def events_on_page(browser: WebDriver, sid: str) -> list[tuple[str, str]]:
    row = row_of(browser, sid)
    return [(str(kind), str(text)) for kind, text in row["events"]] if row else []


def text_of(browser: WebDriver, element_id: str) -> str:
    return str(browser.execute_script("return document.getElementById(arguments[0]).innerText;", element_id))


def test_a_send_reaches_delivered_on_the_open_page(stack: RunningStack, browser: WebDriver) -> None:
    browser.get(stack.url("inspector", "/"))
    assert browser.title == "omni-twilio local inspector"
    queue = Queue(stack)

    sent = stack.http.post(stack.url("outbound", "/messages"), json={"to": TO, "body": HOSTILE}, timeout=30)
    assert sent.status_code in (200, 201, 202), sent.text
    sid = sent.json()["sid"]

    # The page is never reloaded: its script fetches the content again until delivered shows.
    WebDriverWait(browser, 30, poll_frequency=0.3).until(lambda b: status_of(b, sid) == "delivered")
    row = row_of(browser, sid)
    assert row is not None
    timeline = row["timeline"]
    assert timeline[0] == "queued" and timeline[-1] == "delivered" and "sent" in timeline, timeline

    # The events the bus carried for it, read from the inspector's own queue...
    WebDriverWait(browser, 30, poll_frequency=0.3).until(lambda b: any("delivered" in text for _, text in events_on_page(b, sid)))
    assert {kind for kind, _ in events_on_page(browser, sid)} == {"message.status_changed"}
    # ...while the workflow engine's queue still holds them all.
    engine = wait_for(lambda: [e["detail"]["status"] for e in queue.of_sid(sid)], timeout=30)
    assert "delivered" in engine, engine

    # The body is text on the page: no script of it ran, no element of it was made.
    assert row["body"] == HOSTILE
    assert browser.title == "omni-twilio local inspector"
    assert row["injected"] == 0
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 1

    # Numbers are masked as the CLI masks them, in the messages and in the sandbox's logs.
    assert "***0010" in row["text"]
    assert TO not in browser.page_source
    requests_log = text_of(browser, "sandbox-requests")
    callbacks_log = text_of(browser, "sandbox-callbacks")
    assert sid in requests_log and "***0010" in requests_log
    assert sid in callbacks_log and "delivered" in callbacks_log


def test_a_failed_send_is_listed(stack: RunningStack, browser: WebDriver) -> None:
    # +15005550001 is invalid at Twilio (21211): the send is refused and kept as a failed send.
    refused = stack.http.post(stack.url("outbound", "/messages"), json={"to": "+15005550001", "body": "never sent"}, timeout=30)
    assert refused.status_code == 400, refused.text
    browser.get(stack.url("inspector", "/"))
    WebDriverWait(browser, 30, poll_frequency=0.3).until(lambda b: "21211" in text_of(b, "failed"))
    failed = text_of(browser, "failed")
    assert "***0001" in failed and "+15005550001" not in browser.page_source


def test_unknown_paths_are_404(stack: RunningStack) -> None:
    assert stack.http.get(stack.url("inspector", "/nothing"), timeout=10).status_code == 404
