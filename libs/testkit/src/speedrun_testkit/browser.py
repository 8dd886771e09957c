"""Debian's chromium for Playwright (never ``playwright install``): where it is and how to launch
it here. Used by the browser tests and the bench's host-page figure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BROWSER_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    """Debian's chromium: CHROMIUM_PATH, else the first of the usual paths that exists.

    Raises:
        RuntimeError: If there is none.
    """
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    for candidate in BROWSER_PATHS:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise RuntimeError(
        "no chromium found: install it (apt-get install chromium) or set CHROMIUM_PATH"
    )
