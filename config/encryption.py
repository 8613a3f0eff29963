"""Secrets Stemma must read back (webhook signing secrets) are stored encrypted, never in the clear.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with the keys in `FIELD_ENCRYPTION_KEYS`,
newest first: MultiFernet encrypts with the first and decrypts with any, so a key is rotated by putting
a new one in front, running `manage.py encryption_keys_rotate` (re-encrypts every stored secret with the
first key), then dropping the old one (README, deploy/README.md).
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionFailed(Exception):
    """A stored value cannot be decrypted with any configured key (a key was dropped too early)."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes): {exc}"
        ) from exc


def _box() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def secret_encrypt(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("no configured FIELD_ENCRYPTION_KEYS key decrypts this value") from exc


def secret_reencrypt(token: str) -> str:
    """The same secret encrypted with the first (newest) key."""
    try:
        return _box().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionFailed("no configured FIELD_ENCRYPTION_KEYS key decrypts this value") from exc
