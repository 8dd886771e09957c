"""FastAPI dependencies, as types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from speedrun_loader.config import Settings
from speedrun_loader.store import QuestionSetStore


def app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def app_store(request: Request) -> QuestionSetStore:
    """The app's question-set store."""
    store: QuestionSetStore = request.app.state.store
    return store


SettingsDep = Annotated[Settings, Depends(app_settings)]
StoreDep = Annotated[QuestionSetStore, Depends(app_store)]
