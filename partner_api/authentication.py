"""`Authorization: Bearer <key>` for partner platforms."""

import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from catalog.models import Label, Partner
from partner_api.models import ApiKey, api_key_hash
from partner_api.selectors import apikey_lookup
from partner_api.services import apikey_touch

# last_used_at is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiClient:
    """Who is calling: `request.user` on partner API requests."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    @property
    def partner(self) -> Partner:
        return self.api_key.partner

    @property
    def label(self) -> Label:
        return self.api_key.label

    @property
    def pk(self) -> str:
        return self.api_key.prefix

    def __str__(self) -> str:
        return self.api_key.prefix


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <key>'.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        prefix = "_".join(raw_key.split("_", 2)[:2])  # the secret part may hold "_" too
        api_key = apikey_lookup(prefix=prefix)
        if api_key is None or not hmac.compare_digest(api_key.key_hash, api_key_hash(raw_key)):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            apikey_touch(api_key=api_key, now=now)
        return ApiClient(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
