"""Checks on web/ itself that need no browser: no HTML sinks for data, nothing fetched from another
origin, every form control labelled, and the answer colours readable (WCAG AA)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
SCRIPTS = sorted(WEB.rglob("*.js"))
PAGES = sorted(WEB.glob("*.html"))
STYLES = sorted(WEB.rglob("*.css"))
HTML_SINKS = re.compile(
    r"\.(innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML\s*\(|document\.write(ln)?\s*\(|"
    r"createContextualFragment|\beval\s*\(|new\s+Function\s*\("
)
REMOTE = re.compile(r"""(src|href|from|import|url)\s*[=(]?\s*["']?(https?:)?//""", re.IGNORECASE)


def test_scripts_have_no_html_sinks_when_rendering_data():
    assert SCRIPTS, "no scripts found under web/"
    found = {
        f"{path.relative_to(WEB)}:{n}": line.strip()
        for path in SCRIPTS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HTML_SINKS.search(line)
    }
    assert found == {}


@pytest.mark.parametrize("path", [*PAGES, *SCRIPTS, *STYLES], ids=lambda p: p.name)
def test_files_load_nothing_from_another_origin(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not REMOTE.search(text), f"{path.name} refers to another origin"


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.label_for: set[str] = set()
        self.unlabelled: list[str] = []
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self._in_label += 1
            if found.get("for"):
                self.label_for.add(found["for"] or "")
        elif tag in {"input", "select", "textarea"} and not self._in_label:
            if found.get("type") == "hidden" or found.get("aria-label"):
                return
            self.unlabelled.append(found.get("id") or f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_label_every_form_control(path: Path):
    parser = _Controls()
    parser.feed(path.read_text(encoding="utf-8"))
    assert [c for c in parser.unlabelled if c not in parser.label_for] == []


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_answer_and_brand_colours_meet_wcag_aa_with_white_text():
    css = (WEB / "css" / "app.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--(a[0-5]|brand|bad|ok):\s*(#[0-9a-fA-F]{6})", css))
    assert set(colours) == {"a0", "a1", "a2", "a3", "a4", "a5", "brand", "bad", "ok"}
    ratios = {name: round(_contrast(value, "#ffffff"), 2) for name, value in colours.items()}
    assert all(r >= 4.5 for r in ratios.values()), ratios
