"""The ``speedrun`` command line: check, upload, host, bots, results (and sets).

It talks to a running stack by URL: ``--url`` or ``SPEEDRUN_URL``, ``http://127.0.0.1:8080``
(``make run``) by default; a deployed stack's CloudFront URL works the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import aiohttp
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.table import Table

from speedrun_cli.bots import BotReport, BotsProgress, answer_key, run_bots
from speedrun_cli.client import ApiError, SpeedrunApi
from speedrun_cli.host import CommandRefused, HostSession, HostView
from speedrun_protocol.frames import (
    AnswerProgressFrame,
    ErrorFrame,
    LeaderboardEntry,
    ParticipantJoinedFrame,
    QuestionFrame,
    QuestionRevealedFrame,
    RunFinishedFrame,
    RunStartedFrame,
)

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="speedrun for hosts and operators: question sets, runs, bots and results.",
)
out = Console()
err = Console(stderr=True)


class Mode(StrEnum):
    """How a run is paced."""

    SELF_PACED = "self-paced"
    HOST_PACED = "host-paced"


class ResultFormat(StrEnum):
    """Formats of the results download."""

    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="SPEEDRUN_URL", help="The stack's URL (make run's gateway)."),
]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn API errors into a message and exit status 1."""
    try:
        return asyncio.run(coro)
    except ApiError as exc:
        _show_api_error(exc)
        raise typer.Exit(1) from None


def _show_api_error(exc: ApiError) -> None:
    err.print(f"[red]error[/red] {exc.code} ({exc.status}): {exc.message}")
    for detail in exc.details:
        err.print(f"  [yellow]{detail.get('location', '')}[/yellow]: {detail.get('message', '')}")


def _board(entries: list[LeaderboardEntry], title: str, limit: int = 10) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("nickname")
    table.add_column("score", justify="right")
    for entry in entries[:limit]:
        table.add_row(str(entry.rank), entry.nickname, str(entry.score))
    return table


# ---------------------------------------------------------------------------------------------
# check, upload, sets
# ---------------------------------------------------------------------------------------------


@app.command()
def check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The question set.")],
    title: Annotated[str | None, typer.Option(help="Title, when the file has none.")] = None,
) -> None:
    """Validate a question-set file here, without uploading it; problems come with locations."""
    from speedrun_loader.errors import LoaderError, QuestionSetInvalid
    from speedrun_loader.parsing import parse_upload

    try:
        result = parse_upload(file.read_bytes(), file.name, title)
    except QuestionSetInvalid as exc:
        err.print(f"[red]invalid[/red] {file}: {exc.message}")
        for detail in exc.details:
            err.print(f"  [yellow]{detail.location}[/yellow]: {detail.message}")
        raise typer.Exit(1) from None
    except LoaderError as exc:
        err.print(f"[red]invalid[/red] {file}: {exc.message}")
        raise typer.Exit(1) from None
    question_set = result.question_set
    out.print(
        f"[green]ok[/green] {file}: {question_set.title!r}, "
        f"{len(question_set.questions)} questions ({result.format})"
    )
    for warning in result.warnings:
        out.print(f"  [yellow]warning[/yellow]: {warning}")


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The question set.")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Upload a question set; prints its id (for ``speedrun host``)."""

    async def go() -> dict[str, Any]:
        async with SpeedrunApi(url) as api:
            return await api.upload(file.read_bytes(), file.name)

    stored = _run(go())
    out.print(
        f"[green]uploaded[/green] {stored.get('title', '')!r}: "
        f"{stored.get('question_count', '?')} questions"
    )
    out.print(stored["id"])


@app.command()
def sets(url: UrlOption = DEFAULT_URL) -> None:
    """List the stored question sets."""

    async def go() -> list[dict[str, Any]]:
        async with SpeedrunApi(url) as api:
            return await api.question_sets()

    table = Table("id", "title", "questions")
    for item in _run(go()):
        table.add_row(item["id"], item.get("title", ""), str(item.get("question_count", "")))
    out.print(table)


# ---------------------------------------------------------------------------------------------
# host
# ---------------------------------------------------------------------------------------------


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    """Lines typed on stdin, read by a daemon thread (Enter drives the run)."""
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, "\x04")

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


def _host_printer(current: Callable[[], HostView]) -> Callable[[BaseModel], None]:
    """Print what a host should see of each frame (a plain terminal view)."""

    def show(frame: BaseModel) -> None:
        view = current()
        match frame:
            case ParticipantJoinedFrame():
                out.print(f"  + {frame.nickname} ({frame.participant_count} in the run)")
            case RunStartedFrame():
                out.print(f"[bold]started[/bold]: {frame.question_count} questions ({frame.mode})")
            case QuestionFrame(question=q):
                out.print(
                    f"[bold]question {q.question_index + 1}/{q.question_count}[/bold]: {q.text}"
                )
                for i, option in enumerate(q.options):
                    out.print(f"    {i + 1}. {option}")
            case AnswerProgressFrame():
                if frame.answered == frame.total or frame.answered % 5 == 0:
                    out.print(f"  answers: {frame.answered}/{frame.total}")
            case QuestionRevealedFrame(distribution=d):
                correct = ", ".join(str(i + 1) for i in d.correct_options)
                out.print(
                    f"  revealed: correct {correct}; {d.correct}/{d.answered} right; "
                    f"per option {d.counts}"
                )
                out.print(_board(view.leaderboard, "leaderboard", limit=5))
            case RunFinishedFrame():
                out.print(_board(frame.leaderboard, f"final results ({frame.reason})", 20))
            case ErrorFrame() if frame.ref not in ("start", "next", "reveal", "end"):
                err.print(f"[red]{frame.code}[/red]: {frame.message}")
            case _:
                pass

    return show


async def _host(url: str, set_id: str, mode: Mode, time_limit: int | None) -> None:
    async with SpeedrunApi(url) as api, aiohttp.ClientSession() as session:
        created = await api.create_run(set_id, mode.value, time_limit_s=time_limit)
        lobby = await api.lobby(created["join_code"])
        out.print(f"[bold]{lobby['title']}[/bold]: {created['question_count']} questions, {mode}")
        out.print(f"  join code [bold cyan]{created['join_code']}[/bold cyan]")
        out.print(f"  players open {created['join_url']}")
        out.print(f"  run id {created['speedrun_id']}")
        hosting = HostSession(api, session, created, on_frame=_host_printer(lambda: hosting.view))
        await hosting.connect()
        lines = _stdin_lines(asyncio.get_running_loop())
        out.print("Waiting for players. Press Enter to start.")
        while hosting.view.status == "lobby":
            if await lines.get() == "\x04":
                raise typer.Exit(1)
            try:
                await hosting.start()
            except CommandRefused as exc:
                err.print(f"not started: {exc.error.message}. Press Enter to try again.")
        if mode is Mode.SELF_PACED:
            out.print("Type 'end' and Enter to end the run early.")
            await _watch_self_paced(hosting, lines)
        else:
            out.print("Enter: reveal the answer / open the next question. 'end' ends the run.")
            await _drive_host_paced(hosting, lines)
        await hosting.wait_finished(30)
        await hosting.close()
        out.print(
            f"results: speedrun results {hosting.speedrun_id} --format csv --token {hosting.token}"
        )


async def _watch_self_paced(host: HostSession, lines: asyncio.Queue[str]) -> None:
    shown = ""
    while host.view.status != "finished":
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(lines.get(), 2.0)
            if line == "end":
                await host.end()
                return
        view = host.view
        summary = f"{len(view.finished_participants)}/{view.participant_count} finished"
        top = ", ".join(f"{e.nickname} {e.score}" for e in view.leaderboard[:3])
        if f"{summary}{top}" != shown and view.status != "finished":
            shown = f"{summary}{top}"
            out.print(f"  {summary}; leading: {top}")


async def _drive_host_paced(host: HostSession, lines: asyncio.Queue[str]) -> None:
    while host.view.status != "finished":
        line = await lines.get()
        if host.view.status == "finished":
            return
        if line in ("end", "\x04"):
            await host.end()
            return
        try:
            if host.view.phase in ("question", "closed"):
                await host.reveal()
            else:
                await host.next()
        except CommandRefused as exc:
            err.print(f"refused: {exc.error.message}")


@app.command()
def host(
    set_id: Annotated[str, typer.Argument(help="The question set's id (speedrun sets).")],
    mode: Annotated[Mode, typer.Option(help="Who paces the questions.")] = Mode.SELF_PACED,
    time_limit: Annotated[
        int | None, typer.Option(help="Seconds per question where the set has none.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Open a run and host it here: lobby and join code, Enter to start, live board, results."""
    _run(_host(url, set_id, mode, time_limit))


# ---------------------------------------------------------------------------------------------
# bots
# ---------------------------------------------------------------------------------------------


def _progress_table(progress: BotsProgress, questions: int) -> Table:
    table = Table(title="bots", show_header=False)
    total = progress.bots * questions if questions else 0
    table.add_row("joined", f"{progress.joined}/{progress.bots}")
    table.add_row("connected", str(progress.connected))
    table.add_row("answers", f"{progress.answers_sent}/{total}" if total else "")
    table.add_row("results", str(progress.results))
    table.add_row("reconnects", str(progress.reconnects))
    table.add_row("errors", str(progress.errors))
    table.add_row("done", f"{progress.finished}/{progress.bots}")
    return table


def _summary(reports: list[BotReport]) -> Table:
    table = Table(title="summary")
    columns = ("rank", "nickname", "style", "score", "correct", "answered", "reconnects", "errors")
    for column in columns:
        table.add_column(column, justify="left" if column in ("nickname", "style") else "right")
    ordered = sorted(reports, key=lambda r: (r.rank or 10**9, -r.score, r.nickname))
    for report in ordered:
        correct = sum(result.correct for result in report.results.values())
        table.add_row(
            str(report.rank or ""),
            report.nickname,
            report.style,
            str(report.score),
            str(correct),
            str(len(report.results)),
            str(report.reconnects),
            ", ".join(sorted(set(report.errors))),
        )
    return table


async def _bots(url: str, code: str, count: int, set_id: str | None, seed: int | None) -> int:
    async with SpeedrunApi(url) as api:
        lobby = await api.lobby(code)
        key = None
        with contextlib.suppress(ApiError):
            if set_id is None:
                matches = [s for s in await api.question_sets() if s["title"] == lobby["title"]]
                set_id = matches[-1]["id"] if matches else None
            if set_id is not None:
                key = answer_key(await api.question_set(set_id))
    out.print(
        f"{count} bots joining {lobby['title']!r} ({lobby['mode']}, "
        f"{lobby['question_count']} questions){'' if key else ', guessing'}"
    )
    progress = BotsProgress()
    with Live(_progress_table(progress, lobby["question_count"]), refresh_per_second=4) as live:
        task = asyncio.create_task(
            run_bots(url, code, count, key=key, seed=seed, progress=progress)
        )
        while not task.done():
            live.update(_progress_table(progress, lobby["question_count"]))
            await asyncio.wait({task}, timeout=0.25)
        live.update(_progress_table(progress, lobby["question_count"]))
    reports = task.result()
    out.print(_summary(reports))
    unfinished = [r.nickname for r in reports if not r.finished]
    if unfinished:
        err.print(f"[yellow]{len(unfinished)} bots did not see the end of the run[/yellow]")
        return 1
    return 0


@app.command()
def bots(
    code: Annotated[str, typer.Argument(help="The run's six-digit join code.")],
    count: Annotated[int, typer.Option(min=1, max=1000, help="How many bots.")] = 50,
    set_id: Annotated[
        str | None,
        typer.Option("--set", help="The question set, so bots can be right on purpose."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Make the bots' choices repeatable.")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Fill a run with simulated players that really join and play; exits when it ends."""
    raise typer.Exit(_run(_bots(url, code, count, set_id, seed)))


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@app.command()
def results(
    run_id: Annotated[str, typer.Argument(help="The run's id (sr_...).")],
    token: Annotated[
        str, typer.Option(envvar="SPEEDRUN_TOKEN", help="The host's (or a player's) token.")
    ],
    format: Annotated[ResultFormat, typer.Option(help="json, csv or xlsx.")] = ResultFormat.JSON,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Fetch a run's results: JSON and CSV to stdout (or --output), xlsx to a file."""

    async def go() -> bytes:
        async with SpeedrunApi(url) as api:
            return (await api.results(run_id, token, format.value)).content

    content = _run(go())
    if format is ResultFormat.XLSX and output is None:
        output = Path(f"{run_id}.xlsx")
    if output is not None:
        output.write_bytes(content)
        err.print(f"wrote {output}")
    elif format is ResultFormat.JSON:
        out.print_json(json.dumps(json.loads(content)))
    else:
        sys.stdout.write(content.decode("utf-8-sig"))


if __name__ == "__main__":
    app()
