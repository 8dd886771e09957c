"""speedrun's test harness: real parts started by the tests themselves.

* :class:`RedisServer` — an ephemeral ``redis-server`` on a free loopback port (``REDIS_URL``
  overrides); it can be stopped and started again, with or without its data, by fault tests.
* :class:`AwsEndpoint` — a LocalStack-compatible endpoint: LocalStack when one answers at
  ``LOCALSTACK_HOST`` (default ``localhost:4566``), otherwise moto's server on a free port.
* :func:`wait_until` — readiness by polling with a deadline, never a fixed sleep.
"""

from speedrun_testkit.procs import AwsEndpoint, RedisServer, free_port, wait_until

__all__ = ["AwsEndpoint", "RedisServer", "free_port", "wait_until"]
