"""Redis helpers shared by the services that sit on the run state."""

from speedrun_redis.batch import RedisBatch

__all__ = ["RedisBatch"]
