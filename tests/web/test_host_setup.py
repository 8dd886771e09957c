"""The host's setup screen: the loader's errors shown with their locations, and categories
narrowing the questions of the run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

QUESTIONS_FILE = Path(__file__).with_name("questions.json")


def test_upload_shows_each_problem_with_its_location_when_the_set_is_invalid(web, tmp_path):
    broken = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))
    broken["questions"][1]["correct"] = [7]  # no option 7
    broken["questions"][2]["options"] = ["Only one"]  # fewer than two options
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")

    host = web.page("/host")
    host.get_by_label("Question set file").set_input_files(path)
    host.get_by_role("button", name="Upload").click()

    problems = host.locator("#upload-error li")
    expect(problems.first).to_be_visible()
    locations = " ".join(problems.locator(".loc").all_inner_texts())
    assert re.search(r"questions\D+1", locations), locations
    assert re.search(r"questions\D+2", locations), locations
    expect(host.locator("#config-form")).to_be_hidden()
    web.shot(host, "host-upload-errors")


def test_create_plays_only_the_chosen_categories(web):
    host = web.page("/host")
    host.get_by_label("Question set file").set_input_files(QUESTIONS_FILE)
    host.get_by_role("button", name="Upload").click()
    expect(host.locator("#q-chosen")).to_have_text("4")
    host.get_by_role("checkbox", name="maths", exact=True).uncheck()
    host.get_by_role("checkbox", name="space", exact=True).uncheck()
    expect(host.locator("#q-chosen")).to_have_text("2")
    host.get_by_label("Seconds per question").fill("3")
    host.get_by_role("button", name="Create game").click()
    expect(host.get_by_role("alert")).to_contain_text("Seconds per question")

    host.get_by_label("Seconds per question").fill("30")
    host.get_by_role("button", name="Create game").click()
    expect(host.get_by_test_id("join-code")).to_have_text(re.compile(r"^\d{6}$"))
    expect(host.locator("#lobby-about")).to_have_text("2 questions · host-paced")
    expect(host.get_by_role("button", name="Start")).to_be_disabled()
