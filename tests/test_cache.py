"""config.cache.incr_counters: fixed-window counters in one round trip on Redis, and the same answers
from the in-process cache; an unreachable Redis counts from one instead of failing the request."""

import time
import uuid

import pytest
import redis.connection
from django.core.cache import caches

from config.cache import ResilientRedisCache, incr_counters


def _locmem_caches() -> dict:
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def _redis_caches(url: str) -> dict:
    # A prefix of its own rather than a flush: the Redis may be shared.
    return {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": uuid.uuid4().hex,
        }
    }


def _counts_then_expiry(settings, backend: dict) -> None:
    settings.CACHES = backend

    assert incr_counters({"a": 60, "b": 1}) == [1, 1]
    assert incr_counters({"a": 60, "b": 1}) == [2, 2]
    assert incr_counters({"b": 1}) == [3]
    assert caches["default"].get("a") == 2  # plain cache reads see the counters

    time.sleep(1.2)  # "b" lived one second; "a" keeps its first timeout, not renewed by increments
    assert incr_counters({"a": 60, "b": 1}) == [3, 1]


def test_counters_in_the_in_process_cache(settings):
    _counts_then_expiry(settings, _locmem_caches())


@pytest.mark.redis
def test_counters_in_redis_take_one_round_trip(settings, monkeypatch):
    _counts_then_expiry(settings, _redis_caches(settings.REDIS_URL))
    backend = caches["default"]
    assert isinstance(backend, ResilientRedisCache)
    sends = []
    original = redis.connection.Connection.send_packed_command

    def counted(connection, command, *args, **kwargs):
        sends.append(command)
        return original(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    incr_counters({"x": 5, "y": 5, "z": 5})
    assert len(sends) == 1


def test_counters_count_from_one_while_redis_is_unreachable(settings):
    settings.CACHES = _redis_caches("redis://127.0.0.1:9/0")  # nothing listens on the discard port

    assert incr_counters({"a": 60, "b": 60}) == [1, 1]


@pytest.mark.redis
def test_one_redis_client_per_connection_pool_is_reused(settings):
    settings.CACHES = _redis_caches(settings.REDIS_URL)
    backend = caches["default"]

    assert backend._cache.get_client(write=True) is backend._cache.get_client(write=True)
    backend.set("reused", 41)
    assert backend.incr("reused") == 42
