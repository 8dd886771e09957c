"""The HTTP API through the app factory: upload, list, read, and every refusal's shape."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from speedrun_loader.app import create_app
from speedrun_loader.config import Settings

CSV = b"question,answer 1,answer 2,correct answers,category\nUp?,yes,no,1,misc\n"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_upload_original_sample_answers_201_with_summary(
    upload: Callable[..., Any], original_sample: bytes
) -> None:
    response = upload(original_sample, "mc-speedrun-example-1.json", "Original")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("qs_")
    assert body["title"] == "Original"
    assert body["question_count"] == 10
    assert body["categories"] == ["technology", "finance", "animals", "health"]
    assert body["format"] == "mc-speedrun-json"
    assert body["warnings"] == []
    assert response.headers["location"] == f"/question-sets/{body['id']}"


def test_upload_id_never_comes_from_the_file_name(upload: Callable[..., Any]) -> None:
    response = upload(CSV, "qs_aaaaaaaaaaaaaaaaaaaaaaaaaa.csv")

    assert response.status_code == 201
    assert response.json()["id"] != "qs_aaaaaaaaaaaaaaaaaaaaaaaaaa"


def test_list_and_read_after_upload(client: TestClient, upload: Callable[..., Any]) -> None:
    first = upload(CSV, "one.csv").json()
    second = upload(CSV, "two.csv", "Second").json()

    listing = client.get("/question-sets")
    one = client.get(f"/question-sets/{first['id']}")

    assert listing.status_code == 200
    assert [item["id"] for item in listing.json()] == [second["id"], first["id"]]
    assert listing.json()[0] | {"created": None} == {
        "id": second["id"],
        "title": "Second",
        "question_count": 1,
        "categories": ["misc"],
        "created": None,
    }
    assert one.status_code == 200
    assert one.json()["questions"][0]["options"] == ["yes", "no"]
    assert one.json()["source_format"] == "csv"


def test_read_unknown_or_malformed_id_answers_404(client: TestClient) -> None:
    for question_set_id in ("qs_" + "a" * 26, "qs_x", "qs_%2E%2E", "%2E%2E"):
        assert_error(client.get(f"/question-sets/{question_set_id}"), 404, "question_set_not_found")
    assert client.get("/question-sets/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_upload_invalid_content_answers_422_with_every_location(
    upload: Callable[..., Any],
) -> None:
    data = b"question,answer 1,answer 2,correct answers\n,a,b,1\nq,a,b,9\n"

    error = assert_error(upload(data, "q.csv"), 422, "invalid_question_set")

    assert [d["location"] for d in error["details"]] == ["row 2, column A", "row 3, column D"]


def test_upload_unknown_format_answers_415(upload: Callable[..., Any]) -> None:
    assert_error(upload(b"just some words\nand more words\n", "notes.txt"), 415, "unknown_format")


def test_upload_binary_garbage_answers_415(upload: Callable[..., Any]) -> None:
    assert_error(upload(os.urandom(4096), "x.bin"), 415, "unknown_format")


def test_upload_invalid_utf8_answers_422_with_line(upload: Callable[..., Any]) -> None:
    data = "question,answer 1,answer 2,correct answers\nCaf\xe9?,a,b,1\n".encode("latin-1")

    error = assert_error(upload(data, "q.csv"), 422, "invalid_question_set")

    assert error["details"][0]["location"] == "line 2"
    assert "UTF-8" in error["details"][0]["message"]


def test_upload_empty_file_answers_422(upload: Callable[..., Any]) -> None:
    error = assert_error(upload(b"", "q.csv"), 422, "invalid_question_set")

    assert error["details"][0]["message"] == "the file is empty"


def test_upload_too_large_answers_413(tmp_path: Any) -> None:
    settings = Settings(QUESTION_SET_DIR=tmp_path, MAX_UPLOAD_BYTES=1000)
    with TestClient(create_app(settings)) as client:
        response = client.post("/question-set-upload", files={"file": ("q.csv", CSV + b"x" * 2000)})

    assert_error(response, 413, "upload_too_large")


def test_upload_streamed_past_the_limit_answers_413(tmp_path: Any) -> None:
    settings = Settings(QUESTION_SET_DIR=tmp_path, MAX_UPLOAD_BYTES=1000)
    boundary = "b0und"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="q.csv"\r\n'
        f"\r\n{'x' * 200_000}\r\n--{boundary}--\r\n"
    ).encode()

    def chunks() -> Any:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/question-set-upload",
            content=chunks(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )

    assert "content-length" not in response.request.headers
    assert_error(response, 413, "upload_too_large")


def test_upload_wrong_content_type_answers_415(client: TestClient) -> None:
    response = client.post(
        "/question-set-upload", content=CSV, headers={"content-type": "text/csv"}
    )

    assert_error(response, 415, "unsupported_media_type")


def test_upload_without_file_field_answers_422(client: TestClient) -> None:
    response = client.post("/question-set-upload", files={"other": ("q.csv", CSV)})

    error = assert_error(response, 422, "invalid_upload")
    assert error["details"] == [{"location": "file", "message": "is required"}]


def test_upload_two_files_answers_422(client: TestClient) -> None:
    response = client.post(
        "/question-set-upload", files=[("file", ("a.csv", CSV)), ("file", ("b.csv", CSV))]
    )

    error = assert_error(response, 422, "invalid_upload")
    assert error["details"][0]["location"] == "file"


def test_upload_broken_multipart_answers_400(client: TestClient) -> None:
    response = client.post(
        "/question-set-upload", content=b"garbage", headers={"content-type": "multipart/form-data"}
    )

    assert_error(response, 400, "malformed_upload")


def test_upload_too_long_title_answers_422(upload: Callable[..., Any]) -> None:
    error = assert_error(upload(CSV, "q.csv", "t" * 201), 422, "invalid_question_set")

    assert error["details"][0]["location"] == "title"


def test_openapi_documents_every_error_with_error_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = json.dumps(response["content"]["application/json"]["schema"])
                    assert "ErrorBody" in ref, (path, status)
    upload_body = schema["paths"]["/question-set-upload"]["post"]["requestBody"]
    assert "file" in upload_body["content"]["multipart/form-data"]["schema"]["required"]


def test_unknown_route_answers_error_shape(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.delete("/question-sets"), 405, "method_not_allowed")


def test_healthz_answers_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
