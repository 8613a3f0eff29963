"""The licensed training manifest: which recordings a partner may train on, for one label and date.

A recording is in a partner's manifest when, on the date, a deal between the label and the partner is in
force, the recording is active with stored audio, and its `training` consent allows it (catalog.consent:
the recording's own choice, else the strictest of its holders, else the label default). A manifest is
issued once per distinct content (its hash), and lists what left since the partner's previous manifest,
so that a later opt-out reaches the partner as a removal it must act on. Audio is fetched through signed,
expiring URLs (django.core.signing.TimestampSigner), and every download is logged.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.consent import consent_resolve_many
from catalog.models import ConsentUse, Label, Partner, Recording
from royalties.errors import DownloadLinkExpired, DownloadLinkInvalid, RecordingWithdrawn
from royalties.models import Deal, TrainingDownload, TrainingManifest

DOWNLOAD_SALT = "stemma.training-download"  # a token signed for anything else never opens audio


def licensed_recordings(*, label: Label, partner: Partner, on: date) -> list[Recording]:
    """The recordings of `label` the partner may train on, on a date, by ISRC."""
    if not Deal.objects.filter(label=label, partner=partner).in_force(on=on).exists():
        return []
    candidates = list(
        Recording.objects.filter(label=label, is_active=True)
        .exclude(audio="")
        .exclude(audio_sha256="")
        .order_by("isrc")
    )
    answers = consent_resolve_many(recordings=candidates, use=ConsentUse.TRAINING, on=on)
    return [r for r in candidates if answers[r.pk].allowed]


def recording_licensed(*, recording: Recording, partner: Partner, on: date) -> bool:
    """One recording of `licensed_recordings`, without resolving the whole catalog."""
    if not (recording.is_active and recording.audio and recording.audio_sha256):
        return False
    if not Deal.objects.filter(label_id=recording.label_id, partner=partner).in_force(on=on).exists():
        return False
    return consent_resolve_many(recordings=[recording], use=ConsentUse.TRAINING, on=on)[recording.pk].allowed


def manifest_content_hash(recordings: list[Recording]) -> str:
    lines = "".join(f"{r.isrc}:{r.audio_sha256}\n" for r in sorted(recordings, key=lambda r: r.isrc))
    return hashlib.sha256(lines.encode()).hexdigest()


@transaction.atomic
def training_manifest_issue(*, label: Label, partner: Partner, on: date) -> TrainingManifest:
    """The partner's manifest for a date: the latest one again if nothing changed, else a new one."""
    # One issuer at a time per partner, so two concurrent requests do not issue the same content twice.
    Partner.objects.select_for_update().filter(pk=partner.pk).first()
    recordings = licensed_recordings(label=label, partner=partner, on=on)
    content_hash = manifest_content_hash(recordings)
    latest = (
        TrainingManifest.objects.filter(label=label, partner=partner).order_by("-created_at", "-id").first()
    )
    if latest is not None and latest.content_hash == content_hash and latest.as_of == on:
        return latest
    ids = [r.pk for r in recordings]
    removed = sorted(set(latest.recording_ids) - set(ids)) if latest is not None else []
    return TrainingManifest.objects.create(
        label=label, partner=partner, as_of=on, content_hash=content_hash, recording_ids=ids,
        previous=latest, removed_ids=removed,
    )  # fmt: skip


@dataclass(frozen=True)
class Removal:
    recording: Recording
    reason: str  # "consent_withdrawn", "not_licensed", "taken_down" or "no_audio"


def manifest_removals(*, manifest: TrainingManifest) -> list[Removal]:
    """Why each recording of the previous manifest left this one."""
    recordings = list(Recording.objects.filter(pk__in=manifest.removed_ids).order_by("isrc"))
    licensed = (
        Deal.objects.filter(label=manifest.label, partner=manifest.partner)
        .in_force(on=manifest.as_of)
        .exists()
    )
    answers = consent_resolve_many(recordings=recordings, use=ConsentUse.TRAINING, on=manifest.as_of)
    removals = []
    for recording in recordings:
        if not licensed:
            reason = "not_licensed"
        elif not recording.is_active:
            reason = "taken_down"
        elif not answers[recording.pk].allowed:
            reason = "consent_withdrawn"
        else:
            reason = "no_audio"
        removals.append(Removal(recording=recording, reason=reason))
    return removals


def download_url(*, manifest: TrainingManifest, recording: Recording) -> str:
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign_object(
        {"m": manifest.pk, "r": recording.pk, "p": manifest.partner_id}
    )
    path = reverse("partner_api:training-download", args=[manifest.pk, recording.isrc])
    return f"{path}?token={token}"


def download_expires_at(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=settings.TRAINING_DOWNLOAD_URL_SECONDS)


@transaction.atomic
def training_download_open(*, manifest_id: int, isrc: str, token: str) -> Recording:
    """Check a download URL and log the download; the recording whose audio to send."""
    try:
        data = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign_object(
            token, max_age=settings.TRAINING_DOWNLOAD_URL_SECONDS
        )
    except signing.SignatureExpired:
        raise DownloadLinkExpired(
            "This download link has expired; ask for the manifest again for fresh links."
        )
    except signing.BadSignature:
        raise DownloadLinkInvalid("This download link is not valid.")
    manifest = TrainingManifest.objects.filter(pk=manifest_id, partner_id=data.get("p")).first()
    recording = Recording.objects.filter(pk=data.get("r"), isrc=isrc).first()
    if (
        data.get("m") != manifest_id
        or manifest is None
        or recording is None
        or recording.pk not in manifest.recording_ids
    ):
        raise DownloadLinkInvalid("This download link is not valid.")
    today = timezone.localdate()
    if not recording_licensed(recording=recording, partner=manifest.partner, on=today):
        raise RecordingWithdrawn(
            f"{recording.isrc} is no longer licensed to you for training; your next manifest lists it as a removal."
        )
    TrainingDownload.objects.create(
        manifest=manifest, recording=recording, partner=manifest.partner, label=manifest.label
    )
    return recording
