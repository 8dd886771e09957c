"""make run's console turns JSON log lines into readable, prefixed lines."""

from __future__ import annotations

import io

from speedrun_devstack.console import Console, format_line


def test_format_line_reads_json_record() -> None:
    line = (
        '{"time":"2026-01-02T03:04:05.678Z","level":"warning","service":"speedrun",'
        '"logger":"x","message":"slow consumer","speedrun_id":"sr_1","queued":512}'
    )
    assert format_line(line) == (
        "03:04:05.678",
        "warning",
        "slow consumer  speedrun_id=sr_1 queued=512",
    )


def test_format_line_reads_powertools_record() -> None:
    line = (
        '{"level":"INFO","location":"run:149","message":"worker polling",'
        '"timestamp":"2026-11-29 03:16:33,475+0000","service":"reporter","queue":"q"}'
    )
    assert format_line(line) == ("03:16:33.475", "info", "worker polling  queue=q")


def test_format_line_keeps_plain_text() -> None:
    assert format_line("Traceback (most recent call last):") == (
        "",
        None,
        "Traceback (most recent call last):",
    )


def test_console_prefixes_name_and_hides_lower_levels() -> None:
    stream = io.StringIO()
    console = Console(stream, colour=False, level="INFO")
    console.log("signon", '{"time":"2026-01-02T03:04:05.678Z","level":"debug","message":"x"}')
    console.log("signon", '{"time":"2026-01-02T03:04:05.678Z","level":"info","message":"up"}')
    console.log("redis", "Ready to accept connections")
    console.log("moto", '127.0.0.1 - - "POST / HTTP/1.1" 200 -')
    assert stream.getvalue().splitlines() == [
        "signon     | 03:04:05.678 INFO  up",
        "redis      | Ready to accept connections",
    ]
