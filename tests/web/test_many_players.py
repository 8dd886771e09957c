"""The host's page with more players than it lists: one redraw per frame, the latest 200 listed,
the rest found by name (in the lobby and on the self-paced dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from speedrun_cli.bots import BotStyle, run_bots

PLAYERS = 250  # more than the 200 listed, fewer than sign-on's 300 joins per address and run
SLOW = BotStyle("slow", (60.0, 90.0), accuracy=0.5)  # they stay on question 1 while we look

# Counts the animation frames, and each time the lobby list is filled anew, from now on.
COUNT_REDRAWS = """() => {
  window.__frames = 0;
  const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  window.__fills = 0;
  new MutationObserver((records) => { window.__fills += records.length; })
    .observe(document.getElementById("lobby-people"), { childList: true });
}"""


class Bots:
    """``run_bots`` on an event loop of its own, until :meth:`stop`."""

    def __init__(self, base_url: str, code: str, count: int) -> None:
        self.task: asyncio.Task[None] | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def play() -> None:
            self.task = asyncio.current_task()
            with contextlib.suppress(asyncio.CancelledError):
                await run_bots(base_url, code, count, styles=[SLOW], seed=7, prefix="p")

        self.done = asyncio.run_coroutine_threadsafe(play(), self.loop)

    def stop(self) -> None:
        """Cancel the bots and wait until they have closed their connections."""
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.done.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def bots(base_url: str) -> Iterator[list[Bots]]:
    started: list[Bots] = []
    yield started
    for group in started:
        group.stop()


def test_host_lists_the_latest_200_and_finds_the_rest_by_name(
    web, base_url, host_creates_run, bots
) -> None:
    # GIVEN a host in the lobby, counting its redraws
    host, code = host_creates_run("self-paced", questions=[0, 1])
    host.evaluate(COUNT_REDRAWS)
    expect(host.locator("#lobby-find")).to_be_hidden()

    # WHEN 250 players join at once (two frames each: joined, then connected)
    bots.append(Bots(base_url, code, PLAYERS))

    # THEN the count is right, the latest 200 are listed and the others can be found
    expect(host.locator("#lobby-count")).to_have_text(str(PLAYERS), timeout=60_000)
    expect(host.locator("#lobby-people li")).to_have_count(200)
    expect(host.locator("#lobby-more")).to_have_text("and 50 more: find a player by name")
    fills, frames = host.evaluate("[window.__fills, window.__frames]")
    assert 0 < fills <= frames + 1, f"{fills} redraws of the list in {frames} frames"
    web.shot(host, "lobby-250")

    find = host.get_by_role("searchbox", name="Find a player")  # the visible screen's
    find.fill("P-007")
    expect(host.locator("#lobby-people li")).to_have_count(1)
    expect(host.locator("#lobby-people li")).to_contain_text("p-007")
    expect(host.locator("#lobby-more")).to_be_hidden()
    host.get_by_role("button", name="Kick p-007").click()
    expect(host.locator("#lobby-count")).to_have_text(str(PLAYERS - 1))
    expect(host.locator("#lobby-people li")).to_have_count(0)
    find.fill("")
    expect(host.locator("#lobby-people li")).to_have_count(200)

    # AND on the self-paced dashboard: the 200 best, the rest by name
    host.get_by_role("button", name="Start").click()
    rows = host.locator("#dash-rows tr")
    expect(rows).to_have_count(200)
    expect(host.locator("#dash-more")).to_have_text("and 49 more: find a player by name")
    find.fill("p-2")
    expect(rows).to_have_count(51)  # p-200 to p-250
    web.shot(host, "dashboard-filtered")
