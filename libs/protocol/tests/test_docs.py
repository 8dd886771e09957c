"""docs/message-protocol.md is generated from the schemas and must match them."""

from __future__ import annotations

from pathlib import Path

from speedrun_protocol import docgen, frames

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "message-protocol.md"
FLOWS = ROOT / "docs" / "protocol-flows.md"


def test_protocol_doc_matches_schemas() -> None:
    flows = FLOWS.read_text(encoding="utf-8") if FLOWS.exists() else None
    expected = docgen.render(flows)
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/message-protocol.md is stale: run `make docs`"
    )


def test_protocol_doc_names_every_frame_and_field() -> None:
    text = DOC.read_text(encoding="utf-8")
    for union in (frames.ClientFrame, frames.ServerFrame):
        for model in docgen._union(union):
            assert f"### `{model.model_fields['type'].default}`" in text
            for field in model.model_fields:
                assert f"| `{field}` |" in text
