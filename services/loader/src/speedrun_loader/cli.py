"""``speedrun-loader``: check a question-set file offline, or load one into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from speedrun_loader.config import get_settings
from speedrun_loader.errors import QuestionSetInvalid, UnknownFormat
from speedrun_loader.parsing import ParseResult, parse_upload

app = typer.Typer(
    help="Check question-set files offline, or load them into the question-set store.",
    no_args_is_help=True,
    add_completion=False,
)

FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file.")
]
TitleOpt = Annotated[str | None, typer.Option(help="The set's title (wins over the file's).")]


@app.callback()
def main() -> None:
    """speedrun question-set loader."""


def _parse(file: Path, title: str | None) -> ParseResult:
    settings = get_settings()
    data = file.read_bytes()
    if len(data) > settings.MAX_UPLOAD_BYTES:
        typer.echo(
            f"{file}: {len(data)} bytes; the loader accepts at most "
            f"{settings.MAX_UPLOAD_BYTES} bytes (MAX_UPLOAD_BYTES)"
        )
        raise typer.Exit(1)
    try:
        return parse_upload(data, file.name, title, limits=settings.parse_limits)
    except QuestionSetInvalid as exc:
        typer.echo(f"{file}: {exc.message} {len(exc.details)} problem(s):")
        for detail in exc.details:
            typer.echo(f"  {detail.location or '(document)'}: {detail.message}")
        raise typer.Exit(1) from exc
    except UnknownFormat as exc:
        typer.echo(f"{file}: {exc.message}")
        raise typer.Exit(1) from exc


def _report(file: Path, result: ParseResult) -> None:
    question_set = result.question_set
    categories = ", ".join(question_set.categories) or "none"
    typer.echo(
        f"{file}: OK, {result.format}, {len(question_set.questions)} questions, "
        f"title {question_set.title!r}, categories: {categories}"
    )
    for warning in result.warnings:
        typer.echo(f"  warning: {warning}")


@app.command()
def check(file: FileArg, title: TitleOpt = None) -> None:
    """Check FILE as the loader would; print every problem with its location.

    Exits 0 when the file would load, 1 when it would not.
    """
    _report(file, _parse(file, title))


@app.command()
def load(file: FileArg, title: TitleOpt = None) -> None:
    """Check FILE and store it in QUESTION_SET_DIR; print the new set's id."""
    from speedrun_loader.store import QuestionSetStore

    result = _parse(file, title)
    stored = QuestionSetStore(get_settings().QUESTION_SET_DIR).save(result)
    _report(file, result)
    typer.echo(stored.id)
