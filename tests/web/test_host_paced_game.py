"""A host-paced game: question and countdown, live answer count, reveal with the distribution,
leaderboard, next, podium; the host reloads mid-game and keeps control."""

from __future__ import annotations

import re

from playwright.sync_api import expect

SKY = 0  # "What colour is the sky…", single answer, Blue
MARKUP = 3  # "What does <img src=x onerror=alert(1)> show here?", six options


def test_host_paced_game_goes_through_reveal_next_and_podium(
    web, host_creates_run, player_joins, answer
):
    # GIVEN a host-paced run of two questions and two players
    host, code = host_creates_run("host-paced", questions=[SKY, MARKUP])
    alice = player_joins(code, "Alice")
    bob = player_joins(code, "Bob")
    expect(host.locator("#lobby-count")).to_have_text("2")

    # WHEN the host starts, the first question opens everywhere with a countdown
    host.get_by_role("button", name="Start").click()
    expect(host.locator("#hq-text")).to_have_text("What colour is the sky on a clear day?")
    expect(host.locator("#hq-number")).to_have_text("Question 1 of 2")
    expect(host.locator("#h-countdown .secs")).to_have_text(re.compile(r"^\d+s$"))
    expect(host.get_by_test_id("answered")).to_have_text("0")
    web.shot(host, "host-question")

    answer(alice)
    expect(alice.locator("#feedback")).to_contain_text("Answer locked in")
    expect(host.get_by_test_id("answered")).to_have_text("1")
    web.shot(alice, "player-answered")
    # a host refresh mid-question keeps the count (its welcome carries it; no view repeats it)
    host.reload()
    expect(host.locator("#hq-text")).to_have_text("What colour is the sky on a clear day?")
    expect(host.get_by_test_id("answered")).to_have_text("1")
    answer(bob, correct=False)
    expect(host.locator("#h-phase")).to_contain_text("everyone answered")
    # the last answer closed the question: the close brings the count the views never saw
    expect(host.get_by_test_id("answered")).to_have_text("2")
    host.reload()
    expect(host.locator("#h-phase")).to_contain_text("everyone answered")
    expect(host.get_by_test_id("answered")).to_have_text("2")

    # THEN the reveal shows how answers fell, marks the right one, and scores the players
    host.get_by_role("button", name="Reveal answer").click()
    blue = host.locator("#h-dist .bar-row").nth(0)
    expect(blue).to_have_attribute("data-correct", "true")
    expect(blue.locator(".count")).to_have_text("1")
    expect(host.locator("#h-dist .bar-row").nth(1).locator(".count")).to_have_text("1")
    expect(host.locator("#h-board li").first.locator(".nick")).to_have_text("Alice")
    expect(alice.locator("#feedback")).to_contain_text("Correct")
    expect(bob.locator("#feedback")).to_contain_text("Not quite")
    expect(alice.locator("#answers .answer.correct")).to_have_count(1)
    web.shot(host, "host-revealed")
    web.shot(alice, "player-revealed")

    # A host refresh returns to the same run, at the same step
    host.reload()
    expect(host.locator("#h-dist .bar-row").nth(0)).to_have_attribute("data-correct", "true")
    expect(host.get_by_role("button", name="Next question")).to_be_enabled()

    # Next: the question with markup in its text shows it as text, in six answer slots
    host.get_by_role("button", name="Next question").click()
    question = "What does <img src=x onerror=alert(1)> show here?"
    expect(host.locator("#hq-text")).to_have_text(question)
    expect(alice.locator("#q-text")).to_have_text(question)
    expect(alice.locator("#answers button.answer")).to_have_count(6)
    expect(alice.get_by_role("button", name="<b>A picture</b>")).to_be_visible()
    for page in (host, alice):
        expect(page.locator("#main img[src='x'], #main b")).to_have_count(0)
    web.shot(alice, "player-markup-question")
    answer(alice)
    answer(bob)
    host.get_by_role("button", name="Reveal answer").click()
    expect(host.get_by_role("button", name="Show the podium")).to_be_enabled()
    host.get_by_role("button", name="Show the podium").click()

    # The podium and the final results
    expect(host.get_by_role("heading", name="Results")).to_be_visible()
    expect(host.locator("#podium .p1 .nick")).to_have_text("Alice")
    expect(host.locator("#podium .p2 .nick")).to_have_text("Bob")
    expect(host.locator("#results-rows tr")).to_have_count(2)
    web.shot(host, "host-podium")
    expect(alice.locator("#final-me")).to_have_text(re.compile(r"^You placed 1st"))
    expect(bob.locator("#final-me")).to_have_text(re.compile(r"^You placed 2nd"))
    web.shot(bob, "player-final")
