"""The reporter's one structured logger: Powertools JSON lines, service ``speedrun-reporter``.

Context goes in ``extra=`` (``speedrun_id``, ``message_id``) and comes out as top-level keys.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

SERVICE = "speedrun-reporter"

logger = Logger(service=SERVICE)
