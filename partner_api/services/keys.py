"""API keys: create (shown once), revoke, record use."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from catalog.models import Label, Membership, Partner, Role
from catalog.services import audit_record
from partner_api.errors import ApiKeyCreateError
from partner_api.models import ApiKey, api_key_hash
from partner_api.selectors import APIKEY_CACHE_SECONDS, apikey_cache_key


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def apikey_create(
    *, label: Label, partner: Partner, name: str = "", created_by: User | None = None
) -> CreatedApiKey:
    """A new key for `partner` acting within `label`. `created_by`, when given, must be a label admin."""
    if created_by is not None and not getattr(created_by, "is_superuser", False):
        is_admin = Membership.objects.filter(user=created_by, label=label, role=Role.ADMIN).exists()
        if not is_admin:
            raise ApiKeyCreateError(f"{created_by} is not an admin of {label}.")
    prefix, raw_key = ApiKey.generate()
    api_key = ApiKey.objects.create(
        label=label,
        partner=partner,
        name=name[:200],
        prefix=prefix,
        key_hash=api_key_hash(raw_key),
        created_by=created_by,
    )
    audit_record(
        label=label,
        actor=created_by,
        action="apikey.created",
        obj=api_key,
        summary=f"API key {prefix} ({name or 'unnamed'}) created for {partner.name}",
        data={"partner": partner.slug, "prefix": prefix},
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def apikey_revoke(*, api_key: ApiKey, revoked_by: User | None = None) -> ApiKey:
    """Revoke a key; revoking a revoked key keeps its first revocation time."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    if revoked:
        audit_record(
            label=api_key.label,
            actor=revoked_by,
            action="apikey.revoked",
            obj=api_key,
            summary=f"API key {api_key.prefix} of {api_key.partner.name} revoked",
            data={"partner": api_key.partner.slug, "prefix": api_key.prefix},
        )
    # Dropped now and again after the commit: a request racing the revocation may re-cache the old row.
    prefix = api_key.prefix
    cache.delete(apikey_cache_key(prefix))
    transaction.on_commit(lambda: cache.delete(apikey_cache_key(prefix)))
    return api_key


def apikey_touch(*, api_key: ApiKey, now: datetime) -> None:
    """Record a use (callers do it at most once a minute per key) and refresh the cached copy."""
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    cache.set(apikey_cache_key(api_key.prefix), api_key, APIKEY_CACHE_SECONDS)
