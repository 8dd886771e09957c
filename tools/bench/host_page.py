"""The host's page (chromium, headless) while N participants join.

A join reaches the host as two frames (joined, then connected); a page that redraws its players
per frame does N² work, and it once did: at 1,000 joins it stalled up to 9.7 s. Two figures: the
longest stall of the page's main thread (a 50 ms timer's delay) while the N join, and how long
after the last participant's ``welcome`` the page's player count reads N.

The page is opened as the host of a run made through sign-on (its credentials in
sessionStorage, as after a refresh), through the stack's gateway; the participants join as in
the joins figure. Chromium runs on the generator's cores (it inherits the bench's).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from speedrun_testkit.browser import BROWSER_ARGS, chromium_path
from tools.bench.common import Progress
from tools.bench.real_suite import (
    StackInfo,
    open_all,
    participants_url,
    servers_idle,
    sign_on_all,
)

STORE_KEY = "speedrun.host"
"""Where web/js/host.js keeps the host's credentials (sessionStorage)."""

STALL_METER = """() => {
  window.__stall = 0;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    window.__stall = Math.max(window.__stall, now - last - 50);
    last = now;
  }, 50);
}"""


@dataclass(frozen=True)
class HostPage:
    """One measurement of the host's page."""

    stall_ms: float
    lag_ms: float
    joined: int


async def host_page(
    info: StackInfo,
    session: aiohttp.ClientSession,
    run: dict[str, Any],
    n: int,
    progress: Progress,
    concurrency: int,
) -> HostPage:
    """Open the host's page of ``run`` (in its lobby), join N participants, measure the page.

    Raises:
        RuntimeError: Without chromium, or when the page does not reach its lobby.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        try:
            context = await browser.new_context(base_url=info.gateway)
            saved = json.dumps(json.dumps(run))
            await context.add_init_script(f"sessionStorage.setItem('{STORE_KEY}', {saved})")
            page = await context.new_page()
            await page.goto("/host")
            await page.wait_for_function(
                "document.getElementById('main').dataset.current === 'lobby'"
            )
            await page.evaluate(STALL_METER)
            await servers_idle(info)
            url = participants_url(info, run["join_code"])
            signed = await sign_on_all(url, session, n, progress, concurrency)
            fleet, opened = await open_all(info, signed.tokens, progress, concurrency)
            joined = time.perf_counter()
            progress.step(f"host page N={n:,}: waiting for its count to read {len(opened.conns):,}")
            count = len(opened.conns)
            await page.wait_for_function(
                f"document.getElementById('lobby-count').textContent === '{count}'",
                timeout=600_000,
            )
            lag_ms = (time.perf_counter() - joined) * 1000
            stall_ms = float(await page.evaluate("window.__stall"))
            fleet.close_all()
            return HostPage(stall_ms, lag_ms, count)
        finally:
            await browser.close()
