"""The loader's settings: one environment variable per field (field name = variable name)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from speedrun_loader.parsing import ParseLimits
from speedrun_protocol.questions import MAX_QUESTIONS

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Everything the loader reads from its environment."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    ENVIRONMENT: Literal["development", "test", "staging", "production"] = Field(
        default="development", description="'production' in AWS."
    )
    LOG_LEVEL: str = Field(default="INFO", description="Minimum log level.")
    QUESTION_SET_DIR: Path = Field(
        default=Path("./data/question-sets"),
        description="The question-set store: the EFS mount in AWS, a local folder otherwise.",
    )
    MAX_UPLOAD_BYTES: int = Field(
        default=5 * MIB,
        gt=0,
        description="Largest accepted request body (below Lambda's 6 MB synchronous payload).",
    )
    MAX_QUESTIONS: int = Field(
        default=MAX_QUESTIONS,
        ge=1,
        le=MAX_QUESTIONS,
        description="Most questions in one set (the model's hard limit is the ceiling).",
    )
    XLSX_MAX_ENTRIES: int = Field(default=200, ge=1, description="Most files inside an xlsx.")
    XLSX_MAX_UNCOMPRESSED_BYTES: int = Field(
        default=50 * MIB, ge=1, description="Largest total uncompressed size of an xlsx."
    )
    XLSX_MAX_RATIO: int = Field(
        default=100, ge=1, description="Largest compression ratio of a sizeable xlsx entry."
    )

    @property
    def parse_limits(self) -> ParseLimits:
        """The limits the parser enforces, from these settings."""
        return ParseLimits(
            max_questions=self.MAX_QUESTIONS,
            xlsx_max_entries=self.XLSX_MAX_ENTRIES,
            xlsx_max_uncompressed_bytes=self.XLSX_MAX_UNCOMPRESSED_BYTES,
            xlsx_max_ratio=self.XLSX_MAX_RATIO,
        )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
