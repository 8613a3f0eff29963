"""Functions that change the catalog. Each runs in one transaction."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.files import File
from django.db import transaction

from catalog.errors import SplitInvalid, SplitNotRetroactive
from catalog.models import ONE, SHARE_PLACES, Party, Recording, RecordingStatus, Split, SplitShare


@dataclass(frozen=True)
class ShareLine:
    party: Party
    share: Decimal


def parse_share(raw: str | Decimal) -> Decimal:
    """A share as a Decimal with at most SHARE_PLACES places, in (0, 1]; ValueError otherwise."""
    try:
        share = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"share {raw!r} is not a number")
    if not share.is_finite():
        raise ValueError(f"share {raw!r} is not a finite number")
    if share <= 0 or share > ONE:
        raise ValueError(f"share {raw} must be above 0 and at most 1")
    if share.as_tuple().exponent < -SHARE_PLACES:
        raise ValueError(f"share {raw} has more than {SHARE_PLACES} decimal places")
    return share


def split_sum_problem(*, isrc: str, right_type: str, shares: Sequence[Decimal]) -> str | None:
    """Why a set of shares is not a valid split version, or None. Shared by the service and the import."""
    if not shares:
        return f"recording {isrc}: a {right_type} split needs at least one share"
    total = sum(shares, Decimal(0))
    if total != ONE:
        return f"recording {isrc}: {right_type} shares sum to {total}, not exactly 1"
    return None


def split_latest_start(*, recording: Recording, right_type: str) -> date | None:
    latest = (
        Split.objects.filter(recording=recording, right_type=right_type)
        .order_by("-effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    return latest


@transaction.atomic
def split_create(
    *,
    recording: Recording,
    right_type: str,
    effective_from: date,
    shares: Sequence[ShareLine],
    created_by=None,
    note: str = "",
) -> Split:
    """A new split version from `effective_from` on. Never edits or back-dates an existing version."""
    parties = [line.party for line in shares]
    if len({p.pk for p in parties}) != len(parties):
        raise SplitInvalid(f"recording {recording.isrc}: a party appears twice in one split")
    if any(p.label_id != recording.label_id for p in parties):
        raise SplitInvalid(f"recording {recording.isrc}: every party must belong to {recording.label}")
    checked = []
    for line in shares:
        try:
            checked.append(parse_share(line.share))
        except ValueError as exc:
            raise SplitInvalid(f"recording {recording.isrc}: {exc}")
    problem = split_sum_problem(isrc=recording.isrc, right_type=right_type, shares=checked)
    if problem:
        raise SplitInvalid(problem, fields={"shares": [problem]})
    # Lock the recording so two concurrent edits cannot both pass the "latest version" check.
    Recording.objects.select_for_update().filter(pk=recording.pk).first()
    latest = split_latest_start(recording=recording, right_type=right_type)
    if latest is not None and effective_from <= latest:
        raise SplitNotRetroactive(
            f"recording {recording.isrc}: a {right_type} split already starts {latest}; "
            f"a new version must start after it (splits are never changed retroactively)"
        )
    split = Split.objects.create(
        recording=recording,
        right_type=right_type,
        effective_from=effective_from,
        created_by=created_by,
        note=note,
    )
    SplitShare.objects.bulk_create(
        SplitShare(split=split, party=line.party, share=share)
        for line, share in zip(shares, checked, strict=True)
    )
    return split


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recording_attach_audio(*, recording: Recording, path: Path, sha256: str | None = None) -> bool:
    """Store a recording's audio and mark it pending for fingerprinting. False if it was already stored."""
    sha256 = sha256 or file_sha256(path)
    if recording.audio and recording.audio_sha256 == sha256:
        return False
    with path.open("rb") as handle:
        recording.audio.save(path.name, File(handle), save=False)
    recording.audio_sha256 = sha256
    recording.status = RecordingStatus.PENDING
    recording.status_reason = ""
    recording.save(update_fields=["audio", "audio_sha256", "status", "status_reason", "updated_at"])
    return True
