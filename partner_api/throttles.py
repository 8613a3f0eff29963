"""Rate limits per API key (rates `partner` and `partner_burst` in REST_FRAMEWORK settings).

A fixed-window counter per key in the default cache (Redis when REDIS_URL is set, so every worker
shares it): one cache call per rate and request (two at a window's start), and `incr` is atomic in Redis. DRF's
SimpleRateThrottle keeps one timestamp per request instead (a 1,200-entry list per key at 1200/min,
read and written whole on every request, and racy between workers). A fixed window lets up to twice
the rate through across a window boundary; the burst rate bounds that. DRF answers 429 with
`Retry-After`; config.errors gives it the code `throttled`.
"""

import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


class _ApiKeyThrottle(BaseThrottle):
    scope = ""

    def __init__(self):
        self.wait_seconds: float | None = None

    def allow_request(self, request, view) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # read now: settings may be overridden
        prefix = getattr(getattr(request, "auth", None), "prefix", None)
        if rate is None or prefix is None:
            return True
        limit, duration = SimpleRateThrottle.parse_rate(None, rate)
        now = time.time()
        window = int(now // duration)
        key = f"throttle:{self.scope}:{prefix}:{window}"
        try:  # one cache call per request once the window's counter exists
            count = cache.incr(key)
        except ValueError:  # the window's first request, or its counter just expired
            count = 1 if cache.add(key, 1, timeout=duration + 1) else cache.incr(key)
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * duration - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


class PartnerRateThrottle(_ApiKeyThrottle):
    scope = "partner"


class PartnerBurstThrottle(_ApiKeyThrottle):
    scope = "partner_burst"
