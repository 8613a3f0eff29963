"""Functions that change the catalog. Each runs in one transaction."""

import hashlib
import re
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rapidfuzz import process as rapidfuzz_process
from rapidfuzz.distance import Levenshtein

from catalog import events
from catalog.errors import (
    AudioInvalid,
    ImportInvalid,
    LabelInvalid,
    MemberInvalid,
    SplitInvalid,
    SplitNewPartyUnconfirmed,
    SplitNotRetroactive,
)
from catalog.models import (
    ONE,
    SHARE_PLACES,
    AuditEvent,
    ImportJob,
    ImportKind,
    ImportStatus,
    Label,
    Membership,
    Party,
    Recording,
    RecordingStatus,
    Role,
    Split,
    SplitShare,
)
from config.celery import enqueue_on_commit


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
    pairs = list(zip(shares, checked, strict=True))
    SplitShare.objects.bulk_create(
        SplitShare(split=split, party=line.party, share=share) for line, share in pairs
    )
    audit_record(
        label=recording.label,
        actor=created_by,
        action="split.created",
        obj=split,
        summary=f"{right_type} split of {recording.isrc} from {effective_from}: "
        + ", ".join(f"{line.party.name} {share}" for line, share in pairs),
        data={"recording": recording.isrc, "shares": {line.party.name: str(share) for line, share in pairs}},
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


def audit_record(*, label, actor, action: str, obj, summary: str, data: dict | None = None) -> AuditEvent:
    """Append an audit event. Callers run it inside the transaction of the change it describes."""
    return AuditEvent.objects.create(
        label=label,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        summary=summary[:500],
        data=data or {},
    )


def recording_upload_audio(*, recording: Recording, uploaded, actor) -> Recording:
    """Store an uploaded audio file for a recording (checked to be audio we can read) and mark it pending."""
    import tempfile

    import soundfile

    if uploaded.size > settings.MAX_AUDIO_UPLOAD_BYTES:
        raise AudioInvalid(f"the file is larger than {settings.MAX_AUDIO_UPLOAD_BYTES // (1024 * 1024)} MiB")
    suffix = Path(uploaded.name).suffix.lower() or ".bin"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{recording.isrc}{suffix}"
        with path.open("wb") as handle:
            for chunk in uploaded.chunks():
                handle.write(chunk)
        try:
            info = soundfile.info(str(path))
        except (RuntimeError, soundfile.LibsndfileError) as exc:
            raise AudioInvalid(
                f"{uploaded.name} is not audio we can read (WAV, FLAC, OGG/Opus or MP3): {exc}"
            )
        if info.frames == 0:
            raise AudioInvalid(f"{uploaded.name} holds no audio")
        with transaction.atomic():
            changed = recording_attach_audio(recording=recording, path=path)
            if changed:
                recording.duration_seconds = round(info.frames / info.samplerate, 3)
                recording.save(update_fields=["duration_seconds", "updated_at"])
                events.publish(events.AUDIO_STORED, label=recording.label)
                audit_record(
                    label=recording.label,
                    actor=actor,
                    action="recording.audio_uploaded",
                    obj=recording,
                    summary=f"audio {uploaded.name} uploaded for {recording.isrc}",
                    data={"sha256": recording.audio_sha256},
                )
    return recording


def import_job_create(
    *, label: Label, created_by, uploaded, skip_invalid: bool, kind: str = ImportKind.CSV, queue: bool = True
) -> ImportJob:
    """Store an uploaded catalog file (a CSV, or a zip of a DDEX ERN batch) and queue its import (or not:
    `import_job_run_now` runs it in the caller's process, with a local audio folder)."""
    limit = settings.MAX_DDEX_UPLOAD_BYTES if kind == ImportKind.DDEX else settings.MAX_CSV_UPLOAD_BYTES
    if uploaded.size > limit:
        raise ImportInvalid(f"the file is larger than {limit // (1024 * 1024)} MiB")
    if kind == ImportKind.DDEX:
        uploaded.seek(0)
        if not zipfile.is_zipfile(uploaded):
            raise ImportInvalid(
                "a DDEX batch is uploaded as a zip of the batch folder; this file is not a zip"
            )
        uploaded.seek(0)
    else:
        # A file that is not text is refused before anything is stored (no job, no file): the job's own
        # checks are for the lines of a CSV, and a binary upload has none to report.
        uploaded.seek(0)
        try:
            text = uploaded.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportInvalid(f"the file is not UTF-8 text (byte {exc.start})")
        if "\x00" in text:
            raise ImportInvalid("the file contains NUL characters; it is not a CSV text file")
        uploaded.seek(0)
    with transaction.atomic():
        job = ImportJob.objects.create(
            label=label,
            kind=kind,
            created_by=created_by,
            file=uploaded,
            file_name=uploaded.name[:300],
            skip_invalid=skip_invalid,
        )
        if queue:
            from catalog.tasks import import_job_run_task

            enqueue_on_commit(import_job_run_task, job.pk)
    return job


def import_job_run_now(
    *, label: Label, created_by, csv_text: str, file_name: str, audio_dir: Path | None = None
) -> ImportJob:
    """Import a catalog CSV in this process as an import job, so it is listed on the Imports page and in
    the audit log like an upload: the demo and command-line imports, whose audio is in a local folder."""
    uploaded = ContentFile(csv_text.encode(), name=file_name)
    job = import_job_create(
        label=label, created_by=created_by, uploaded=uploaded, skip_invalid=False, queue=False
    )
    return import_job_run(job=job, audio_dir=audio_dir)


def import_job_run(*, job: ImportJob, audio_dir: Path | None = None) -> ImportJob:
    """Run a queued import job once (a second run finds it claimed and does nothing); `audio_dir`: where
    the CSV's audio files are, for an import started on this machine."""
    from catalog.importer import CsvHeaderError, catalog_import, rejects_csv

    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING
    )
    if not claimed:
        return job
    job.refresh_from_db()
    if job.kind == ImportKind.DDEX:
        return _import_job_run_ddex(job)
    try:
        text = job.file.open("rb").read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _import_job_finish(
            job, ImportStatus.INVALID, errors=[{"line": 0, "isrc": "", "reason": f"not UTF-8 text: {exc}"}]
        )
    job.total_lines = max(text.count("\n") - 1, 1)
    job.save(update_fields=["total_lines"])
    done = {"lines": 0}

    def progress(step: int) -> None:
        done["lines"] += step
        if (
            done["lines"] % 200 == 0
        ):  # a write per 200 lines keeps the progress bar live without slowing the import
            ImportJob.objects.filter(pk=job.pk).update(processed_lines=done["lines"])

    try:
        report = catalog_import(
            label=job.label,
            csv_text=text,
            skip_invalid=job.skip_invalid,
            progress=progress,
            audio_dir=audio_dir,
        )
    except CsvHeaderError as exc:
        return _import_job_finish(
            job, ImportStatus.INVALID, errors=[{"line": 1, "isrc": "", "reason": str(exc)}]
        )
    errors = [{"line": e.line, "isrc": e.isrc, "reason": e.reason} for e in report.errors]
    summary = {
        name: getattr(report, name)
        for name in ("rows_read", "recordings_created", "recordings_updated", "recordings_unchanged",
                     "parties_created", "splits_created", "splits_unchanged", "audio_stored",
                     "consents_created", "consents_unchanged")
    }  # fmt: skip
    job.processed_lines = report.rows_read
    job.rejects_csv = rejects_csv(report) if report.rejected_rows else ""
    status = ImportStatus.DONE if report.written else ImportStatus.INVALID
    if report.written:
        audit_record(
            label=job.label,
            actor=job.created_by,
            action="catalog.imported",
            obj=job,
            summary=f"{job.file_name}: {report.recordings_created} recordings created, "
            f"{report.recordings_updated} updated, {report.splits_created} split versions, {len(errors)} problems",
            data=summary,
        )
    return _import_job_finish(job, status, errors=errors, summary=summary)


def _import_job_run_ddex(job: ImportJob) -> ImportJob:
    """A zipped DDEX ERN batch: extracted into a temporary folder (bounded), then imported like
    `manage.py ddex_ingest` does; progress counts messages."""
    import tempfile

    from catalog.ddex.batch import BatchInvalid, batch_messages, zip_extract
    from catalog.ddex.ingest import ddex_import

    def invalid(reason: str) -> ImportJob:
        error = {
            "line": 0,
            "isrc": "",
            "reason": reason,
            "message_id": "",
            "xpath": "",
            "file": job.file_name,
        }
        return _import_job_finish(job, ImportStatus.INVALID, errors=[error])

    with tempfile.TemporaryDirectory(prefix="ddex-") as folder:
        try:
            with job.file.open("rb") as handle:
                # Audio barely compresses: twice the upload limit bounds what a zip may unpack to.
                root = zip_extract(handle, Path(folder), max_bytes=2 * settings.MAX_DDEX_UPLOAD_BYTES)
            paths = batch_messages(root)
        except BatchInvalid as exc:
            return invalid(str(exc))
        if not paths:
            return invalid("the batch holds no message (.xml)")
        job.total_lines = len(paths)
        job.save(update_fields=["total_lines"])
        done = {"messages": 0}

        def progress(step: int) -> None:
            done["messages"] += step
            if step and done["messages"] % 20 == 0:  # a write per 20 messages keeps the bar live
                ImportJob.objects.filter(pk=job.pk).update(processed_lines=done["messages"])

        report = ddex_import(
            label=job.label, paths=paths, root=root, skip_invalid=job.skip_invalid, actor=job.created_by,
            progress=progress,
        )  # fmt: skip
    job.processed_lines = report.messages
    errors = [{**problem.as_dict(), "line": problem.line} for problem in report.problems]
    if report.written:
        audit_record(
            label=job.label,
            actor=job.created_by,
            action="catalog.imported",
            obj=job,
            summary=f"{job.file_name} (DDEX): {report.applied} messages applied, {report.recordings_created} "
            f"recordings created, {report.recordings_updated} updated, {report.splits_created} split versions, "
            f"{report.taken_down} taken down, {len(errors)} problems",
            data=report.summary(),
        )
    status = ImportStatus.DONE if report.written else ImportStatus.INVALID
    return _import_job_finish(job, status, errors=errors, summary=report.summary())


def _import_job_finish(
    job: ImportJob, status: str, *, errors: list, summary: dict | None = None
) -> ImportJob:
    job.status, job.errors, job.summary, job.finished_at = status, errors, summary or {}, timezone.now()
    job.save(update_fields=["status", "errors", "summary", "finished_at", "processed_lines", "rejects_csv"])
    return job


@dataclass(frozen=True)
class SplitFormRow:
    """One row of the split form: a party's name (an existing party of the label, or a new one) and its share."""

    party_name: str
    share: str


# Near matches offered before a new party is created: names within this many single-character edits
# (Levenshtein) of the typed one, case ignored, e.g. "Ines Okafr" for "Ines Okafor" (1) or a swapped
# pair of letters (2). Three would start offering unrelated short names ("Ann" for "Bob").
NEAR_MATCH_MAX_EDITS = 2
NEAR_MATCH_LIMIT = 5


def party_near_matches(*, label: Label, name: str) -> list[Party]:
    """The label's parties whose name is within NEAR_MATCH_MAX_EDITS edits of `name`, closest first."""
    parties = list(Party.objects.filter(label=label).only("pk", "name", "kind"))
    found = rapidfuzz_process.extract(
        name.casefold(),
        {p.pk: p.name.casefold() for p in parties},
        scorer=Levenshtein.distance,
        score_cutoff=NEAR_MATCH_MAX_EDITS,
        limit=NEAR_MATCH_LIMIT,
    )
    by_id = {p.pk: p for p in parties}
    return [by_id[key] for _name, _distance, key in sorted(found, key=lambda f: (f[1], f[0]))]


@transaction.atomic
def split_version_add(
    *,
    recording: Recording,
    right_type: str,
    effective_from: date,
    rows: Sequence[SplitFormRow],
    created_by,
    new_parties: Collection[str] = (),
) -> Split:
    """A new split version from the web form. A name no party of the label has becomes a new party only
    when the person confirmed it (`new_parties`): otherwise SplitNewPartyUnconfirmed names it with its near
    matches, and nothing is written (a typo must not create a party that then earns royalties)."""
    confirmed = {n.strip().casefold() for n in new_parties}
    lines, unconfirmed = [], {}
    for row in rows:
        name = row.party_name.strip()[:200]
        if not name and not row.share.strip():
            continue
        if not name:
            raise SplitInvalid(f"recording {recording.isrc}: a share of {row.share} has no party")
        matches = list(Party.objects.filter(label=recording.label, name__iexact=name)[:2])
        if len(matches) > 1:
            raise SplitInvalid(
                f"several parties of {recording.label} are named {name!r}; use the admin to pick one"
            )
        if not matches and name.casefold() not in confirmed:
            near = party_near_matches(label=recording.label, name=name)
            unconfirmed[name] = [p.name for p in near]
            continue
        party = matches[0] if matches else Party.objects.create(label=recording.label, name=name)
        try:
            lines.append(ShareLine(party=party, share=parse_share(row.share)))
        except ValueError as exc:
            raise SplitInvalid(f"recording {recording.isrc}: {exc}")
    if unconfirmed:
        names = ", ".join(repr(n) for n in unconfirmed)
        raise SplitNewPartyUnconfirmed(
            f"{names}: no party of {recording.label} has this name; confirm a new party or pick a near match",
            fields={"new_parties": unconfirmed},
        )
    if new_parties:
        audit_record(
            label=recording.label,
            actor=created_by,
            action="party.created",
            obj=recording,
            summary=f"new parties confirmed in a split of {recording.isrc}: {', '.join(sorted(new_parties))}",
            data={"names": sorted(new_parties)},
        )
    return split_create(
        recording=recording,
        right_type=right_type,
        effective_from=effective_from,
        shares=lines,
        created_by=created_by,
    )


@transaction.atomic
def recordings_availability_set(
    *, recordings: Sequence[Recording], active: bool, reason: str, actor=None, data: dict | None = None
) -> int:
    """Mark recordings inactive (a takedown) or active again; the number changed. Nothing is deleted: the
    splits, audio, attributions and earnings of an inactive recording stay, and each change is audited."""
    changed = 0
    now = timezone.now()
    for recording in recordings:
        if recording.is_active == active:
            continue
        recording.is_active = active
        recording.inactive_since = None if active else now
        recording.inactive_reason = "" if active else reason[:300]
        recording.save(update_fields=["is_active", "inactive_since", "inactive_reason", "updated_at"])
        audit_record(
            label=recording.label,
            actor=actor,
            action="recording.reinstated" if active else "recording.taken_down",
            obj=recording,
            summary=f"{recording.isrc} {'available again' if active else 'taken down'}: {reason}",
            data={"isrc": recording.isrc, **(data or {})},
        )
        changed += 1
    return changed


# --- onboarding: labels, members, invitations --------------------------------------------------------

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")  # ISO 4217 shape; the ledger checks the code when money moves


@transaction.atomic
def label_create(*, name: str, slug: str, default_currency: str = "EUR", actor=None) -> Label:
    """A new label (tenant). The first admin is invited with `member_invite`."""
    name, slug, currency = name.strip(), slug.strip().lower(), default_currency.strip().upper()
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = ["A label needs a name."]
    if not SLUG_PATTERN.match(slug):
        problems["slug"] = ["Lower-case letters, digits and hyphens, at most 64."]
    elif Label.objects.filter(slug=slug).exists():
        problems["slug"] = [f"A label {slug!r} exists already."]
    if not CURRENCY_PATTERN.match(currency):
        problems["default_currency"] = ["Three letters, e.g. EUR."]
    if problems:
        raise LabelInvalid("; ".join(m for ms in problems.values() for m in ms), fields=problems)
    label = Label.objects.create(name=name[:200], slug=slug, default_currency=currency)
    audit_record(label=label, actor=actor, action="label.created", obj=label, summary=f"label {slug} created")
    return label


@dataclass(frozen=True)
class Invitation:
    membership: Membership
    created_user: bool
    uidb64: str
    token: str  # a password-reset token: valid until the user sets a password (or PASSWORD_RESET_TIMEOUT)


def invitation_token(user) -> tuple[str, str]:
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


@transaction.atomic
def member_invite(*, label: Label, email: str, role: str, invited_by=None, username: str = "") -> Invitation:
    """Give a person a role in the label: an existing user (by e-mail or username) or a new one without a
    password. The invitation is a one-time link to set a password (Django's password-reset token, so no
    token is stored); shown once to the inviter, who sends it."""
    email, username = email.strip().lower(), (username.strip() or email.strip().lower())[:150]
    if role not in Role.values:
        raise MemberInvalid(f"unknown role {role!r}", fields={"role": [f"One of {', '.join(Role.values)}."]})
    try:
        validate_email(email)
    except DjangoValidationError:
        raise MemberInvalid(
            f"{email!r} is not an e-mail address", fields={"email": ["Not an e-mail address."]}
        )
    users = get_user_model().objects
    user = users.filter(email__iexact=email).first() or users.filter(username=username).first()
    created = user is None
    if user is None:
        user = users.create_user(username=username, email=email)  # no usable password until accepted
    membership, made = Membership.objects.get_or_create(user=user, label=label, defaults={"role": role})
    if not made:
        raise MemberInvalid(f"{user.username} is already a member of {label.name}", code="member_exists")
    audit_record(label=label, actor=invited_by, action="member.invited", obj=membership,
                 summary=f"{user.username} invited as {role}", data={"email": email, "role": role})  # fmt: skip
    uidb64, token = invitation_token(user)
    return Invitation(membership, created, uidb64, token)


def _admins_left(label: Label, without: Membership) -> int:
    return Membership.objects.filter(label=label, role=Role.ADMIN).exclude(pk=without.pk).count()


@transaction.atomic
def member_role_set(*, membership: Membership, role: str, actor) -> Membership:
    if role not in Role.values:
        raise MemberInvalid(f"unknown role {role!r}")
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.ADMIN and role != Role.ADMIN and not _admins_left(locked.label, locked):
        raise MemberInvalid("a label keeps at least one admin", code="last_admin")
    before, locked.role = locked.role, role
    locked.save(update_fields=["role"])
    audit_record(label=locked.label, actor=actor, action="member.role_changed", obj=locked,
                 summary=f"{locked.user.username}: {before} -> {role}")  # fmt: skip
    return locked


@transaction.atomic
def member_remove(*, membership: Membership, actor) -> None:
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == Role.ADMIN and not _admins_left(locked.label, locked):
        raise MemberInvalid("a label keeps at least one admin", code="last_admin")
    audit_record(label=locked.label, actor=actor, action="member.removed", obj=locked,
                 summary=f"{locked.user.username} removed")  # fmt: skip
    locked.delete()
