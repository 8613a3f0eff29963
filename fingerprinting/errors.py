"""Typed errors of the attribution engine. API-facing ones carry a stable `code` and HTTP status."""

from rest_framework import status

from config.errors import Conflict, StemmaError


class UnsupportedAudio(StemmaError):
    """The upload is not an audio format we can read (sniffed from its bytes, not its name)."""

    code = "unsupported_audio"
    http_status = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


class UndecodableAudio(StemmaError):
    """The upload looks like audio but is truncated or corrupt (as far as a cheap check can tell)."""

    code = "undecodable_audio"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class AudioTooLarge(StemmaError):
    code = "audio_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class ClipExists(Conflict):
    """The partner already submitted a different file under this external id."""

    code = "clip_exists"


class AudioRejected(StemmaError):
    """Processing found the audio unusable; `code` is one of the clip reject codes."""

    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class IndexNotReady(StemmaError):
    """The label has no catalog index yet (run `index_catalog`)."""

    code = "index_not_ready"
    http_status = status.HTTP_409_CONFLICT


class AttributionInvalid(StemmaError):
    code = "attribution_invalid"
    http_status = status.HTTP_400_BAD_REQUEST
