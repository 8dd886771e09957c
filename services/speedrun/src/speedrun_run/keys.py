"""Typed keys of what the application holds (``web.AppKey``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from speedrun_run.config import Settings
from speedrun_run.engine import Engine
from speedrun_run.hub import Hub
from speedrun_run.scheduler import Scheduler

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
ENGINE = web.AppKey("engine", Engine)
HUB = web.AppKey("hub", Hub)
SCHEDULER = web.AppKey("scheduler", Scheduler)
SQS = web.AppKey("sqs", object)
TASKS = web.AppKey("tasks", list[Any])
