"""``speedrun check`` validates files locally; the bots' and the host's logic without a network."""

from __future__ import annotations

import json
import random
from pathlib import Path

from typer.testing import CliRunner

from speedrun_cli.bots import Bot, BotStyle, answer_key
from speedrun_cli.client import SpeedrunApi
from speedrun_cli.host import HostView
from speedrun_cli.main import app
from speedrun_protocol.frames import (
    AnswerProgressFrame,
    Distribution,
    QuestionClosedFrame,
    QuestionFrame,
    QuestionRevealedFrame,
    QuestionView,
    RunFinishedFrame,
    RunStartedFrame,
)

runner = CliRunner()

SET = {
    "title": "Tiny",
    "questions": [
        {"text": "2 + 2?", "options": ["3", "4", "5"], "correct": [1]},
        {"text": "Primes?", "options": ["2", "4", "5"], "correct": [0, 2]},
    ],
}


def _view(index: int, options: list[str], text: str) -> QuestionView:
    return QuestionView(
        question_index=index,
        question_count=2,
        text=text,
        options=options,
        multi=False,
        points=1000,
        time_limit_s=10,
        deadline_ms=0,
        remaining_ms=10_000,
    )


def test_check_valid_file_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SET))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 questions" in result.output


def test_check_invalid_file_fails_with_locations(tmp_path: Path) -> None:
    bad = {"title": "Bad", "questions": [{"text": "q", "options": ["a", "b"], "correct": [5]}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "/questions/0/correct" in result.output


def test_check_unknown_format_fails(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)) * 4)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "invalid" in result.output


async def test_bot_choice_follows_key_and_accuracy() -> None:
    key = answer_key(SET)
    api = SpeedrunApi("http://127.0.0.1:1")
    try:
        # Options in another order than the set: the key matches by text.
        view = _view(1, ["5", "4", "2"], "Primes?")
        always = Bot(api, None, "000000", "a", BotStyle("x", (0, 0), 1.0), key=key)  # type: ignore[arg-type]
        never = Bot(api, None, "000000", "b", BotStyle("x", (0, 0), 0.0), key=key)  # type: ignore[arg-type]
        rng = random.Random(1)
        never.rng = rng
        assert sorted(always._choose(view)) == [0, 2]
        for _ in range(20):
            assert sorted(never._choose(view)) != [0, 2]
    finally:
        await api.aclose()


def test_host_view_follows_host_paced_question() -> None:
    view = HostView(mode="host-paced", participant_count=3)
    view.apply(RunStartedFrame(seq=1, mode="host-paced", question_count=2, started_at_ms=0))
    view.apply(QuestionFrame(seq=2, question=_view(0, ["a", "b"], "q")))
    assert (view.status, view.phase, view.question_index, view.expected) == (
        "running",
        "question",
        0,
        3,
    )
    view.apply(AnswerProgressFrame(seq=3, question_index=0, answered=3, total=3))
    view.apply(QuestionClosedFrame(seq=4, question_index=0, reason="all_answered"))
    assert view.phase == "closed"
    distribution = Distribution(
        question_index=0, correct_options=[1], counts=[1, 2], answered=3, correct=2
    )
    view.apply(QuestionRevealedFrame(seq=5, distribution=distribution))
    assert (view.phase, view.last_distribution) == ("revealed", distribution)
    view.apply(RunFinishedFrame(seq=6, reason="completed", leaderboard=[], participant_count=3))
    assert (view.status, view.end_reason) == ("finished", "completed")
