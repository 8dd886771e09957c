"""The reporter's one structured logger: Powertools JSON lines, service ``speedrun-reporter``.

Context goes in ``extra=`` (``speedrun_id``, ``message_id``) and comes out as top-level keys.
"""

from __future__ import annotations

import logging
import sys

from aws_lambda_powertools import Logger

SERVICE = "speedrun-reporter"

# stderr like every speedrun process (speedrun_protocol.logs); Lambda sends both streams to
# CloudWatch.
logger = Logger(service=SERVICE, logger_handler=logging.StreamHandler(sys.stderr))
