"""The Lambda entry point: API Gateway HTTP API (payload v2) events through Mangum."""

from __future__ import annotations

from mangum import Mangum

from speedrun_loader.app import create_app
from speedrun_loader.config import get_settings

handler = Mangum(create_app(get_settings()), lifespan="off")
