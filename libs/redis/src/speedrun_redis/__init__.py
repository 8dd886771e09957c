"""Redis helpers shared by the services that sit on the run state."""

from speedrun_redis.batch import RedisBatch, Then

__all__ = ["RedisBatch", "Then"]
