"""Functions that change attribution state. Each runs in one transaction (see docs/attribution.md)."""

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from catalog.models import Label, Partner, Recording, RecordingStatus, VoiceModel, Work
from catalog.services import audit_record
from config.celery import enqueue_on_commit
from config.errors import InvalidInput
from config.storage import local_copy
from fingerprinting import engine, events
from fingerprinting import index as catalog_index
from fingerprinting.audio import load_for_analysis, probe_bytes
from fingerprinting.engine.shares import ONE, quantize
from fingerprinting.errors import AttributionInvalid, AudioRejected, AudioTooLarge, ClipExists, IndexNotReady
from fingerprinting.licence import licence_findings, unlicensed_uses_record
from fingerprinting.licence import review_reasons as licence_review_reasons
from fingerprinting.models import (
    SHARE_PLACES,
    Attribution,
    AttributionShare,
    Clip,
    ClipStatus,
    IndexVersion,
    Lane,
    ReviewState,
    ShareRight,
)

logger = logging.getLogger(__name__)

# The engine's knobs (fingerprinting.engine.config), saved with every attribution; the composition
# lane only when settings.ENGINE_COMPOSITION_LANE switches it on.
ENGINE_CONFIG = (
    dataclasses.replace(
        engine.DEFAULT_CONFIG,
        composition=dataclasses.replace(engine.DEFAULT_CONFIG.composition, enabled=True),
    )
    if settings.ENGINE_COMPOSITION_LANE
    else engine.DEFAULT_CONFIG
)


def _read_upload(audio: File) -> bytes:
    """The upload's bytes, at most MAX_AUDIO_UPLOAD_BYTES (AudioTooLarge beyond)."""
    limit = settings.MAX_AUDIO_UPLOAD_BYTES
    if getattr(audio, "size", None) and audio.size > limit:
        raise AudioTooLarge(f"the audio file is larger than {limit} bytes")
    if hasattr(audio, "seek"):
        audio.seek(0)
    data = audio.read(limit + 1)
    if len(data) > limit:
        raise AudioTooLarge(f"the audio file is larger than {limit} bytes")
    return data


def _external_id_lock(*, partner: Partner, external_id: str) -> None:
    """Serialise submissions of one (partner, external_id) until the transaction ends (PostgreSQL).

    Without it, two identical racing requests both pass the existence check, and the loser cannot tell
    whether its clip was created or the winner's found. SQLite serialises writers anyway (IMMEDIATE).
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"clip-external-id:{partner.pk}:{external_id}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


@dataclass(frozen=True)
class ClipReceipt:
    clip: Clip
    created: bool  # False: this exact submission was stored before, and `clip` is that one (a safe retry)


def _normalized_references(references: Sequence[str]) -> list[str]:
    return [str(ref).replace("-", "").upper() for ref in references]


@transaction.atomic
def clip_receive(
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
    audio_sha256: str | None = None,
    voice_model: VoiceModel | None = None,
) -> ClipReceipt:
    """Store a partner's clip as `queued` and queue its attribution after the commit.

    The format is sniffed from the bytes (UnsupportedAudio, 415) and cheap corruption checks run here
    (UndecodableAudio, 422); length and silence are judged by processing, which rejects with a reason.
    `external_id` is unique per partner and checked here, once: the same bytes and metadata under a
    used external id return the stored clip (created=False); anything else under it raises ClipExists.
    The file is stored under its content's name, `<sha256>.<sniffed format>`, never the uploader's.
    `audio_sha256`, when the caller has already hashed these very bytes (the API does, for its
    idempotency fingerprint), saves hashing them twice.
    """
    if not external_id:
        raise InvalidInput("external_id is required", fields={"external_id": ["This field is required."]})
    data = _read_upload(audio)
    sha256 = audio_sha256 or hashlib.sha256(data).hexdigest()
    info = probe_bytes(data)
    references = _normalized_references(declared_references)
    metadata = {
        "title": title,
        "model_name": model_name,
        "model_version": model_version,
        "generated_at": generated_at,
        "declared_references": references,
        "extra": extra or {},
        "voice_model": voice_model,
    }
    _external_id_lock(partner=partner, external_id=external_id)
    existing = Clip.objects.filter(partner=partner, external_id=external_id).first()
    if existing is not None:
        same = (
            existing.label_id == label.pk
            and existing.audio_sha256 == sha256
            and all(getattr(existing, name) == value for name, value in metadata.items())
        )
        if same:
            return ClipReceipt(existing, created=False)
        raise ClipExists(f"partner {partner.slug} already submitted a clip with external id {external_id!r}")
    clip = Clip(
        label=label,
        partner=partner,
        external_id=external_id,
        **metadata,
        audio_sha256=sha256,
        audio_format=info.format,
        duration_seconds=info.duration_seconds,
        status=ClipStatus.QUEUED,
    )
    # Content-addressed: the same bytes are one file, whoever sent them, and no name the uploader chose
    # (x.html) ever reaches the storage or the type a browser is told when the file is served.
    file_name = f"{sha256}.{info.format}"
    stored_name = clip.audio.field.generate_filename(clip, file_name)
    wrote_file = not clip.audio.storage.exists(stored_name)
    if wrote_file:
        clip.audio.save(file_name, ContentFile(data), save=False)
    else:
        clip.audio.name = stored_name
    try:
        with transaction.atomic():
            clip.save()
    except BaseException as exc:
        if wrote_file:
            clip.audio.delete(save=False)  # no row will point at the file
        if isinstance(exc, IntegrityError):
            raise ClipExists(
                f"partner {partner.slug} already submitted a clip with external id {external_id!r}"
            ) from exc
        raise
    from fingerprinting.tasks import clip_attribute_task

    clip_id = clip.pk
    enqueue_on_commit(clip_attribute_task, clip_id)
    return ClipReceipt(clip, created=True)


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
    """`clip_receive` for callers that do not need to tell a new clip from a safe retry."""
    return clip_receive(
        label=label,
        partner=partner,
        audio=audio,
        external_id=external_id,
        title=title,
        model_name=model_name,
        model_version=model_version,
        generated_at=generated_at,
        declared_references=declared_references,
        extra=extra,
    ).clip


MAX_ATTEMPTS = 3
RECORDING_MAX_SECONDS = 3600.0


# -- catalog indexing ----------------------------------------------------------------------------------
def _recording_samples(recording: Recording) -> np.ndarray:
    if not recording.audio:
        raise AudioRejected("the recording has no audio file", code="empty")
    with local_copy(recording.audio.storage, recording.audio.name) as path:
        return load_for_analysis(path, min_seconds=1.0, max_seconds=RECORDING_MAX_SECONDS)


def recording_analyse(*, recording: Recording) -> engine.RecordingAnalysis:
    """Fingerprint and embed one recording (cached on disk by audio hash, embedder and index engine
    version)."""
    embedder = catalog_index.get_embedder()
    sha = recording.audio_sha256 or hashlib.sha256(recording.audio.read()).hexdigest()
    path = catalog_index.analysis_path(recording.label_id, recording.pk, sha, embedder)
    if catalog_index.analysis_exists(path):
        return catalog_index.analysis_load(path)
    samples = _recording_samples(recording)
    analysis = engine.analyse_recording(
        samples,
        recording_id=recording.pk,
        isrc=recording.isrc,
        title=recording.title,
        embedder=embedder,
        config=ENGINE_CONFIG,
    )
    catalog_index.analysis_save(path, analysis)
    return analysis


def _index_finish(index: engine.CatalogIndex, previous: engine.CatalogIndex | None) -> dict:
    """Near-duplicate groups and the false-alarm calibration of a new index version
    (engine.finish_index), leave-one-out over the recordings' own audio files."""
    return engine.finish_index(index, config=ENGINE_CONFIG, audio=index_audio(index), previous=previous)


def index_audio(index: engine.CatalogIndex) -> Callable[[int], np.ndarray]:
    """A recording's samples at the analysis rate by its position in `index`, read from its audio file
    (what the leave-one-out calibration cuts its queries from)."""
    ids = [row["id"] for row in index.recordings]
    files = {r.pk: r.audio for r in Recording.objects.filter(pk__in=ids).only("pk", "audio")}

    def audio(position: int) -> np.ndarray:
        file = files[index.recordings[position]["id"]]
        with local_copy(file.storage, file.name) as path:
            return load_for_analysis(path, min_seconds=0.0, max_seconds=RECORDING_MAX_SECONDS)

    return audio


def _row(recording: Recording, analysis: engine.RecordingAnalysis) -> dict:
    return {
        "id": recording.pk,
        "isrc": recording.isrc,
        "title": recording.title,
        "duration": round(analysis.duration, 3),
        "sha": recording.audio_sha256,
    }


def _claim_recordings(label: Label, recordings: Iterable[Recording] | None) -> list[Recording]:
    """Move pending recordings to processing; return the ones this call claimed."""
    queryset = Recording.objects.filter(label=label, status=RecordingStatus.PENDING)
    if recordings is not None:
        queryset = queryset.filter(pk__in=[r.pk for r in recordings])
    claimed = []
    for recording in queryset.order_by("pk"):
        updated = Recording.objects.filter(pk=recording.pk, status=RecordingStatus.PENDING).update(
            status=RecordingStatus.PROCESSING, status_reason=""
        )
        if updated:
            claimed.append(recording)
    return claimed


def catalog_index_update(
    *,
    label: Label,
    recordings: Iterable[Recording] | None = None,
    remove: Iterable[Recording] = (),
    rebuild: bool = False,
    progress: Callable[[Recording], None] | None = None,
) -> IndexVersion | None:
    """Fingerprint, embed and index the label's pending recordings (or only `recordings`), drop
    `remove`, and swap in a new index version. Safe to re-run: only pending recordings are claimed,
    analyses are cached, and nothing changes when there is nothing to do (returns None then).
    `rebuild=True` refits the standardizer and writes a version from all indexed recordings."""
    claimed = _claim_recordings(label, recordings)
    analysed: list[tuple[Recording, engine.RecordingAnalysis]] = []
    for recording in claimed:
        try:
            analysed.append((recording, recording_analyse(recording=recording)))
        except AudioRejected as exc:
            Recording.objects.filter(pk=recording.pk).update(
                status=RecordingStatus.FAILED, status_reason=f"{exc.code}: {exc.message}"[:300]
            )
        except Exception as exc:
            Recording.objects.filter(pk=recording.pk).update(
                status=RecordingStatus.PENDING, status_reason=f"indexing failed, will retry: {exc}"[:300]
            )
            raise
        if progress:
            progress(recording)
    removed_ids = {r.pk for r in remove}
    if not analysed and not removed_ids and not rebuild:
        return None
    with catalog_index.label_lock(label.pk):
        previous = catalog_index.open_current(label.pk, ENGINE_CONFIG)
        new_ids = {r.pk for r, _a in analysed}
        keep = (
            Recording.objects.filter(label=label, status=RecordingStatus.INDEXED)
            .exclude(pk__in=new_ids | removed_ids)
            .order_by("pk")
        )
        entries = [(_row(r, a), a) for r, a in analysed]
        for recording in keep:
            analysis = recording_analyse(recording=recording)
            entries.append((_row(recording, analysis), analysis))
        standardizer = None if (rebuild or previous is None) else previous.standardizer
        if previous is not None and previous.meta.get("engine_version") != engine.INDEX_ENGINE_VERSION:
            standardizer, previous = None, None  # an index of an older engine: rebuild from scratch
        version = catalog_index.write_version(
            label_id=label.pk,
            entries=entries,
            standardizer=standardizer,
            embedder=catalog_index.get_embedder(),
            config=ENGINE_CONFIG,
            finish=lambda index: _index_finish(index, previous),
            previous=previous,
        )
        loaded = catalog_index.open_current(label.pk, ENGINE_CONFIG)
        with transaction.atomic():
            IndexVersion.objects.filter(label=label, is_current=True).update(is_current=False)
            row, _created = IndexVersion.objects.update_or_create(
                label=label,
                version=version,
                defaults={
                    "parent": previous.version if previous else "",
                    "kind": loaded.meta["kind"],
                    "n_recordings": loaded.n_recordings,
                    "n_segments": loaded.meta["n_segments"],
                    "embedder_version": loaded.meta["embedder_version"],
                    "engine_version": loaded.meta["engine_version"],
                    "calibration": loaded.meta["calibration"],
                    "near_duplicates": loaded.meta["near_duplicates"],
                    "is_current": True,
                },
            )
            if new_ids:
                Recording.objects.filter(pk__in=new_ids).update(
                    status=RecordingStatus.INDEXED, status_reason=""
                )
            if removed_ids:
                Recording.objects.filter(pk__in=removed_ids, status=RecordingStatus.INDEXED).update(
                    status=RecordingStatus.PENDING, status_reason="removed from the index"
                )
        catalog_index.prune_versions(label.pk)
    return row


def recording_index(*, recording: Recording) -> IndexVersion | None:
    """Incremental add of one pending recording (the task path); None if it was not pending."""
    return catalog_index_update(label=recording.label, recordings=[recording])


def recording_unindex(*, recording: Recording) -> IndexVersion | None:
    """Remove a recording from its label's index (a new version without its segments)."""
    return catalog_index_update(label=recording.label, recordings=[], remove=[recording])


def index_rebuild(*, label: Label) -> IndexVersion | None:
    return catalog_index_update(label=label, rebuild=True)


@transaction.atomic
def index_activate(*, label: Label, version: str) -> IndexVersion:
    """Make an existing version current again (a rollback), atomically."""
    row = IndexVersion.objects.select_for_update().filter(label=label, version=version).first()
    if row is None:
        raise InvalidInput(f"label {label.slug} has no index version {version!r}")
    catalog_index.swap_current(label.pk, version)
    IndexVersion.objects.filter(label=label, is_current=True).exclude(pk=row.pk).update(is_current=False)
    row.is_current = True
    row.save(update_fields=["is_current"])
    return row


# -- clip attribution ----------------------------------------------------------------------------------
def _reject(clip: Clip, code: str, message: str) -> None:
    with transaction.atomic():
        updated = Clip.objects.filter(pk=clip.pk, status=ClipStatus.PROCESSING).update(
            status=ClipStatus.REJECTED,
            reject_code=code,
            reject_message=message[:500],
            processing_started_at=None,
        )
        if updated:
            clip.refresh_from_db()
            events.publish(events.CLIP_REJECTED, clip=clip, attribution=None)


def _claim_clip(clip: Clip) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CLIP_PROCESSING_TIMEOUT_SECONDS)
    return bool(
        Clip.objects.filter(pk=clip.pk)
        .filter(
            Q(status=ClipStatus.QUEUED) | Q(status=ClipStatus.PROCESSING, processing_started_at__lt=stale)
        )
        .update(status=ClipStatus.PROCESSING, processing_started_at=now, attempts=F("attempts") + 1)
    )


def audio_attribute(*, label: Label, path: Path | str, declared_references: Sequence[str] = ()):
    """Attribute an audio file against the label's current index without storing anything.
    Returns (EngineResult, CatalogIndex). Raises AudioRejected or IndexNotReady."""
    samples = load_for_analysis(
        path, min_seconds=settings.CLIP_MIN_SECONDS, max_seconds=settings.CLIP_MAX_SECONDS
    )
    index = catalog_index.open_current(label.pk, ENGINE_CONFIG)
    if index is None or index.n_recordings == 0:
        raise IndexNotReady(f"label {label.slug} has no catalog index yet; run index_catalog")
    result = engine.attribute(index, samples, config=ENGINE_CONFIG, declared_isrcs=tuple(declared_references))
    return result, index


class ShareLine(NamedTuple):
    """One share of an attribution version about to be written."""

    recording: Recording
    share: Decimal
    lane: str
    evidence: dict
    right: str = ShareRight.RECORDING


def _attribution_write(
    *,
    clip: Clip,
    lines: list[ShareLine],
    remainder: Decimal,
    review_state: str,
    review_reasons: list[dict] | None = None,
    confidence: float,
    engine_name: str,
    engine_version: str,
    embedder_version: str,
    index_version: str,
    parameters: dict,
    evidence: dict,
    timings: dict,
    created_by=None,
    reason: str = "",
) -> Attribution:
    """Append a new attribution version and move the clip's pointer. Caller holds the clip row lock."""
    total = sum((line.share for line in lines), Decimal(0)) + remainder
    if total != ONE:
        raise AttributionInvalid(f"shares plus remainder sum to {total}, not exactly 1")
    previous = Attribution.objects.filter(clip=clip).aggregate(v=Max("version"))["v"] or 0
    attribution = Attribution.objects.create(
        clip=clip,
        version=previous + 1,
        unattributed=remainder,
        review_state=review_state,
        review_reasons=review_reasons or [],
        confidence=confidence,
        engine_name=engine_name,
        engine_version=engine_version,
        embedder_version=embedder_version,
        index_version=index_version,
        parameters=parameters,
        evidence=evidence,
        timings=timings,
        created_by=created_by,
        reason=reason,
        supersedes_id=clip.current_attribution_id,
    )
    AttributionShare.objects.bulk_create(
        AttributionShare(
            attribution=attribution,
            recording=line.recording,
            rank=rank,
            share=line.share,
            lane=line.lane,
            evidence=line.evidence,
            right=line.right,
        )
        for rank, line in enumerate(lines, start=1)
    )
    return attribution


def _engine_lines(label: Label, result, index) -> tuple[list[ShareLine], Decimal]:
    values, remainder = quantize([s.share for s in result.shares], places=SHARE_PLACES)
    ids = [index.recordings[s.position]["id"] for s in result.shares]
    recordings = Recording.objects.in_bulk(ids)
    lines = []
    for share, value in zip(result.shares, values, strict=True):
        recording = recordings.get(index.recordings[share.position]["id"])
        if recording is None or recording.label_id != label.pk or value <= 0:
            remainder += value  # a recording deleted since indexing, or a share that rounded to zero
            continue
        # Engines before the composition lane have no `right` on their shares: all of them reuse audio.
        right = getattr(share, "right", ShareRight.RECORDING)
        lines.append(ShareLine(recording, value, share.lane, share.evidence, right))
    return lines, remainder


def _rights_review(lines: list[ShareLine]) -> list[dict]:
    """Review reasons the rights of the shares call for: a composition share on a recording whose work
    the catalog does not know (the publishing it implicates cannot be named; a person adds the work,
    then confirms). Such an attribution is held for review, whatever the engine decided."""
    composition = [line for line in lines if line.right == ShareRight.COMPOSITION]
    if not composition:
        return []
    with_work = set(
        Work.recordings.through.objects.filter(
            recording_id__in=[line.recording.pk for line in composition]
        ).values_list("recording_id", flat=True)
    )
    return [
        {
            "code": "composition_work_unknown",
            "isrc": line.recording.isrc,
            "message": (
                f"{line.recording.isrc} ({line.share:.1%}) is re-performed (a composition share) but the "
                "catalog knows no work of this recording: add its work (ISWC), then confirm"
            ),
        }
        for line in composition
        if line.recording.pk not in with_work
    ]


def clip_attribute(*, clip: Clip, reason: str = "", force: bool = False) -> Attribution | None:
    """Attribute a queued clip. Idempotent: the clip is claimed with an UPDATE ... WHERE status is
    queued (or processing past the timeout); a second run finds nothing to claim and returns None.
    `force=True` re-attributes an attributed clip (new index): a new version, the pointer moves."""
    if force:
        claimed = bool(
            Clip.objects.filter(pk=clip.pk, status=ClipStatus.ATTRIBUTED).update(
                status=ClipStatus.PROCESSING, processing_started_at=timezone.now()
            )
        )
    else:
        claimed = _claim_clip(clip)
    if not claimed:
        return None
    clip.refresh_from_db()
    try:
        with local_copy(clip.audio.storage, clip.audio.name) as path:
            result, index = audio_attribute(
                label=clip.label, path=path, declared_references=clip.declared_references
            )
    except AudioRejected as exc:
        _reject(clip, exc.code, exc.message)
        return None
    except IndexNotReady:
        logger.warning("clip %s waits: label %s has no index", clip.pk, clip.label_id)
        Clip.objects.filter(pk=clip.pk, status=ClipStatus.PROCESSING).update(status=ClipStatus.QUEUED)
        return None
    except Exception as exc:
        clip.refresh_from_db()
        if clip.attempts >= MAX_ATTEMPTS:
            _reject(clip, "undecodable", f"processing failed {clip.attempts} times: {exc}")
            return None
        Clip.objects.filter(pk=clip.pk, status=ClipStatus.PROCESSING).update(status=ClipStatus.QUEUED)
        raise
    with transaction.atomic():
        locked = Clip.objects.select_for_update().get(pk=clip.pk)
        if locked.status != ClipStatus.PROCESSING:
            return None  # someone else finished or rejected it meanwhile
        lines, remainder = _engine_lines(clip.label, result, index)
        review_state, review_reasons = result.review.state, list(result.review.reasons)
        rights_reasons = _rights_review(lines)
        if rights_reasons:
            review_state, review_reasons = ReviewState.NEEDS_REVIEW, review_reasons + rights_reasons
        findings = licence_findings(
            clip=locked, shares=[(line.recording, line.share, line.evidence) for line in lines]
        )
        if findings:
            review_state, review_reasons = (
                ReviewState.NEEDS_REVIEW,
                review_reasons + licence_review_reasons(findings),
            )
        attribution = _attribution_write(
            clip=locked,
            lines=lines,
            remainder=remainder,
            review_state=review_state,
            review_reasons=review_reasons,
            confidence=result.confidence,
            engine_name=engine.ENGINE_NAME,
            engine_version=engine.ENGINE_VERSION,
            embedder_version=index.meta["embedder_version"],
            index_version=index.version,
            parameters=ENGINE_CONFIG.as_dict(),
            evidence=result.evidence,
            timings=result.timings,
            reason=reason,
        )
        locked.status = ClipStatus.ATTRIBUTED
        locked.current_attribution = attribution
        locked.duration_seconds = round(result.duration, 3)
        locked.processing_started_at = None
        locked.reject_code = ""
        locked.reject_message = ""
        locked.save(
            update_fields=[
                "status",
                "current_attribution",
                "duration_seconds",
                "processing_started_at",
                "reject_code",
                "reject_message",
                "updated_at",
            ]
        )
        events.publish(events.CLIP_ATTRIBUTED, clip=locked, attribution=attribution)
        _unlicensed_record(locked, attribution, findings)
    return attribution


def _unlicensed_record(clip: Clip, attribution: Attribution, findings) -> None:
    if findings:
        unlicensed_uses_record(clip=clip, attribution=attribution, findings=findings)
        events.publish(events.UNLICENSED_USE, clip=clip, attribution=attribution)


def _parse_share(value) -> Decimal:
    try:
        share = Decimal(str(value))
    except InvalidOperation:
        raise AttributionInvalid(f"share {value!r} is not a number")
    if not share.is_finite() or share <= 0 or share > ONE:
        raise AttributionInvalid(f"share {value} must be above 0 and at most 1")
    if share.as_tuple().exponent < -SHARE_PLACES:
        raise AttributionInvalid(f"share {value} has more than {SHARE_PLACES} decimal places")
    return share


@transaction.atomic
def attribution_revise(
    *,
    clip: Clip,
    shares: Mapping[Recording, Decimal | str],
    review_state: str,
    created_by,
    reason: str,
    rights: Mapping[Recording, str] | None = None,
) -> Attribution:
    """A person's version of the shares: a new attribution version; the clip's pointer moves to it.
    The remainder is 1 minus the shares, exactly; evidence of the previous version is kept by
    reference (`supersedes`) and per recording where it had any. `rights` sets a share's right
    (`recording` or `composition`); a recording it does not name keeps the right it had in the previous
    version (`recording` if it had no share there)."""
    if review_state not in ReviewState.values:
        raise AttributionInvalid(f"unknown review state {review_state!r}")
    if not reason or not reason.strip():
        raise AttributionInvalid("a revision needs a reason", fields={"reason": ["This field is required."]})
    locked = Clip.objects.select_for_update().get(pk=clip.pk)
    if locked.current_attribution_id is None:
        raise AttributionInvalid("the clip has no attribution to revise yet")
    previous = locked.current_attribution
    parsed = []
    for recording, value in shares.items():
        if recording.label_id != locked.label_id:
            raise AttributionInvalid(f"recording {recording.isrc} is not in the clip's label")
        parsed.append((recording, _parse_share(value)))
    total = sum((share for _r, share in parsed), Decimal(0))
    if total > ONE:
        raise AttributionInvalid(f"shares sum to {total}, more than 1")
    old_shares = {s.recording_id: s for s in previous.shares.all()}
    chosen: dict[int, str] = {}
    for recording, right in (rights or {}).items():
        if right not in ShareRight.values:
            raise AttributionInvalid(
                f"right {right!r} of {recording.isrc} is not one of {', '.join(ShareRight.values)}",
                fields={"right": [f"{recording.isrc}: {right}"]},
            )
        chosen[recording.pk] = right

    def right_of(recording: Recording) -> str:
        old = old_shares.get(recording.pk)
        return chosen.get(recording.pk) or (old.right if old else ShareRight.RECORDING)

    parsed.sort(key=lambda rs: (-rs[1], rs[0].pk))
    lines = [
        ShareLine(
            r,
            share,
            Lane.MANUAL,
            {"previous": old_shares[r.pk].evidence if r.pk in old_shares else {}},
            right_of(r),
        )
        for r, share in parsed
    ]
    findings = licence_findings(
        clip=locked, shares=[(line.recording, line.share, line.evidence) for line in lines]
    )
    attribution = _attribution_write(
        clip=locked,
        lines=lines,
        remainder=ONE - total,
        review_state=review_state,
        review_reasons=licence_review_reasons(findings),
        confidence=1.0,
        engine_name=previous.engine_name,
        engine_version=previous.engine_version,
        embedder_version=previous.embedder_version,
        index_version=previous.index_version,
        parameters=previous.parameters,
        evidence={**previous.evidence, "revised_from_version": previous.version},
        timings={},
        created_by=created_by,
        reason=reason.strip()[:500],
    )
    locked.current_attribution = attribution
    locked.save(update_fields=["current_attribution", "updated_at"])
    audit_record(
        label=locked.label,
        actor=created_by,
        action=f"attribution.{review_state}",
        obj=attribution,
        summary=f"clip {locked.external_id} v{attribution.version} ({review_state}): "
        + (
            ", ".join(
                f"{line.recording.isrc} {line.share}"
                + (" (composition)" if line.right == ShareRight.COMPOSITION else "")
                for line in lines
            )
            or "no shares"
        )
        + f"; unattributed {ONE - total}. {reason.strip()[:200]}",
        data={"clip": locked.pk, "version": attribution.version, "previous_version": previous.version},
    )
    events.publish(events.ATTRIBUTION_REVISED, clip=locked, attribution=attribution)
    _unlicensed_record(locked, attribution, findings)
    return attribution


def clip_sweep() -> list[int]:
    """Re-queue clips stuck in queued or processing past CLIP_PROCESSING_TIMEOUT_SECONDS (a worker
    died, a broker message was lost). Returns the clip ids queued again; their tasks claim them."""
    from fingerprinting.tasks import clip_attribute_task

    stale = timezone.now() - timedelta(seconds=settings.CLIP_PROCESSING_TIMEOUT_SECONDS)
    stuck = list(
        Clip.objects.filter(
            Q(status=ClipStatus.PROCESSING, processing_started_at__lt=stale)
            | Q(status=ClipStatus.QUEUED, updated_at__lt=stale)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    for clip_id in stuck:
        Clip.objects.filter(pk=clip_id, status=ClipStatus.QUEUED).update(updated_at=timezone.now())
        enqueue_on_commit(clip_attribute_task, clip_id)
    return stuck
