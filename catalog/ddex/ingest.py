"""Import DDEX ERN messages into a label's catalog, through the same import service as the CSV.

Each message is parsed safely (safexml), read into records (ern), its audio files checked against their
HashSum, and turned into the catalog import's rows (one per share of a split, recording columns repeated),
which `catalog.importer.catalog_import_rows` validates and writes exactly as it does a CSV. So the rules
are the CSV's: everything is checked before anything is written; by default one problem anywhere means
nothing is written; with `skip_invalid` the recordings with a problem are left out and the rest written.
Every problem names the message, the file, the element's XPath and its line.

Semantics (docs/ddex.md):
- A re-delivered message (a MessageId already applied, same file) is skipped: nothing changes. A split
  equal to the version in force is not a new version either, so the same content under a new MessageId
  changes nothing.
- An update (ERN 3.8 UpdateIndicator UpdateMessage, or an ERN 4.3 message re-sent for its release) goes
  through the same import: changed recording fields are updated, changed shares become a new split version
  from the deal's (or the rights controller's) start date, never an edit of a stored one.
- A takedown makes the release's recordings that were already in the catalog inactive (history kept); a
  later message with a deal in force makes them active again.
- Messages of one batch are applied in MessageCreatedDateTime order; messages naming the same ISRC go
  through the import one after the other (in "waves"), inside one transaction.
"""

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.ddex.ern import ErnMessage, ErnRecording, Source, read_message
from catalog.ddex.safexml import UnsafeXml, parse_xml
from catalog.identifiers import normalize_ipi, normalize_isni, normalize_isrc
from catalog.importer import (
    ExtraParty,
    ImportReport,
    catalog_import_rows,
    existing_split_versions,
    party_key,
)
from catalog.models import DdexMessage, Label, Recording
from catalog.services import audit_record, recordings_availability_set

Progress = Callable[[int], None]
SUMMED = ("recordings_created", "recordings_updated", "recordings_unchanged", "parties_created",
          "splits_created", "splits_unchanged", "audio_stored")  # fmt: skip


@dataclass
class DdexProblem:
    file: str
    message_id: str
    xpath: str
    line: int
    isrc: str
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message_id or '-'}: {self.xpath or '/'}: {self.isrc + ': ' if self.isrc else ''}{self.reason}"


@dataclass
class DdexReport:
    messages: int = 0
    applied: int = 0
    redelivered: int = 0
    test_messages: int = 0
    recordings_created: int = 0
    recordings_updated: int = 0
    recordings_unchanged: int = 0
    parties_created: int = 0
    splits_created: int = 0
    splits_unchanged: int = 0
    audio_stored: int = 0
    taken_down: int = 0
    reinstated: int = 0
    problems: list[DdexProblem] = field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("problems", "written")}


@dataclass
class _Parsed:
    path: Path
    name: str  # relative to the batch
    sha256: str
    message: ErnMessage | None
    fatal: bool = False  # nothing of this message can be applied
    skip: bool = False  # re-delivered or a test message: validated, not written
    bad_isrcs: set[str] = field(default_factory=set)
    audio: dict[str, str] = field(default_factory=dict)  # recording reference -> file relative to root


def _compact_isrc(value: str) -> str:
    try:
        return normalize_isrc(value)
    except ValidationError:
        return value


def _file_sha256(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _problem(parsed: _Parsed, source: Source, reason: str, isrc: str = "") -> DdexProblem:
    message_id = parsed.message.message_id if parsed.message else ""
    return DdexProblem(parsed.name, message_id, source.xpath, source.line, isrc, reason)


def _read(path: Path, root: Path, report: DdexReport) -> _Parsed:
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    parsed = _Parsed(path=path, name=name, sha256="", message=None)
    limit = settings.DDEX_MAX_MESSAGE_BYTES
    size = path.stat().st_size
    if size > limit:
        parsed.fatal = True
        report.problems.append(
            _problem(parsed, Source("", 0), f"the message is {size:,} bytes; at most {limit:,} are read")
        )
        return parsed
    parsed.sha256 = _file_sha256(path)
    try:
        with path.open("rb") as handle:
            doc = parse_xml(handle, max_bytes=limit)
    except UnsafeXml as exc:
        parsed.fatal = True
        report.problems.append(_problem(parsed, Source("", exc.line), exc.message))
        return parsed
    parsed.message = message = read_message(doc)
    for problem in message.problems:
        report.problems.append(_problem(parsed, problem.source, problem.reason, problem.isrc))
        if problem.isrc:
            parsed.bad_isrcs.add(problem.isrc)
        else:
            parsed.fatal = True
    return parsed


def _check_audio(parsed: _Parsed, recording: ErnRecording, root: Path, report: DdexReport) -> None:
    audio = recording.audio
    if audio is None:
        return

    def bad(reason: str) -> None:
        report.problems.append(_problem(parsed, audio.source, reason, recording.isrc))
        parsed.bad_isrcs.add(recording.isrc)

    parts = urlsplit(audio.uri)
    if parts.scheme not in ("", "file") or parts.netloc:
        return bad(f"file URI {audio.uri!r} is not a file of the batch (only relative paths are read)")
    relative = unquote(parts.path)
    target = (parsed.path.parent / relative).resolve()
    if relative.startswith("/") or not target.is_relative_to(root.resolve()):
        return bad(f"file URI {audio.uri!r} points outside the batch")
    limit = settings.MAX_AUDIO_UPLOAD_BYTES
    if audio.declared_size is not None and audio.declared_size > limit:
        return bad(f"FileSize declares {audio.declared_size:,} bytes; audio files are at most {limit:,}")
    if not target.is_file():
        return bad(f"file {audio.uri!r} is not in the batch")
    if target.stat().st_size > limit:
        return bad(f"file {audio.uri!r} is larger than {limit:,} bytes")
    if not audio.algorithm or not audio.hash_value:
        return bad("a delivered file needs its HashSum (Algorithm and value) to be checked")
    actual = _file_sha256(target, audio.algorithm)
    if actual != audio.hash_value:
        return bad(
            f"file {audio.uri!r} does not match its HashSum ({audio.algorithm} {actual}, declared {audio.hash_value})"
        )
    parsed.audio[recording.reference] = target.relative_to(root.resolve()).as_posix()


def _rows(
    parsed: _Parsed, recording: ErnRecording, next_line: int, sources: dict[int, tuple]
) -> list[tuple[int, dict]]:
    base = {
        "isrc": recording.isrc,
        "title": recording.title,
        "display_artist": recording.display_artist,
        "duration_seconds": f"{recording.duration_seconds:g}" if recording.duration_seconds else "",
        "audio_file": parsed.audio.get(recording.reference, ""),
        "iswc": recording.iswc,
        "work_title": recording.work_title or (recording.title if recording.iswc else ""),
    }
    rows = []
    if not recording.shares:
        rows.append((next_line, dict(base)))
        sources[next_line] = (parsed, recording, None)
    for offset, share in enumerate(recording.shares):
        line = next_line + offset
        rows.append((line, {
            **base,
            "party_name": share.party.name[:200],
            "party_kind": share.party.kind,
            "party_ipi": share.party.ipi,
            "party_isni": share.party.isni,
            "right_type": share.right_type,
            "share": share.share,
            "effective_from": share.effective_from.isoformat() if share.effective_from else "",
            "_explicit": share.explicit_date,
            "_message_day": parsed.message.created.date().isoformat() if parsed.message.created else "",
        }))  # fmt: skip
        sources[line] = (parsed, recording, share)
    return rows


def _normalized_key(name: str, ipi: str, isni: str) -> tuple[str, str]:
    with contextlib.suppress(ValidationError):
        ipi = normalize_ipi(ipi) if ipi else ""
    with contextlib.suppress(ValidationError):
        isni = normalize_isni(isni) if isni else ""
    return party_key(name, ipi, isni)


RECORDING_COLUMNS = (
    "isrc",
    "title",
    "display_artist",
    "duration_seconds",
    "audio_file",
    "iswc",
    "work_title",
)


def _settle_versions(label: Label, rows: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Split versions against those stored: a version equal to the one in force is left out (a re-sent
    split is not a new version), and a changed version whose date is only the deal's start (not after
    the stored versions) starts on the date of its message, as an update takes effect when it is sent."""
    versions: dict[tuple[str, str], dict] = {}
    for _, row in rows:
        if not row.get("right_type"):
            continue
        try:
            share = Decimal(row["share"])
        except InvalidOperation:
            continue
        key = (_compact_isrc(row["isrc"]), row["right_type"])
        entry = versions.setdefault(key, {"rows": [], "shares": set(), "starts": set()})
        entry["rows"].append(row)
        entry["shares"].add((_normalized_key(row["party_name"], row["party_ipi"], row["party_isni"]), share))
        entry["starts"].add(row["effective_from"])
    drop: set[int] = set()
    if versions:
        stored = existing_split_versions(label, {isrc for isrc, _ in versions})
        for key, entry in versions.items():
            history = stored.get(key)
            if not history or len(entry["starts"]) != 1:
                continue
            latest = max(history)
            if history[latest] == entry["shares"]:
                drop.update(id(row) for row in entry["rows"])
                continue
            start = next(iter(entry["starts"]))
            if start and start <= latest.isoformat() and not any(r["_explicit"] for r in entry["rows"]):
                for row in entry["rows"]:
                    row["effective_from"] = row["_message_day"] or start
    kept, seen = [], set()
    for line, row in rows:
        clean = {k: v for k, v in row.items() if not k.startswith("_")}
        if id(row) in drop:
            if row["isrc"] not in seen:  # keep the recording's own columns
                seen.add(row["isrc"])
                kept.append((line, {k: clean[k] for k in RECORDING_COLUMNS}))
            continue
        seen.add(row["isrc"])
        kept.append((line, clean))
    return kept


def _locate(reason: str, recording: ErnRecording, share) -> Source:
    """The element a catalog-import reason is about (the import speaks in CSV column names)."""
    text = reason.lower()
    if share is not None and any(
        w in text for w in ("party", "ipi", "isni", "share", "split", "effective_from")
    ):
        return share.source
    for word, name in (("isrc", "isrc"), ("iswc", "iswc"), ("title", "title"), ("display_artist", "display_artist"),
                       ("duration", "duration")):  # fmt: skip
        if word in text and name in recording.sources:
            return recording.sources[name]
    if "audio" in text and recording.audio:
        return recording.audio.source
    return share.source if share is not None else recording.source


def _waves(parsed: list[_Parsed]) -> list[list[_Parsed]]:
    """Messages in order, grouped so that no ISRC appears twice in a group (each group is one import)."""
    waves: list[list[_Parsed]] = []
    last_wave: dict[str, int] = {}
    for item in parsed:
        isrcs = {_compact_isrc(r.isrc) for r in item.message.recordings}
        index = max((last_wave[i] + 1 for i in isrcs if i in last_wave), default=0)
        while len(waves) <= index:
            waves.append([])
        waves[index].append(item)
        for isrc in isrcs:
            last_wave[isrc] = index
    return waves


def ddex_import(
    *,
    label: Label,
    paths: list[Path],
    root: Path,
    skip_invalid: bool = False,
    actor=None,
    progress: Progress | None = None,
) -> DdexReport:
    """Import ERN messages (files under `root`, the batch folder) into `label`. See the module docstring."""
    report = DdexReport()
    root = root.resolve()
    items = []
    for path in paths:
        items.append(_read(path, root, report))
        report.messages += 1
        if progress:
            progress(1)

    seen_ids: dict[str, _Parsed] = {}
    usable = [p for p in items if not p.fatal and p.message is not None]
    applied_before = {
        m.message_id: m.file_sha256
        for m in DdexMessage.objects.filter(
            label=label, message_id__in=[p.message.message_id for p in usable]
        )
    }
    for item in usable:
        message = item.message
        if message.message_id in seen_ids:
            report.problems.append(
                _problem(
                    item,
                    message.header_source,
                    f"MessageId {message.message_id!r} is also used by {seen_ids[message.message_id].name}",
                )
            )
            item.fatal = True
            continue
        seen_ids[message.message_id] = item
        if message.message_id in applied_before:
            if applied_before[message.message_id] == item.sha256:
                item.skip = True
                report.redelivered += 1
                continue
            report.problems.append(
                _problem(
                    item,
                    message.header_source,
                    f"MessageId {message.message_id!r} was already applied from another file; a sender never re-uses a MessageId",
                )
            )
            item.fatal = True
            continue
        if message.is_test:
            item.skip = True
            report.test_messages += 1
        for recording in message.recordings:
            _check_audio(item, recording, root, report)

    # Even with problems already found (and nothing to be written), the import's own checks run on the
    # rest, so one run reports everything; the transaction is then rolled back.
    to_apply = sorted(
        (p for p in usable if not p.fatal and not p.skip),
        key=lambda p: (p.message.created.isoformat() if p.message.created else "", p.name),
    )
    with transaction.atomic():
        for wave in _waves(to_apply):
            _apply_wave(
                label=label, wave=wave, root=root, skip_invalid=skip_invalid, actor=actor, report=report
            )
            if progress:
                progress(0)
        if report.problems and not skip_invalid:
            transaction.set_rollback(True)
            report.written = False
            for name in SUMMED + ("taken_down", "reinstated", "applied"):
                setattr(report, name, 0)
        else:
            report.written = True
    return report


def _apply_wave(
    *, label: Label, wave: list[_Parsed], root: Path, skip_invalid: bool, actor, report: DdexReport
) -> None:
    rows: list[tuple[int, dict]] = []
    sources: dict[int, tuple] = {}
    extra: dict[tuple, ExtraParty] = {}
    for item in wave:
        for recording in item.message.recordings:
            if recording.isrc in item.bad_isrcs:
                continue
            rows.extend(_rows(item, recording, len(rows) + 1, sources))
            for party in recording.parties:
                if party.name:
                    extra.setdefault(_normalized_key(party.name, party.ipi, party.isni),
                                     ExtraParty(party.name[:200], party.kind, party.ipi, party.isni))  # fmt: skip
    isrcs = {_compact_isrc(row["isrc"]) for _, row in rows}
    existed = set(Recording.objects.filter(label=label, isrc__in=isrcs).values_list("isrc", flat=True))
    rows = _settle_versions(label, rows)
    # Parties' identifiers are checked here as the import checks a share's (a bad one is a problem).
    checked_extra = []
    for party in extra.values():
        try:
            checked_extra.append(ExtraParty(party.name, party.kind, normalize_ipi(party.ipi) if party.ipi else "",
                                            normalize_isni(party.isni) if party.isni else ""))  # fmt: skip
        except ValidationError:
            continue  # reported where the party holds a share; a display artist's bad id is dropped
    result: ImportReport = catalog_import_rows(
        label=label,
        rows=rows,
        audio_dir=root,
        skip_invalid=skip_invalid,
        extra_parties=checked_extra,
        audio_by_isrc=False,
    )
    failed: set[tuple[int, str]] = set()
    for error in result.errors:
        item, recording, share = sources[error.line]
        source = _locate(error.reason, recording, share)
        report.problems.append(_problem(item, source, error.reason, recording.isrc))
        failed.add((id(item), _compact_isrc(recording.isrc)))
    for name in SUMMED:
        setattr(report, name, getattr(report, name) + getattr(result, name))
    if not result.written:
        return
    by_isrc = {
        r.isrc: r for r in Recording.objects.filter(label=label, isrc__in=isrcs).select_related("label")
    }
    applied = []
    for item in wave:
        message = item.message
        down, up, written = [], [], 0
        for recording in message.recordings:
            key = _compact_isrc(recording.isrc)
            if recording.isrc in item.bad_isrcs or (id(item), key) in failed or key not in by_isrc:
                continue
            written += 1
            if recording.reference in message.taken_down and key in existed:
                down.append(by_isrc[key])
            elif recording.reference in message.available:
                up.append(by_isrc[key])
        context = {"message_id": message.message_id, "file": item.name}
        taken = recordings_availability_set(recordings=down, active=False, actor=actor, data=context,
                                            reason=f"DDEX takedown in message {message.message_id}")  # fmt: skip
        back = recordings_availability_set(recordings=up, active=True, actor=actor, data=context,
                                           reason=f"deal in force in message {message.message_id}")  # fmt: skip
        report.taken_down += taken
        report.reinstated += back
        if message.recordings and not written:
            continue  # nothing of it was written (--skip-invalid): a corrected file may use its MessageId
        problems = len(item.bad_isrcs) + sum(1 for key in failed if key[0] == id(item))
        applied.append(
            DdexMessage(
                label=label,
                message_id=message.message_id,
                sender=message.sender[:300],
                ern_version=message.version,
                update_indicator=message.update_indicator[:30],
                message_created_at=message.created,
                file_name=item.name[:300],
                file_sha256=item.sha256,
                recordings=len(message.recordings),
                taken_down=taken,
                problems=problems,
            )
        )
    DdexMessage.objects.bulk_create(applied, batch_size=1000)
    report.applied += len(applied)
    if applied:
        names = ", ".join(m.message_id for m in applied[:5]) + (" ..." if len(applied) > 5 else "")
        audit_record(
            label=label,
            actor=actor,
            action="catalog.ddex_applied",
            obj=DdexMessage.objects.filter(label=label, message_id=applied[-1].message_id).first(),
            summary=f"{len(applied)} DDEX message(s) applied ({names}): {result.recordings_created} recordings "
            f"created, {result.recordings_updated} updated, {result.splits_created} split versions",
            data={"messages": [m.message_id for m in applied], **{k: getattr(result, k) for k in SUMMED}},
        )
