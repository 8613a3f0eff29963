"""Clip submission for a partner: the API's answer on top of `fingerprinting.services.clip_receive`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.files import File
from django.db import transaction

from catalog.models import Label, Partner, VoiceModel
from config.errors import InvalidInput
from fingerprinting.errors import ClipExists
from fingerprinting.models import Clip
from fingerprinting.services import clip_receive
from partner_api.errors import ExternalIdConflict


@dataclass(frozen=True)
class ClipMetadata:
    external_id: str
    title: str = ""
    model_name: str = ""
    model_version: str = ""
    generated_at: datetime | None = None
    declared_references: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None
    voice_model: int | None = None  # a catalog.VoiceModel id, checked to be the key's


@transaction.atomic
def partner_clip_submit(
    *, label: Label, partner: Partner, audio: File, audio_sha256: str, metadata: ClipMetadata
) -> tuple[Clip, bool]:
    """Submit a clip for a partner; (clip, created). A replay of the same submission is not an error.

    `external_id` is unique per partner, checked once by `clip_receive`: the same file and metadata
    under a used external id return the existing clip; anything else under it is a conflict (409), so a
    partner's retry never creates a second clip and never silently changes the first.
    """
    voice_model = None
    if metadata.voice_model is not None:
        voice_model = VoiceModel.objects.filter(pk=metadata.voice_model, label=label, partner=partner).first()
        if voice_model is None:
            raise InvalidInput(
                f"voice_model {metadata.voice_model} is not a voice model {label} registered for you.",
                fields={"voice_model": [str(metadata.voice_model)]},
            )
    try:
        receipt = clip_receive(
            label=label,
            partner=partner,
            audio=audio,
            audio_sha256=audio_sha256,
            external_id=metadata.external_id,
            title=metadata.title,
            model_name=metadata.model_name,
            model_version=metadata.model_version,
            generated_at=metadata.generated_at,
            declared_references=metadata.declared_references,
            extra=metadata.extra,
            voice_model=voice_model,
        )
    except ClipExists:
        raise ExternalIdConflict(
            f"external_id {metadata.external_id!r} was already used for a different clip.",
            fields={"external_id": [metadata.external_id]},
        )
    return receipt.clip, receipt.created
