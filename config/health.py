"""`/healthz`: the process answers. `/readyz`: it can do its job (database, Redis, what apps register).

Apps register extra readiness checks (the attribution index is loaded, beat's heartbeat is fresh) with
`register_check(name, fn)` from their AppConfig.ready(); a check returns (ok, detail) quickly. Every
check has a short timeout so the endpoint turns not-ready within seconds of a dependency going away.
"""

import time
from collections.abc import Callable

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from config.celery import BEAT_HEARTBEAT_KEY, BEAT_HEARTBEAT_SECONDS, redis_client

Check = Callable[[], tuple[bool, str]]
_checks: dict[str, Check] = {}
CHECK_TIMEOUT_SECONDS = 2


def register_check(name: str, check: Check) -> None:
    _checks[name] = check


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SET LOCAL statement_timeout = {CHECK_TIMEOUT_SECONDS * 1000}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, connection.vendor
    except Exception as exc:  # any failure means not ready; the detail says which
        connection.close_if_unusable_or_obsolete()
        return False, f"{type(exc).__name__}: {exc}"[:200]


def check_redis() -> tuple[bool, str]:
    client = redis_client()
    if client is None:
        return True, "not configured (tasks run eagerly)"
    try:
        client.ping()
        return True, "pong"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]


def check_beat() -> tuple[bool, str]:
    client = redis_client()
    if client is None:
        return True, "not configured (no beat in eager mode)"
    try:
        beat = client.get(BEAT_HEARTBEAT_KEY)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]
    if beat is None:
        return False, "no heartbeat from celery beat yet"
    age = time.time() - float(beat)
    return age < 3 * BEAT_HEARTBEAT_SECONDS, f"last heartbeat {age:.0f} s ago"


register_check("database", check_database)
register_check("redis", check_redis)
register_check("beat", check_beat)


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    results = {}
    for name, check in _checks.items():
        started = time.perf_counter()
        ok, detail = check()
        results[name] = {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    ready = all(r["ok"] for r in results.values())
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": results}, status=200 if ready else 503
    )
