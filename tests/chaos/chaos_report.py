"""The figures of the fault and abuse suite: one row per scenario, printed and kept as JSON.

Each test records its row through the ``chaos_record`` fixture (scenario, load, fault and what it
counted); the row's ``result`` is the test's own outcome, filled in when the test's report comes
in. At the end of the session the table is printed and written to ``bench-results/chaos.json``.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = ("scenario", "load", "fault", "result", "lost", "duplicated", "late", "reconnect")


@dataclass
class ScenarioRow:
    """One scenario's figures."""

    scenario: str
    load: str
    fault: str
    result: str = "not run"
    """passed, failed, xfailed (a known bug, see ``note``) or error."""
    lost: int | None = None
    duplicated: int | None = None
    late: int | None = None
    reconnect_p50_ms: int | None = None
    reconnect_max_ms: int | None = None
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def cells(self) -> list[str]:
        """The row as table cells."""

        def shown(value: int | None) -> str:
            return "-" if value is None else str(value)

        reconnect = "-"
        if self.reconnect_max_ms is not None:
            reconnect = f"{self.reconnect_p50_ms}/{self.reconnect_max_ms} ms"
        return [
            self.scenario, self.load, self.fault, self.result,
            shown(self.lost), shown(self.duplicated), shown(self.late), reconnect,
        ]  # fmt: skip


@dataclass
class ChaosReport:
    """Every row of the session, by test id."""

    size: str
    rows: dict[str, ScenarioRow] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def row(self, nodeid: str, scenario: str, load: str, fault: str) -> ScenarioRow:
        """Start (or return) the row of one test."""
        return self.rows.setdefault(nodeid, ScenarioRow(scenario, load, fault))

    def outcome(self, nodeid: str, result: str, note: str = "") -> None:
        """Fill in a test's outcome (tests that recorded no row are ignored)."""
        row = self.rows.get(nodeid)
        if row is not None and row.result in ("not run", "passed"):
            row.result = result
            row.note = note or row.note

    def table(self) -> list[str]:
        """The rows as aligned text lines, header first."""
        cells = [list(COLUMNS), *(r.cells() for r in self.rows.values())]
        widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))) for c in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return lines

    def write(self, path: Path) -> None:
        """Write the rows and the conditions they were measured in as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "size": self.size,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "machine": {"python": platform.python_version(), "cpus": _cpus()},
            "scenarios": [asdict(r) for r in self.rows.values()],
        }
        path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")


def _cpus() -> int | None:
    import os

    return os.cpu_count()
