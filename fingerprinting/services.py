"""Functions that change attribution state. Each runs in one transaction (see docs/attribution.md)."""

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction

from catalog.models import Label, Partner
from config.errors import InvalidInput
from fingerprinting.audio import probe_bytes
from fingerprinting.errors import AudioTooLarge, ClipExists
from fingerprinting.models import Clip, ClipStatus

logger = logging.getLogger(__name__)


def _read_upload(audio: File) -> bytes:
    limit = settings.MAX_AUDIO_UPLOAD_BYTES
    if getattr(audio, "size", None) and audio.size > limit:
        raise AudioTooLarge(f"the audio file is larger than {limit} bytes")
    if hasattr(audio, "seek"):
        audio.seek(0)
    data = audio.read(limit + 1)
    if len(data) > limit:
        raise AudioTooLarge(f"the audio file is larger than {limit} bytes")
    return data


@transaction.atomic
def clip_submit(
    *,
    label: Label,
    partner: Partner,
    audio: File,
    external_id: str,
    title: str = "",
    model_name: str = "",
    model_version: str = "",
    generated_at: datetime | None = None,
    declared_references: Sequence[str] = (),
    extra: dict | None = None,
) -> Clip:
    """Store a partner's clip as `queued` and queue its attribution after the commit.

    The format is sniffed from the bytes (UnsupportedAudio, 415) and cheap corruption checks run here
    (UndecodableAudio, 422); length and silence are judged by processing, which rejects with a reason.
    Re-submitting the same bytes under the same external id returns the existing clip (a safe retry);
    different bytes under a used external id raise ClipExists (409).
    """
    if not external_id:
        raise InvalidInput("external_id is required", fields={"external_id": ["This field is required."]})
    data = _read_upload(audio)
    info = probe_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Clip.objects.filter(partner=partner, external_id=external_id).first()
    if existing is not None:
        if existing.audio_sha256 == sha256 and existing.label_id == label.pk:
            return existing
        raise ClipExists(f"partner {partner.slug} already submitted a clip with external id {external_id!r}")
    clip = Clip(
        label=label,
        partner=partner,
        external_id=external_id,
        title=title,
        model_name=model_name,
        model_version=model_version,
        generated_at=generated_at,
        declared_references=[str(ref).replace("-", "").upper() for ref in declared_references],
        extra=extra or {},
        audio_sha256=sha256,
        audio_format=info.format,
        duration_seconds=info.duration_seconds,
        status=ClipStatus.QUEUED,
    )
    name = getattr(audio, "name", None) or f"{external_id}.{info.format}"
    clip.audio.save(
        f"{sha256[:16]}.{info.format}" if not name else name.rsplit("/", 1)[-1], ContentFile(data), save=False
    )
    try:
        with transaction.atomic():
            clip.save()
    except IntegrityError:
        raise ClipExists(f"partner {partner.slug} already submitted a clip with external id {external_id!r}")
    from fingerprinting.tasks import clip_attribute_task

    clip_id = clip.pk
    transaction.on_commit(lambda: clip_attribute_task.delay(clip_id))
    return clip


def clip_attribute(*, clip: Clip):
    """Attribute a queued clip (engine lands in the next commits)."""
    raise NotImplementedError("the attribution engine is being built (issue 3)")
