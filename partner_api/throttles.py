"""Rate limits per API key (rates `partner` and `partner_burst` in REST_FRAMEWORK settings).

The counters live in the default cache: Redis when REDIS_URL is set, so every worker shares them.
DRF answers 429 with `Retry-After`; config.errors gives it the code `throttled`.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _ApiKeyThrottle(SimpleRateThrottle):
    def get_rate(self):
        # Read at request time (DRF binds the rates at import), so settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        api_key = getattr(request, "auth", None)
        prefix = getattr(api_key, "prefix", None)
        if prefix is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": prefix}


class PartnerRateThrottle(_ApiKeyThrottle):
    scope = "partner"


class PartnerBurstThrottle(_ApiKeyThrottle):
    scope = "partner_burst"
