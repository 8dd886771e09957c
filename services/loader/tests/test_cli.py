"""The offline check a host runs: ``speedrun-loader check FILE``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from speedrun_loader.cli import app
from speedrun_loader.config import get_settings

SAMPLE = Path(__file__).parents[1] / "src" / "speedrun_loader" / "samples" / "sample.json"


@pytest.fixture(autouse=True)
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUESTION_SET_DIR", str(tmp_path / "store"))
    get_settings.cache_clear()
    yield tmp_path / "store"
    get_settings.cache_clear()


def test_check_valid_file_exits_zero_and_summarises() -> None:
    result = CliRunner().invoke(app, ["check", str(SAMPLE)])

    assert result.exit_code == 0, result.output
    assert "OK, json, 8 questions" in result.output


def test_check_invalid_file_prints_every_problem_and_exits_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer 1,answer 2,correct answers\n,a,b,1\nq?,a,b,7\n")

    result = CliRunner().invoke(app, ["check", str(bad)])

    assert result.exit_code == 1
    assert "row 2, column A: question:" in result.output
    assert "row 3, column D: correct answers: answer 7" in result.output


def test_check_unknown_format_exits_one(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("nothing to see\n")

    result = CliRunner().invoke(app, ["check", str(notes)])

    assert result.exit_code == 1
    assert "Unknown question-set format" in result.output


def test_check_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(tmp_path / "absent.json")])

    assert result.exit_code == 2


def test_load_stores_the_file_and_prints_its_id(store_dir: Path) -> None:
    result = CliRunner().invoke(app, ["load", str(SAMPLE)])

    assert result.exit_code == 0, result.output
    question_set_id = result.output.strip().splitlines()[-1]
    assert (store_dir / f"{question_set_id}.json").is_file()
