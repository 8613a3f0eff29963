"""A Redis cache that degrades to "nothing cached" while Redis is away, instead of failing requests.

The cache holds copies and counters (API key lookups, throttle windows, dashboard figures); the database
holds the truth. So during a Redis outage a read is a miss, a write is skipped, and a throttle counts from
one (requests are let through rather than refused): the partner API keeps accepting clips, which the sweep
hands to the workers once Redis is back. /readyz reports the outage meanwhile.
"""

import logging

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


class ReusingRedisCacheClient(RedisCacheClient):
    """One `redis.Redis` per connection pool, made once. Django's client makes a new one for every cache
    operation, and building one (its table of ~170 response callbacks) took 60 us: more than a GET
    to a local Redis. `redis.Redis` is safe to share between threads; the pool does the locking."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def _degrade(self, operation: str, exc: Exception, fallback):
        logger.warning("cache %s skipped, Redis unavailable: %s", operation, exc)
        return fallback

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNAVAILABLE as exc:
            return self._degrade("get", exc, default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNAVAILABLE as exc:
            return self._degrade("get_many", exc, {})

    def set(self, key, value, timeout=None, version=None):
        try:
            return super().set(key, value, timeout, version)
        except UNAVAILABLE as exc:
            return self._degrade("set", exc, None)

    def set_many(self, data, timeout=None, version=None):
        try:
            return super().set_many(data, timeout, version)
        except UNAVAILABLE as exc:
            return self._degrade("set_many", exc, list(data))

    def add(self, key, value, timeout=None, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNAVAILABLE as exc:
            return self._degrade("add", exc, False)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNAVAILABLE as exc:
            return self._degrade("incr", exc, delta)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNAVAILABLE as exc:
            return self._degrade("delete", exc, False)

    def delete_many(self, keys, version=None):
        try:
            return super().delete_many(keys, version)
        except UNAVAILABLE as exc:
            return self._degrade("delete_many", exc, None)

    def touch(self, key, timeout=None, version=None):
        try:
            return super().touch(key, timeout, version)
        except UNAVAILABLE as exc:
            return self._degrade("touch", exc, False)

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except UNAVAILABLE as exc:
            return self._degrade("has_key", exc, False)

    def incr_counters(self, timeouts: dict[str, int]) -> list[int]:
        """Add one to each counter, creating it with its timeout (seconds) if new: one round trip."""
        try:
            client = self._cache.get_client(write=True)
            pipeline = client.pipeline(transaction=False)
            for key, timeout in timeouts.items():
                redis_key = self.make_and_validate_key(key)
                # SET NX creates a new counter with its timeout and leaves a running one alone
                # (EXPIRE ... NX would say the same, but only from Redis 7).
                pipeline.set(redis_key, 0, ex=timeout, nx=True)
                pipeline.incr(redis_key)
            return pipeline.execute()[1::2]
        except UNAVAILABLE as exc:
            return self._degrade("incr_counters", exc, [1] * len(timeouts))


def incr_counters(timeouts: dict[str, int]) -> list[int]:
    """Fixed-window counters in the default cache: each key's count after this increment.

    Redis does them all in one round trip; other caches (the in-process one in development) one at
    a time, atomically per key.
    """
    backend = caches["default"]
    if isinstance(backend, ResilientRedisCache):
        return backend.incr_counters(timeouts)
    counts = []
    for key, timeout in timeouts.items():
        try:
            counts.append(backend.incr(key))
        except ValueError:  # a new window, or its counter just expired
            counts.append(1 if backend.add(key, 1, timeout=timeout) else backend.incr(key))
    return counts
