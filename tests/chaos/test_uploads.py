"""Hostile question-set uploads through the gateway: each is refused with a 4xx in the one error
shape (or, for a hostile file name, stored safely under an id of the loader's choosing), quickly,
and the loader keeps serving.

The parser's own limits are unit-tested in ``services/loader/tests`` (zip bomb, entity expansion,
too many entries, streamed oversize); here the same attacks travel the whole path: gateway,
multipart, the loader process and its store.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos_stack import Chaos

MIB = 1024 * 1024


def _question(i: int) -> dict[str, Any]:
    return {"text": f"Question {i}?", "options": ["yes", "no"], "correct": [0]}


def _set(count: int, title: str = "Hostile set") -> bytes:
    return json.dumps({"title": title, "questions": [_question(i) for i in range(count)]}).encode()


def _zip_bomb() -> bytes:
    """An xlsx-shaped zip whose one sheet unpacks to 200 MiB of zeros (a few hundred KiB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            zeros = b"\0" * MIB
            for _ in range(200):
                sheet.write(zeros)
    return buffer.getvalue()


CASES: dict[str, tuple[str, Any, set[int]]] = {
    "zip bomb": ("bomb.xlsx", _zip_bomb, {413, 422}),
    "oversize (6 MiB)": ("big.json", lambda: b" " * (6 * MIB) + _set(1), {413}),
    "10,000 questions": ("many.json", lambda: _set(10_000), {413, 422}),
    "latin-1 text": ("latin.csv", lambda: "question;réponse;ñ\n".encode("latin-1") * 3, {415, 422}),
    "UTF-16 without BOM": ("utf16.json", lambda: _set(2).decode().encode("utf-16-le"), {415, 422}),
    "NUL bytes": ("nul.json", lambda: b'{"title": "a\x00b", "questions": [\x00]}', {415, 422}),
    "binary noise": ("noise.json", lambda: bytes(range(256)) * 64, {415, 422}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_upload_is_refused_with_4xx(healthy: Chaos, case: str, chaos_record: Any) -> None:
    filename, make, allowed = CASES[case]
    row = chaos_record(f"upload: {case}", "1 upload via gateway", filename)
    body = make()
    started = time.monotonic()
    with httpx.Client(base_url=healthy.stack.urls.gateway, timeout=60) as http:
        response = http.post(
            "/question-set-upload", files={"file": (filename, body, "application/octet-stream")}
        )
        took = time.monotonic() - started
        health = http.get("/question-sets").status_code
    error = response.json().get("error", {}) if response.content else {}
    row.lost = row.duplicated = row.late = 0
    row.seconds = round(took, 2)
    row.details = {"status": response.status_code, "code": error.get("code"), "bytes": len(body)}
    assert response.status_code in allowed, response.text[:500]
    assert set(error) >= {"code", "message"}
    assert health == 200


@pytest.mark.parametrize(
    "filename",
    ["../../../../tmp/chaos-escape.json", "..\\..\\chaos-escape.json", "/tmp/chaos-escape.json",
     "%2e%2e%2fchaos-escape.json"],
)  # fmt: skip
def test_path_traversal_file_name_is_stored_under_a_generated_id(
    healthy: Chaos, filename: str, chaos_record: Any
) -> None:
    row = chaos_record(f"upload name: {filename}", "1 upload via gateway", "path traversal")
    store = healthy.stack.data_dir / "question-sets"
    before = set(store.iterdir())
    with httpx.Client(base_url=healthy.stack.urls.gateway, timeout=60) as http:
        response = http.post(
            "/question-set-upload",
            files={"file": (filename, _set(2, "Traversal"), "application/json")},
        )
        stored = response.json()
        read_back = http.get(f"/question-sets/{stored.get('id')}").status_code
        escaped = http.get("/question-sets/..%2F..%2F..%2Fetc%2Fpasswd").status_code
    added = set(store.iterdir()) - before
    row.lost = row.duplicated = row.late = 0
    row.details = {"status": response.status_code, "id": stored.get("id"), "files": len(added)}
    assert response.status_code == 201, stored
    assert "chaos-escape" not in stored["id"] and "/" not in stored["id"]
    assert [p.parent for p in added] == [store]
    assert not Path("/tmp/chaos-escape.json").exists()
    assert read_back == 200
    assert escaped == 404
