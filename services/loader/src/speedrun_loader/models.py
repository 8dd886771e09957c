"""HTTP response bodies of the loader that are not shared schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from speedrun_protocol.questions import SourceFormat


class UploadResult(BaseModel):
    """What ``POST /question-set-upload`` answers when the set was stored."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The new set's id, made by the server (never from the file).")
    title: str = Field(description="The set's title.")
    question_count: int = Field(description="Number of questions stored.")
    categories: list[str] = Field(description="Distinct categories, in order of appearance.")
    format: SourceFormat = Field(description="The format detected from the content.")
    warnings: list[str] = Field(description="What the loader changed, dropped or assumed.")


class Health(BaseModel):
    """The liveness answer."""

    status: Literal["ok"] = Field(description="Always 'ok' when the process serves requests.")
