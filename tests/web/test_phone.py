"""The participant's flow on a 360 x 740 phone screen: from the landing page's code box to the
final results, one-handed (big targets), nothing wider than the screen."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

PHONE = {"width": 360, "height": 740}
PRIMES = 1  # "Which of these are prime numbers?", select all that apply
MARS = 2  # "Which planet is the <em>Red</em> Planet?"


def assert_fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px screen"


def test_play_on_phone_when_viewport_is_360px(web, host_creates_run, answer):
    host, code = host_creates_run("host-paced", questions=[PRIMES, MARS])

    # GIVEN a phone opens the landing page and types the code
    phone = web.page("/", PHONE)
    phone.get_by_label("Join code").fill(code)
    phone.get_by_role("button", name="Join").click()
    expect(phone.get_by_label("Join code")).to_have_value(code)
    expect(phone.locator("#join-run")).to_contain_text("Web test set")
    assert_fits(phone)
    web.shot(phone, "phone-join")

    # Errors are shown next to the form, with what is wrong
    phone.get_by_role("button", name="Join").click()
    expect(phone.get_by_role("alert")).to_contain_text("Nickname")

    phone.get_by_label("Nickname").fill("Pip")
    phone.get_by_role("button", name="Join").click()
    expect(phone.get_by_text("Waiting for the host to start")).to_be_visible()
    assert_fits(phone)
    web.shot(phone, "phone-lobby")

    # WHEN the host starts, a select-all-that-apply question appears with big buttons
    expect(host.locator("#lobby-count")).to_have_text("1")
    host.get_by_role("button", name="Start").click()
    expect(phone.locator("#q-text")).to_have_text("Which of these are prime numbers?")
    submit = phone.get_by_role("button", name="Submit answer")
    expect(submit).to_be_disabled()
    buttons = phone.locator("#answers button.answer")
    for index in range(4):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 300
    top_before = buttons.first.bounding_box()["y"]
    assert_fits(phone)
    web.shot(phone, "phone-question-multi")

    buttons.nth(0).click()
    expect(buttons.nth(0)).to_have_attribute("aria-pressed", "true")
    buttons.nth(0).click()
    expect(buttons.nth(0)).to_have_attribute("aria-pressed", "false")
    expect(submit).to_be_disabled()
    answer(phone)
    expect(phone.locator("#feedback")).to_contain_text("Answer locked in")

    host.get_by_role("button", name="Reveal answer").click()
    expect(phone.locator("#feedback")).to_contain_text("Correct")
    expect(phone.get_by_test_id("score")).not_to_have_text("0")
    expect(phone.locator("#me-rank")).to_have_text(re.compile(r"^1/1"))
    web.shot(phone, "phone-revealed")

    # The next question (three options) keeps the answer area where it was: no layout jump
    host.get_by_role("button", name="Next question").click()
    expect(phone.locator("#q-text")).to_have_text("Which planet is the <em>Red</em> Planet?")
    assert buttons.first.bounding_box()["y"] == top_before
    # Keyboard: the number keys pick an answer
    phone.keyboard.press("2")
    expect(phone.locator("#feedback")).to_contain_text("Answer locked in")
    host.get_by_role("button", name="Reveal answer").click()
    expect(phone.locator("#feedback")).to_contain_text("Correct")
    host.get_by_role("button", name="Show the podium").click()

    # THEN the final results fit the phone too
    expect(phone.locator("#final-me")).to_have_text(re.compile(r"^You placed 1st"))
    assert_fits(phone)
    web.shot(phone, "phone-final")
