"""Where stored files live: Django's storage API, with the filesystem as the embedded default and any
S3-compatible object store (AWS S3, MinIO, Cloudflare R2) in production (django-storages).

Two storages:
- `default`: audio (recordings, clips), uploads (catalog imports, usage reports). Names are never
  overwritten: a second file with the same name gets a new name (Django's rule).
- `indexes`: catalog index versions and their pointers (fingerprinting.index). Overwritten by name (the
  CURRENT pointer moves), and a reader sees the old or the new bytes, never half a file: S3 replaces
  an object atomically; on a filesystem `AtomicFileSystemStorage` writes a temporary file and renames it.

Code that needs a file on local disk (ffmpeg decodes a path) asks `local_copy`, which uses the backend's
own path when it has one (filesystem) and otherwise downloads the object to a temporary file. Nothing
else opens a stored file by path.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, Storage

from config.env import env_str

FILESYSTEM = "filesystem"
S3 = "s3"
STATICFILES = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


class AtomicFileSystemStorage(FileSystemStorage):
    """A filesystem storage whose names can be overwritten, and whose writes are all-or-nothing."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_overwrite", True)
        super().__init__(**kwargs)

    def _save(self, name, content):
        full = Path(self.path(name))
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
            if self.file_permissions_mode is not None:
                os.chmod(tmp, self.file_permissions_mode)
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(name).replace("\\", "/")

    def delete(self, name):
        """Also removes the folder the file leaves empty, so a pruned index version is gone from
        listings, as it is from an object store (which has no folders)."""
        super().delete(name)
        with suppress(OSError):
            os.rmdir(Path(self.path(name)).parent)


def s3_storages(
    *,
    bucket: str,
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    addressing_style: str | None = None,
) -> dict:
    """STORAGES for an S3-compatible store: one bucket, `media/` for files, `indexes/` for indexes."""
    common = {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url,
        "region_name": region,
        "access_key": access_key,
        "secret_key": secret_key,
        "addressing_style": addressing_style,  # "path" for MinIO and test servers on an IP address
        "default_acl": None,  # the bucket's policy decides; files are served through Stemma, never public
        "querystring_auth": True,
    }
    backend = "storages.backends.s3.S3Storage"
    return {
        "default": {"BACKEND": backend, "OPTIONS": {**common, "location": "media", "file_overwrite": False}},
        "indexes": {"BACKEND": backend, "OPTIONS": {**common, "location": "indexes", "file_overwrite": True}},
        "staticfiles": STATICFILES,
    }


def storages_from_env() -> dict:
    kind = env_str("STORAGE_BACKEND", FILESYSTEM)
    if kind == FILESYSTEM:
        # No location: both follow settings.MEDIA_ROOT (and a test's override of it).
        return {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "indexes": {"BACKEND": "config.storage.AtomicFileSystemStorage"},
            "staticfiles": STATICFILES,
        }
    if kind == S3:
        bucket = env_str("S3_BUCKET")
        if not bucket:
            raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return s3_storages(
            bucket=bucket,
            endpoint_url=env_str("S3_ENDPOINT_URL"),
            region=env_str("S3_REGION"),
            access_key=env_str("S3_ACCESS_KEY_ID"),
            secret_key=env_str("S3_SECRET_ACCESS_KEY"),
            addressing_style=env_str("S3_ADDRESSING_STYLE"),
        )
    raise ImproperlyConfigured(f"STORAGE_BACKEND={kind!r}: expected {FILESYSTEM!r} or {S3!r}")


def backend_path(storage: Storage, name: str) -> Path | None:
    """The backend's own local path for a name, or None for a remote store."""
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        return None


@contextmanager
def local_copy(storage: Storage, name: str) -> Iterator[Path]:
    """A local file holding the stored file's bytes, for tools that need a path (ffmpeg). Remote
    objects are streamed to a temporary file that is removed afterwards."""
    own = backend_path(storage, name)
    if own is not None:
        yield own
        return
    suffix = Path(name).suffix
    with tempfile.NamedTemporaryFile(prefix="stemma-", suffix=suffix) as tmp:
        with storage.open(name, "rb") as source:
            shutil.copyfileobj(source, tmp, length=1024 * 1024)
        tmp.flush()
        yield Path(tmp.name)
