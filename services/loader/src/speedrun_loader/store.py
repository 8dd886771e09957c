"""The question-set store: one ``<id>.json`` per set in QUESTION_SET_DIR (EFS in AWS).

A set is written to a hidden temporary file in the same directory, flushed to disk, then
hard-linked to its final name, so a reader sees the whole file or nothing, and two writers can
never replace each other's set (the link fails if the name exists). Temporary files start with
``.`` and never match an id, so listings and readers ignore one left by a crash.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from speedrun_loader.errors import QuestionSetNotFound
from speedrun_loader.parsing import ParseResult
from speedrun_protocol.ids import is_question_set_id, new_question_set_id
from speedrun_protocol.questions import QuestionSetSummary, StoredQuestionSet

log = logging.getLogger(__name__)

TEMP_PREFIX = ".incoming-"
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV}


def read_question_set(directory: Path, question_set_id: str) -> StoredQuestionSet:
    """Read one stored set; the id is checked before any path is built.

    Args:
        directory: The store's directory.
        question_set_id: An id from a URL or a message.

    Returns:
        The stored set.

    Raises:
        QuestionSetNotFound: The id has the wrong format or no set has it.
    """
    if not is_question_set_id(question_set_id):
        raise QuestionSetNotFound(question_set_id)
    try:
        raw = (directory / f"{question_set_id}.json").read_bytes()
    except FileNotFoundError as exc:
        raise QuestionSetNotFound(question_set_id) from exc
    return StoredQuestionSet.model_validate_json(raw)


class QuestionSetStore:
    """Stores and reads question sets in one directory."""

    def __init__(self, directory: Path) -> None:
        """Use ``directory`` (created when missing)."""
        self.directory = directory

    def save(self, result: ParseResult) -> StoredQuestionSet:
        """Store a parsed set under a new id and return it as stored."""
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            stored = StoredQuestionSet(
                id=new_question_set_id(),
                created_at=datetime.now(UTC),
                source_format=result.format,
                warnings=result.warnings,
                title=result.question_set.title,
                questions=result.question_set.questions,
            )
            if self._write_new(stored.id, stored.model_dump_json().encode()):
                return stored
            # 130 random bits make this practically unreachable; never overwrite anyway.
            log.warning("question-set id collision", extra={"question_set_id": stored.id})

    def _write_new(self, question_set_id: str, payload: bytes) -> bool:
        if not is_question_set_id(question_set_id):  # pragma: no cover - ids are ours
            raise ValueError("not a question-set id")
        final = self.directory / f"{question_set_id}.json"
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(payload)
                temp.flush()
                os.fsync(temp.fileno())
            os.chmod(temp_name, 0o644)
            try:
                os.link(temp_name, final)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                # A file system without hard links: rename, still atomic; the id is random.
                os.replace(temp_name, final)
            self._sync_directory()
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, question_set_id: str) -> StoredQuestionSet:
        """Read one set; raise QuestionSetNotFound when the id is malformed or unknown."""
        return read_question_set(self.directory, question_set_id)

    def list(self) -> list[QuestionSetSummary]:
        """Summaries of every stored set, newest first; unreadable files are skipped."""
        summaries: list[QuestionSetSummary] = []
        if not self.directory.is_dir():
            return summaries
        for path in self.directory.glob("qs_*.json"):
            if not is_question_set_id(path.stem):
                continue
            try:
                stored = StoredQuestionSet.model_validate_json(path.read_bytes())
            except (OSError, ValidationError):
                log.warning("unreadable question-set file skipped", extra={"path": str(path)})
                continue
            summaries.append(
                QuestionSetSummary(
                    id=stored.id,
                    title=stored.title,
                    question_count=len(stored.questions),
                    categories=stored.categories,
                    created=stored.created_at,
                )
            )
        summaries.sort(key=lambda s: (s.created, s.id), reverse=True)
        return summaries
