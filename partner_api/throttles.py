"""Rate limits per API key (rates `partner` and `partner_burst` in REST_FRAMEWORK settings).

A fixed-window counter per key and rate in the default cache (Redis when REDIS_URL is set, so every
worker shares it): both rates are counted in one cache round trip (`config.cache.incr_counters`), and
Redis increments atomically. DRF's SimpleRateThrottle keeps one timestamp per request instead (a
1,200-entry list per key at 1200/min, read and written whole on every request, and racy between
workers). A fixed window lets up to twice the rate through across a window boundary; the burst rate
bounds that. DRF answers 429 with `Retry-After`; config.errors gives it the code `throttled`.
"""

import time

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from config.cache import incr_counters


class PartnerThrottle(BaseThrottle):
    scopes = ("partner_burst", "partner")

    def __init__(self):
        self.wait_seconds: float | None = None

    def allow_request(self, request, view) -> bool:
        prefix = getattr(getattr(request, "auth", None), "prefix", None)
        if prefix is None:
            return True
        now = time.time()
        windows = {}  # cache key -> (limit, window end)
        for scope in self.scopes:
            rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)  # read now: settings may be overridden
            if rate is None:
                continue
            limit, duration = SimpleRateThrottle.parse_rate(None, rate)
            window = int(now // duration)
            windows[f"throttle:{scope}:{prefix}:{window}"] = (limit, duration, (window + 1) * duration)
        if not windows:
            return True
        counts = incr_counters({key: duration + 1 for key, (_, duration, _) in windows.items()})
        waits = [
            end - now
            for (limit, _, end), count in zip(windows.values(), counts, strict=True)
            if count > limit
        ]
        if not waits:
            return True
        self.wait_seconds = max(waits)
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
