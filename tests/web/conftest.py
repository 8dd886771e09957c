"""Browser tests of the web app: Debian's chromium, headless, driven by Playwright's sync API.

The whole system runs once per session (``speedrun_devstack``'s stack on free ports); set
``SPEEDRUN_WEB_URL`` to test an already running stack instead (``make run``, or a deployment).
Screenshots of each screen go to ``test-artifacts/web/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from speedrun_testkit.browser import BROWSER_ARGS, chromium_path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
QUESTIONS_FILE = Path(__file__).with_name("questions.json")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}

# Generous for a shared, busy machine; every wait is an auto-waiting expect, never a sleep.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway's URL: SPEEDRUN_WEB_URL, or a whole stack started for this session."""
    external = os.environ.get("SPEEDRUN_WEB_URL")
    if external:
        yield external.rstrip("/")
        return
    from speedrun_devstack.config import Settings
    from speedrun_devstack.stack import BackgroundStack

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "stack.log"
    with log_path.open("w", encoding="utf-8") as log_file:

        def sink(name: str, line: str) -> None:
            log_file.write(f"{name}: {line}\n")

        settings = Settings(
            port=0,
            data_dir=tmp_path_factory.mktemp("stack"),
            log_level="WARNING",
            speedrun_instances=2,
            web_dir=ROOT / "web",
        )
        with BackgroundStack(settings, sink) as stack:
            yield stack.urls.gateway


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
    yield launched
    launched.close()


@dataclass
class Web:
    """Opens pages (each in its own context: its own sessionStorage, like a separate device),
    records any JavaScript dialog (an XSS would fire one) and page errors, takes screenshots."""

    base_url: str
    browser: Browser
    test_name: str
    contexts: list[BrowserContext] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    shots: int = 0

    def page(self, path: str = "/", viewport: dict[str, int] | None = None) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url, viewport=viewport or DESKTOP, accept_downloads=True
        )
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.goto(path)
        return page

    def _on_dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def shot(self, page: Page, name: str) -> None:
        """Save a full-page screenshot as test-artifacts/web/<test>-<n>-<name>.png."""
        self.shots += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{self.test_name}-{self.shots:02d}-{name}.png")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[FAILED_KEY] = report.failed
    return report


FAILED_KEY = pytest.StashKey[bool]()


@pytest.fixture
def web(base_url: str, browser: Browser, request: pytest.FixtureRequest) -> Iterator[Web]:
    name = re.sub(r"^test_", "", request.node.name)
    helper = Web(base_url, browser, name)
    yield helper
    if request.node.stash.get(FAILED_KEY, False):
        # Every open page as it was when the test failed, to see why.
        for number, context in enumerate(helper.contexts):
            for page in context.pages:
                helper.shot(page, f"FAILED-page{number}")
    helper.close()
    assert helper.dialogs == [], f"a dialog fired (markup ran as code?): {helper.dialogs}"
    assert helper.page_errors == [], f"JavaScript errors: {helper.page_errors}"


# ------------------------------------------------------------------------------------------------
# Steps the tests share, as fixtures returning plain functions
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def host_creates_run(web: Web):
    """Open the host page, upload tests/web/questions.json, configure, create; return the page
    (in the lobby) and the join code."""

    def create(mode: str, *, questions: list[int] | None = None) -> tuple[Page, str]:
        page = web.page("/host")
        expect(page.get_by_role("heading", name="Host a game")).to_be_visible()
        page.get_by_label("Question set file").set_input_files(QUESTIONS_FILE)
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#upload-ok")).to_contain_text("Uploaded “Web test set”")
        expect(page.locator("#config-form")).to_be_visible()
        page.get_by_role("radio", name=re.compile(f"^{mode}", re.IGNORECASE)).check()
        if questions is not None:
            page.get_by_role("button", name="Select none").click()
            boxes = page.locator("#question-list input[type=checkbox]")
            for index in questions:
                boxes.nth(index).check()
        web.shot(page, "host-setup")
        page.get_by_role("button", name="Create game").click()
        code = page.get_by_test_id("join-code")
        expect(code).to_have_text(re.compile(r"^\d{6}$"))
        return page, code.inner_text()

    return create


@pytest.fixture
def player_joins(web: Web):
    """Open the join link with a code, enter a nickname, join; return the page in the lobby."""

    def join(code: str, nickname: str, viewport: dict[str, int] | None = None) -> Page:
        page = web.page(f"/join?code={code}", viewport)
        expect(page.get_by_label("Join code")).to_have_value(code)
        page.get_by_label("Nickname").fill(nickname)
        page.get_by_role("button", name="Join").click()
        expect(page.get_by_text("Waiting for the host to start")).to_be_visible()
        expect(page.locator("#lobby-nick")).to_have_text(nickname)
        return page

    return join


@pytest.fixture
def answer():
    """Answer the question on a player's page, rightly or wrongly; return its index in the set."""
    questions = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))["questions"]
    by_text = {q["text"]: (i, q) for i, q in enumerate(questions)}

    def choose(page: Page, *, correct: bool = True) -> int:
        # Enabled answer buttons mean a question is open and drawn (its text with it); answered
        # or closed questions keep theirs disabled, so a stale question is never read.
        buttons = page.locator("#answers button.answer")
        expect(buttons.first).to_be_enabled()
        index, question = by_text[page.locator("#q-text").inner_text()]
        wanted = (
            question["correct"]
            if correct
            else [i for i in range(len(question["options"])) if i not in question["correct"]][:1]
        )
        for option in wanted:
            buttons.nth(option).click()
        if len(question["correct"]) > 1:
            page.get_by_role("button", name="Submit answer").click()
        return index

    return choose
