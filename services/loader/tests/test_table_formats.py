"""CSV and Kahoot! xlsx uploads, including archives that must be refused unopened."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from speedrun_loader.errors import QuestionSetInvalid
from speedrun_loader.parsing import ParseLimits, parse_upload

CSV_GOOD = (
    "Question,Answer 1,Answer 2,Answer 3,Answer 4,Time limit,Correct answers,Category\n"
    "Capital of Peru?,Lima,Quito,,,30,1,geography\n"
    '"Which are even, exactly?",2,3,4,,,"1,3",maths\n'
)


def problems(exc: pytest.ExceptionInfo[QuestionSetInvalid]) -> dict[str, str]:
    return {d.location: d.message for d in exc.value.details}


def kahoot_workbook(rows: list[list[object]], preamble: bool = True) -> bytes:
    """An xlsx laid out like Kahoot!'s template, with ``rows`` under its header."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    if preamble:
        sheet.append([None, "Quiz template"])
        sheet.append([None, "Add questions, at least two answer alternatives..."])
        sheet.append([])
    sheet.append(
        [
            None,
            "Question - max 120 characters",
            "Answer 1 - max 75 characters",
            "Answer 2 - max 75 characters",
            "Answer 3 - max 75 characters",
            "Answer 4 - max 75 characters",
            "Time limit (sec) \u2013 5, 10, 20, 30, 60, 90, 120, or 240 secs",
            "Correct answer(s) - choose at least one",
        ]
    )
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_parse_csv_reads_every_column() -> None:
    result = parse_upload(CSV_GOOD.encode(), "q.csv", None)

    assert result.format == "csv"
    first, second = result.question_set.questions
    assert (first.options, first.correct, first.time_limit_s) == (["Lima", "Quito"], [0], 30)
    assert (second.text, second.correct, second.category) == (
        "Which are even, exactly?",
        [0, 2],
        "maths",
    )


def test_parse_csv_semicolons_bom_and_any_header_case() -> None:
    data = "\ufeffQUESTION;answer 1;ANSWER 2;Correct Answers\nOne?;yes;no;2\n".encode()

    result = parse_upload(data, None, None)

    assert result.format == "csv"
    assert result.question_set.questions[0].correct == [1]


def test_parse_csv_detected_without_extension_hint() -> None:
    result = parse_upload(CSV_GOOD.encode(), "upload.dat", None)

    assert result.format == "csv"


def test_parse_csv_errors_carry_row_and_column() -> None:
    data = (
        "question,answer 1,answer 2,answer 3,correct answers,time limit\n"
        "ok?,a,b,,3,\n"
        ",a,b,,1,\n"
        "x?,a,b,c,one,500\n"
        "y?," + "z" * 201 + ",b,,1,abc\n"
    ).encode()

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, "q.csv", None)

    found = problems(exc)
    assert "answer 3 is empty" in found["row 2, column E"]
    assert "question" in found["row 3, column A"]
    assert "'one'" in found["row 4, column E"]
    assert "time limit" in found["row 4, column F"]
    assert "at most 200" in found["row 5, column B"]
    assert "not a whole number" in found["row 5, column F"]


def test_parse_csv_without_header_names_what_is_missing() -> None:
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(b"a,b,c\n1,2,3\n", "q.csv", None)

    assert exc.value.details[0].location == "row 1"
    assert "header" in exc.value.details[0].message


def test_parse_xlsx_kahoot_template_finds_header_after_preamble() -> None:
    data = kahoot_workbook(
        [
            [1, "Largest ocean?", "Atlantic", "Pacific", "Indian", None, 20, 2],
            [2, "Primes?", "2", 4, "5", "9", 30, "1,3"],
            [3, None, None, None, None, None, None, None],
        ]
    )

    result = parse_upload(data, "kahoot.xlsx", None)

    assert result.format == "kahoot-xlsx"
    first, second = result.question_set.questions
    assert (first.correct, first.time_limit_s) == ([1], 20)
    assert (second.options, second.correct) == (["2", "4", "5", "9"], [0, 2])


def test_parse_xlsx_header_on_first_row() -> None:
    data = kahoot_workbook([[1, "Q?", "a", "b", None, None, 20, 1]], preamble=False)

    result = parse_upload(data, None, None)

    assert len(result.question_set.questions) == 1


def test_parse_xlsx_errors_carry_row_and_column() -> None:
    data = kahoot_workbook(
        [
            [1, "Fine?", "a", "b", None, None, 20, 1],
            [2, "Bad time?", "a", "b", None, None, 3, 1],
            [3, "No answer?", "a", "b", None, None, 20, None],
        ]
    )

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, "k.xlsx", None)

    found = problems(exc)
    assert "time limit" in found["row 6, column G"]
    assert "correct answers" in found["row 7, column H"]


def test_parse_xlsx_zip_bomb_is_refused_before_parsing() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (20 * 1024 * 1024))

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(out.getvalue(), "bomb.xlsx", None)

    assert "zip bomb" in exc.value.details[0].message


def test_parse_xlsx_too_large_when_unpacked_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("xl/a.xml", b"<a/>" * 300_000)

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(out.getvalue(), None, None, limits=ParseLimits(xlsx_max_uncompressed_bytes=10))

    assert "unpacks to" in exc.value.details[0].message


def test_parse_xlsx_with_too_many_entries_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number in range(250):
            archive.writestr(f"xl/part{number}.xml", "<a/>")

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(out.getvalue(), None, None)

    assert "250 files" in exc.value.details[0].message


def test_parse_xlsx_damaged_archive_is_invalid() -> None:
    data = kahoot_workbook([[1, "Q?", "a", "b", None, None, 20, 1]])

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data[: len(data) // 2], "k.xlsx", None)

    assert exc.value.details[0].location == "file"


def test_parse_xlsx_entity_expansion_is_refused() -> None:
    data = kahoot_workbook([[1, "Q?", "a", "b", None, None, 20, 1]])
    doctype = b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for entry in source.infolist():
            content = source.read(entry)
            if entry.filename == "xl/worksheets/sheet1.xml":
                content = doctype + content.replace(b"<v>", b"<v>&lol2;", 1)
            archive.writestr(entry, content)

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(out.getvalue(), "k.xlsx", None)

    assert "EntitiesForbidden" in exc.value.details[0].message
