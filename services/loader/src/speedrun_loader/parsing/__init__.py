"""Turn an uploaded file into a question set, or say exactly what is wrong and where.

The format is detected from the content; the file name's extension only settles a tie (and
names the format to report errors in when the content fits none). Importing this package has
no side effects and needs no web framework: the ``speedrun`` CLI calls :func:`parse_upload` too.
"""

from __future__ import annotations

import codecs
from pathlib import PureWindowsPath

from speedrun_loader.errors import QuestionSetInvalid, UnknownFormat
from speedrun_loader.parsing.aiken import looks_like_aiken, read_aiken
from speedrun_loader.parsing.common import Collected, ParseLimits, ParseResult, finish
from speedrun_loader.parsing.gift import looks_like_gift, read_gift
from speedrun_loader.parsing.structured import (
    JsonSyntaxError,
    load_json,
    load_yaml,
    read_canonical,
    read_mc_speedrun,
    textify_yaml,
)
from speedrun_loader.parsing.tabular import looks_like_csv, read_csv
from speedrun_loader.parsing.xlsx import ZIP_MAGIC, read_xlsx
from speedrun_protocol.errors import ErrorDetail
from speedrun_protocol.questions import SourceFormat

__all__ = [
    "ParseLimits",
    "ParseResult",
    "QuestionSetInvalid",
    "UnknownFormat",
    "parse_upload",
]

_HINTS: dict[str, SourceFormat] = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".csv": "csv",
    ".xlsx": "kahoot-xlsx",
    ".gift": "gift",
    ".aiken": "aiken",
}
_BINARY_SAMPLE = 4096
_BINARY_RATIO = 0.05


def parse_upload(
    data: bytes,
    filename: str | None = None,
    title: str | None = None,
    *,
    limits: ParseLimits | None = None,
) -> ParseResult:
    """Detect the format of ``data``, read it and validate it.

    Args:
        data: The file's bytes.
        filename: The file's name as the host sent it: a format hint and a title of last resort,
            never a path.
        title: A title given beside the file; it wins over one in the file.
        limits: Question count and xlsx archive limits (defaults: the model's).

    Returns:
        The question set, the detected format and the warnings.

    Raises:
        QuestionSetInvalid: The format is known but the content is wrong; ``details`` holds
            every problem with its location.
        UnknownFormat: The content is none of the supported formats.
    """
    limits = limits or ParseLimits()
    source_format, collected = _read(data, _hint(filename), limits)
    return finish(collected, source_format, filename=filename, title=title, limits=limits)


def _hint(filename: str | None) -> SourceFormat | None:
    if not filename:
        return None
    return _HINTS.get(PureWindowsPath(filename).suffix.lower())


def _invalid(location: str, message: str) -> QuestionSetInvalid:
    return QuestionSetInvalid([ErrorDetail(location=location, message=message)])


def _read(
    data: bytes, hint: SourceFormat | None, limits: ParseLimits
) -> tuple[SourceFormat, Collected]:
    if not data.strip():
        raise _invalid("file", "the file is empty")
    if data.startswith(ZIP_MAGIC):
        return "kahoot-xlsx", read_xlsx(data, limits)
    if hint == "kahoot-xlsx":
        raise _invalid("file", "the file is named .xlsx but is not an xlsx (zip) file")
    text = _decode(data)
    if not text.strip():
        raise _invalid("file", "the file is empty")

    if text.lstrip()[0] in "[{" and hint != "yaml":
        try:
            document = load_json(text)
        except JsonSyntaxError as exc:
            raise _invalid(exc.location, f"JSON syntax: {exc.message}") from exc
        if isinstance(document, list):
            return "mc-speedrun-json", read_mc_speedrun(document)
        return "json", read_canonical(document)
    if hint == "json":
        raise _invalid("line 1", "the file is named .json but is not JSON")
    if hint in (None, "csv") and looks_like_csv(text):
        return "csv", read_csv(text)
    # Aiken before GIFT: an Aiken question may contain braces, a GIFT file has no ANSWER: line.
    if hint in (None, "aiken") and looks_like_aiken(text):
        return "aiken", read_aiken(text)
    if hint in (None, "gift") and looks_like_gift(text):
        return "gift", read_gift(text)
    if hint in (None, "yaml"):
        try:
            document = load_yaml(text)
        except JsonSyntaxError as exc:
            if hint == "yaml":
                raise _invalid(exc.location, f"YAML syntax: {exc.message}") from exc
            document = None
        if isinstance(document, dict) or hint == "yaml":
            return "yaml", read_canonical(textify_yaml(document))
    match hint:
        case "csv":
            return "csv", read_csv(text)
        case "gift":
            return "gift", read_gift(text)
        case "aiken":
            return "aiken", read_aiken(text)
    raise UnknownFormat()


def _decode(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; refuse binary data."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _invalid("file", f"invalid UTF-16 at byte {exc.start}") from exc
    data = data.removeprefix(codecs.BOM_UTF8)
    sample = data[:_BINARY_SAMPLE]
    controls = sum(1 for byte in sample if byte < 9 or 13 < byte < 32 or byte == 127)
    undecodable = sample.decode("utf-8", errors="replace").count("\ufffd")
    if b"\0" in sample or max(controls, undecodable) > _BINARY_RATIO * len(sample):
        raise UnknownFormat("The file looks like binary data, not a question set.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _invalid(
            f"line {line}",
            f"invalid UTF-8 at byte {exc.start}: save the file with the UTF-8 encoding",
        ) from exc
