"""The question-set store: atomic, never clobbering, blind to half-written files."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from speedrun_loader import store as store_module
from speedrun_loader.parsing import ParseResult, parse_upload
from speedrun_loader.store import QuestionSetStore, read_question_set
from speedrun_protocol.questions import StoredQuestionSet


def parsed(title: str) -> ParseResult:
    data = json.dumps(
        {"title": title, "questions": [{"text": "q?", "options": ["a", "b"], "correct": [1]}]}
    ).encode()
    return parse_upload(data, None, None)


def test_save_writes_canonical_json_readers_can_validate(tmp_path: Path) -> None:
    stored = QuestionSetStore(tmp_path).save(parsed("One"))

    raw = (tmp_path / f"{stored.id}.json").read_bytes()

    assert StoredQuestionSet.model_validate_json(raw) == stored
    assert read_question_set(tmp_path, stored.id).title == "One"
    assert [p.name for p in tmp_path.iterdir()] == [f"{stored.id}.json"]


def test_save_concurrent_uploads_never_clobber_each_other(tmp_path: Path) -> None:
    store = QuestionSetStore(tmp_path)
    start = threading.Barrier(16)

    def save(number: int) -> StoredQuestionSet:
        start.wait()
        return store.save(parsed(f"Set {number}"))

    with ThreadPoolExecutor(max_workers=16) as pool:
        saved = list(pool.map(save, range(16)))

    assert len({s.id for s in saved}) == 16
    for stored in saved:
        assert store.get(stored.id).title == stored.title
    assert len(store.list()) == 16


def test_save_same_id_twice_keeps_the_first_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["qs_" + "a" * 26, "qs_" + "a" * 26, "qs_" + "b" * 26])
    monkeypatch.setattr(store_module, "new_question_set_id", lambda: next(ids))
    store = QuestionSetStore(tmp_path)

    first = store.save(parsed("First"))
    second = store.save(parsed("Second"))

    assert (first.id, second.id) == ("qs_" + "a" * 26, "qs_" + "b" * 26)
    assert store.get(first.id).title == "First"


def test_save_crash_between_write_and_rename_leaves_no_visible_set(tmp_path: Path) -> None:
    # A real crash: the process dies after the temporary file is written and synced.
    script = (
        "import os, sys, pathlib, json\n"
        "from speedrun_loader.parsing import parse_upload\n"
        "from speedrun_loader.store import QuestionSetStore\n"
        "data = json.dumps({'title': 't', 'questions': "
        "[{'text': 'q', 'options': ['a', 'b'], 'correct': [0]}]}).encode()\n"
        "result = parse_upload(data, None, None)\n"
        "os.link = lambda *args, **kwargs: os._exit(17)\n"
        "QuestionSetStore(pathlib.Path(sys.argv[1])).save(result)\n"
    )

    crashed = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False)

    assert crashed.returncode == 17
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".")
    assert leftovers[0].stat().st_size > 0
    assert QuestionSetStore(tmp_path).list() == []
    assert not list(tmp_path.glob("qs_*"))


def test_save_failed_link_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_link(*args: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(store_module.os, "link", broken_link)

    with pytest.raises(OSError, match="I/O error"):
        QuestionSetStore(tmp_path).save(parsed("x"))

    assert list(tmp_path.iterdir()) == []


def test_list_skips_foreign_and_damaged_files(tmp_path: Path) -> None:
    store = QuestionSetStore(tmp_path)
    good = store.save(parsed("Good"))
    (tmp_path / ("qs_" + "c" * 26 + ".json")).write_text("{not json")
    (tmp_path / "qs_bad.json").write_text("{}")
    (tmp_path / ".incoming-x.tmp").write_text("half")

    assert [s.id for s in store.list()] == [good.id]


def test_read_rejects_ids_that_could_escape_the_directory(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text("{}")

    for bad in ("../secret", "secret", "qs_../../x", "qs_" + "A" * 26):
        with pytest.raises(store_module.QuestionSetNotFound):
            read_question_set(tmp_path / "sets", bad)
