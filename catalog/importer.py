"""Catalog import from CSV: validate everything first, then write in one transaction.

One CSV line per share of a split (recording columns repeat on each of its lines); a recording with no
split yet has one line with the party columns empty. Columns are documented in README and
examples/catalog.csv. A line that is wrong rejects its whole recording, so a recording is never half
imported; without `skip_invalid` any bad line means nothing is written at all.
"""

import contextlib
import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import events
from catalog.consent import consent_set, label_closed_through
from catalog.identifiers import normalize_ipi, normalize_isni, normalize_isrc, normalize_iswc
from catalog.models import (
    Consent,
    ConsentState,
    Label,
    Party,
    PartyKind,
    Recording,
    RightType,
    Split,
    SplitShare,
    Work,
)
from catalog.services import file_sha256, parse_share, recording_attach_audio, split_sum_problem
from config.csv_export import csv_dicts

COLUMNS = [
    "isrc", "title", "display_artist", "duration_seconds", "audio_file", "iswc", "work_title",
    "party_name", "party_kind", "party_ipi", "party_isni", "right_type", "share", "effective_from",
    "consent_training", "consent_conditioning", "consent_voice", "consent_from",
]  # fmt: skip
# Consent columns (docs/consent.md): training and conditioning are the recording's own choice, voice is
# the line's party's; each opt_in or opt_out from consent_from on, a new version unless the same one is
# stored already.
CONSENT_COLUMNS = {
    "consent_training": "training",
    "consent_conditioning": "conditioning",
    "consent_voice": "voice",
}
REQUIRED_COLUMNS = {"isrc", "title", "display_artist"}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")
RECORDING_FIELDS = ("title", "display_artist", "duration_seconds")

Progress = Callable[[int], None]


@dataclass
class LineError:
    line: int
    isrc: str
    reason: str


@dataclass
class ShareRow:
    line: int
    party_key: tuple[str, str]
    party_name: str
    party_kind: str
    ipi: str
    isni: str
    right_type: str
    share: Decimal
    effective_from: date


@dataclass(frozen=True)
class ConsentRow:
    line: int
    use: str
    state: str
    effective_from: date
    party_key: tuple[str, str] | None  # None: the recording's own choice


@dataclass
class RecordingRow:
    isrc: str
    lines: list[int] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    audio_path: Path | None = None
    iswc: str = ""
    work_title: str = ""
    shares: list[ShareRow] = field(default_factory=list)
    consents: list[ConsentRow] = field(default_factory=list)


@dataclass
class ImportReport:
    rows_read: int = 0
    recordings_created: int = 0
    recordings_updated: int = 0
    recordings_unchanged: int = 0
    parties_created: int = 0
    splits_created: int = 0
    splits_unchanged: int = 0
    audio_stored: int = 0
    consents_created: int = 0
    consents_unchanged: int = 0
    errors: list[LineError] = field(default_factory=list)
    rejected_rows: list[dict] = field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class CsvHeaderError(ValueError):
    pass


def read_csv_rows(handle: io.TextIOBase) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(line number, row)]). Raises CsvHeaderError for a file that is not our layout."""
    reader = csv.DictReader(handle)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = REQUIRED_COLUMNS - set(header)
    if missing:
        raise CsvHeaderError(f"the header lacks the required column(s): {', '.join(sorted(missing))}")
    unknown = set(header) - set(COLUMNS)
    if unknown:
        raise CsvHeaderError(f"unknown column(s) in the header: {', '.join(sorted(unknown))}")
    reader.fieldnames = header
    rows = []
    for row in reader:
        extra = row.pop(None, None)
        clean = {k: (v or "").strip() for k, v in row.items()}
        if extra:
            clean["__extra__"] = "yes"
        rows.append((reader.line_num, clean))
    return header, rows


def _party_key(name: str, ipi: str, isni: str) -> tuple[str, str]:
    if ipi:
        return ("ipi", ipi)
    if isni:
        return ("isni", isni)
    return ("name", name.casefold())


def _parse_line(line: int, raw: dict, audio_dir: Path | None) -> tuple[str, dict, ShareRow | None, list[str]]:
    """Field checks of one line: (isrc, recording values, share row or None, problems)."""
    problems: list[str] = []
    if raw.get("__extra__"):
        problems.append("more fields than the header has columns")
    isrc = ""
    try:
        isrc = normalize_isrc(raw.get("isrc", ""))
    except ValidationError as exc:
        problems.append(exc.messages[0] if raw.get("isrc") else "isrc is empty")
        isrc = raw.get("isrc", "")
    values: dict = {}
    for name in ("title", "display_artist"):
        if not raw.get(name):
            problems.append(f"{name} is empty")
        elif len(raw[name]) > 300:
            problems.append(f"{name} is longer than 300 characters")
        else:
            values[name] = raw[name]
    if raw.get("duration_seconds"):
        try:
            duration = float(raw["duration_seconds"])
            if not 0 < duration < 24 * 3600:
                raise ValueError
            values["duration_seconds"] = duration
        except ValueError:
            problems.append(
                f"duration_seconds {raw['duration_seconds']!r} is not a positive number of seconds"
            )
    if raw.get("iswc"):
        try:
            values["iswc"] = normalize_iswc(raw["iswc"])
            values["work_title"] = raw.get("work_title") or values.get("title", "")
        except ValidationError as exc:
            problems.append(exc.messages[0])
    if raw.get("audio_file"):
        if audio_dir is None:
            problems.append("audio_file is given but no --audio-dir")
        else:
            path = (audio_dir / raw["audio_file"]).resolve()
            if audio_dir.resolve() not in path.parents or not path.is_file():
                problems.append(f"audio file {raw['audio_file']!r} not found in {audio_dir}")
            else:
                values["audio_path"] = path
    share_row = None
    party_columns = (
        "party_name",
        "party_kind",
        "party_ipi",
        "party_isni",
        "right_type",
        "share",
        "effective_from",
    )
    if any(raw.get(c) for c in party_columns):
        share_row, share_problems = _parse_share(line, raw)
        problems.extend(share_problems)
    consents, consent_problems = _parse_consents(line, raw)
    problems.extend(consent_problems)
    if consents:
        values["consents"] = consents
    return isrc, values, share_row, problems


def _parse_consents(line: int, raw: dict) -> tuple[list[ConsentRow], list[str]]:
    given = {column: raw[column] for column in CONSENT_COLUMNS if raw.get(column)}
    if not given:
        return [], []
    problems = []
    try:
        start = date.fromisoformat(raw.get("consent_from", ""))
    except ValueError:
        problems.append(f"consent_from {raw.get('consent_from', '')!r} is not a date (YYYY-MM-DD)")
    for column, state in given.items():
        if state not in ConsentState.values:
            problems.append(f"{column} {state!r} is not one of {', '.join(ConsentState.values)}")
    party_key = None
    if "consent_voice" in given:
        if not raw.get("party_name"):
            problems.append("consent_voice is a party's choice: the line needs party_name")
        else:
            party_key = _party_key(raw["party_name"], raw.get("party_ipi", ""), raw.get("party_isni", ""))
            # the key the share row computes, from the normalised identifiers (a bad one is reported there)
            with contextlib.suppress(ValidationError):
                party_key = _party_key(
                    raw["party_name"],
                    normalize_ipi(raw["party_ipi"]) if raw.get("party_ipi") else "",
                    normalize_isni(raw["party_isni"]) if raw.get("party_isni") else "",
                )
    if problems:
        return [], problems
    return [
        ConsentRow(
            line, CONSENT_COLUMNS[column], state, start, party_key if column == "consent_voice" else None
        )
        for column, state in given.items()
    ], []


def _parse_share(line: int, raw: dict) -> tuple[ShareRow | None, list[str]]:
    problems = []
    name = raw.get("party_name", "")
    if not name:
        problems.append("party_name is empty")
    kind = raw.get("party_kind") or PartyKind.ARTIST
    if kind not in PartyKind.values:
        problems.append(f"party_kind {kind!r} is not one of {', '.join(PartyKind.values)}")
    ipi = isni = ""
    if raw.get("party_ipi"):
        try:
            ipi = normalize_ipi(raw["party_ipi"])
        except ValidationError as exc:
            problems.append(exc.messages[0])
    if raw.get("party_isni"):
        try:
            isni = normalize_isni(raw["party_isni"])
        except ValidationError as exc:
            problems.append(exc.messages[0])
    right_type = raw.get("right_type", "")
    if right_type not in RightType.values:
        problems.append(f"right_type {right_type!r} is not one of {', '.join(RightType.values)}")
    share = None
    try:
        share = parse_share(raw.get("share", ""))
    except ValueError as exc:
        problems.append(str(exc))
    effective = None
    try:
        effective = date.fromisoformat(raw.get("effective_from", ""))
    except ValueError:
        problems.append(f"effective_from {raw.get('effective_from', '')!r} is not a date (YYYY-MM-DD)")
    if problems:
        return None, problems
    return ShareRow(
        line, _party_key(name, ipi, isni), name, kind, ipi, isni, right_type, share, effective
    ), []


def _find_audio(audio_dir: Path | None, isrc: str) -> Path | None:
    if audio_dir is None:
        return None
    for suffix in AUDIO_SUFFIXES:
        candidate = audio_dir / f"{isrc}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _group_lines(rows, audio_dir, report, progress) -> tuple[dict[str, RecordingRow], dict[str, list[str]]]:
    recordings: dict[str, RecordingRow] = {}
    problems_by_isrc: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line, raw in rows:
        report.rows_read += 1
        isrc, values, share_row, problems = _parse_line(line, raw, audio_dir)
        key = isrc or f"line {line}"
        rec = recordings.setdefault(key, RecordingRow(isrc=key))
        rec.lines.append(line)
        for problem in problems:
            problems_by_isrc[key].append((line, problem))
        for name in RECORDING_FIELDS:
            if name in values:
                previous = rec.values.setdefault(name, values[name])
                if previous != values[name]:
                    problems_by_isrc[key].append(
                        (line, f"{name} {values[name]!r} differs from {previous!r} on an earlier line")
                    )
        if "iswc" in values:
            if rec.iswc and rec.iswc != values["iswc"]:
                problems_by_isrc[key].append((line, "a recording's lines name two different ISWCs"))
            rec.iswc, rec.work_title = values["iswc"], values["work_title"]
        if "audio_path" in values:
            rec.audio_path = values["audio_path"]
        rec.consents.extend(values.get("consents", []))
        if share_row:
            rec.shares.append(share_row)
        if progress:
            progress(1)
    return recordings, problems_by_isrc


def _check_groups(recordings, problems_by_isrc, existing_versions) -> None:
    """Checks across lines: share sums, duplicate parties, and never-retroactive versions."""
    for key, rec in recordings.items():
        versions: dict[tuple[str, date], list[ShareRow]] = defaultdict(list)
        for share in rec.shares:
            versions[(share.right_type, share.effective_from)].append(share)
        for (right_type, start), shares in versions.items():
            lines = [s.line for s in shares]
            problem = split_sum_problem(isrc=key, right_type=right_type, shares=[s.share for s in shares])
            if problem:
                where = f"line {lines[0]}" if len(lines) == 1 else f"lines {', '.join(map(str, lines))}"
                problems_by_isrc[key].append((lines[0], f"{problem} ({where})"))
            if len({s.party_key for s in shares}) != len(shares):
                problems_by_isrc[key].append((lines[0], f"a party appears twice in the {right_type} split"))
            stored = existing_versions.get((key, right_type))
            if stored is None:
                continue
            if start in stored:
                wanted = {(s.party_key, s.share) for s in shares}
                if stored[start] != wanted:
                    problems_by_isrc[key].append(
                        (
                            lines[0],
                            f"recording {key}: a {right_type} split from {start} already exists with other shares; "
                            "splits are never edited, give the change a later effective_from",
                        )
                    )
            elif start < max(stored):
                problems_by_isrc[key].append(
                    (
                        lines[0],
                        f"recording {key}: effective_from {start} is before the latest stored {right_type} split "
                        f"({max(stored)}); splits are never changed retroactively",
                    )
                )


def _consent_subject_key(label_parties: dict, isrc_ids: dict, key: str, row: ConsentRow) -> str | None:
    """The stored subject key of a consent row's recording or party, None while it does not exist yet."""
    if row.party_key is None:
        return f"recording:{isrc_ids[key]}" if key in isrc_ids else None
    party_id = label_parties.get(row.party_key)
    return f"party:{party_id}" if party_id else None


def _check_consents(label: Label, recordings: dict[str, RecordingRow], problems_by_isrc) -> None:
    """Consent columns: one answer per subject and use in a file, never back-dated (before a stored
    version, or into a closed period). A version identical to a stored one is left alone."""
    if not any(rec.consents for rec in recordings.values()):
        return
    closed = label_closed_through(label)
    isrc_ids = dict(
        Recording.objects.filter(label=label, isrc__in=list(recordings)).values_list("isrc", "id")
    )
    label_parties = {_party_key(p.name, p.ipi, p.isni): p.pk for p in Party.objects.filter(label=label)}
    stored: dict[tuple[str, str], dict[date, str]] = defaultdict(dict)
    for subject_key, use, start, state in Consent.objects.filter(label=label).values_list(
        "subject_key", "use", "effective_from", "state"
    ):
        stored[(subject_key, use)][start] = state
    seen: dict[tuple, ConsentRow] = {}
    for key, rec in recordings.items():
        for row in rec.consents:
            subject = ("party", row.party_key) if row.party_key else ("recording", key)
            earlier = seen.setdefault((subject, row.use), row)
            if earlier is not row:  # a recording's lines repeat its columns: the same answer is fine
                if (earlier.state, earlier.effective_from) != (row.state, row.effective_from):
                    problems_by_isrc[key].append(
                        (row.line, f"{row.use} consent is given twice with different values in the file")
                    )
                continue
            if closed is not None and row.effective_from <= closed:
                problems_by_isrc[key].append(
                    (
                        row.line,
                        f"consent_from {row.effective_from} is inside a closed period (closed through {closed})",
                    )
                )
                continue
            subject_key = _consent_subject_key(label_parties, isrc_ids, key, row)
            versions = stored.get((subject_key, row.use), {}) if subject_key else {}
            if (
                versions
                and versions.get(row.effective_from) != row.state
                and row.effective_from <= max(versions)
            ):
                problems_by_isrc[key].append(
                    (
                        row.line,
                        f"{row.use} consent from {row.effective_from} is not after the latest stored version "
                        f"({max(versions)}); consent is never changed retroactively",
                    )
                )


def _existing_versions(label: Label, isrcs: Iterable[str]) -> dict[tuple[str, str], dict[date, set]]:
    """(isrc, right type) -> {start: {(party key, share)}} for the label's stored splits."""
    result: dict[tuple[str, str], dict[date, set]] = defaultdict(lambda: defaultdict(set))
    isrcs = list(isrcs)
    for start in range(0, len(isrcs), 2000):
        shares = SplitShare.objects.filter(
            split__recording__label=label, split__recording__isrc__in=isrcs[start : start + 2000]
        ).values_list(
            "split__recording__isrc", "split__right_type", "split__effective_from",
            "party__name", "party__ipi", "party__isni", "share",
        )  # fmt: skip
        for isrc, right_type, start_date, name, ipi, isni, share in shares:
            result[(isrc, right_type)][start_date].add((_party_key(name, ipi, isni), share))
    return result


def catalog_import(
    *,
    label: Label,
    csv_text: str,
    audio_dir: Path | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import recordings, parties, works and split versions; idempotent. See the module docstring."""
    _, rows = read_csv_rows(io.StringIO(csv_text))
    return catalog_import_rows(
        label=label, rows=rows, audio_dir=audio_dir, skip_invalid=skip_invalid, progress=progress
    )


@dataclass(frozen=True)
class ExtraParty:
    """A party to create without a share (a DDEX display artist or writer); matched like share parties."""

    name: str
    kind: str
    ipi: str = ""
    isni: str = ""


def catalog_import_rows(
    *,
    label: Label,
    rows: list[tuple[int, dict]],
    audio_dir: Path | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    extra_parties: Iterable[ExtraParty] = (),
    audio_by_isrc: bool = True,
) -> ImportReport:
    """`catalog_import` for rows already read: [(line number, {column: text})] in the CSV's columns.

    The shared entry point of every catalog feed (the CSV, DDEX ERN): the same checks, the same
    all-or-nothing rule and the same writes. `extra_parties` are created (if new) only when something
    is written; `audio_by_isrc` looks for `<ISRC>.wav` etc. in `audio_dir` when a row names no file.
    """
    report = ImportReport()
    raw_by_line = {line: raw for line, raw in rows}
    recordings, problems_by_isrc = _group_lines(rows, audio_dir, report, progress)
    for key, rec in recordings.items():
        if rec.audio_path is None and key not in problems_by_isrc and audio_by_isrc:
            rec.audio_path = _find_audio(audio_dir, key)
    _check_groups(recordings, problems_by_isrc, _existing_versions(label, recordings))
    _check_consents(label, recordings, problems_by_isrc)

    for key, problems in sorted(problems_by_isrc.items(), key=lambda item: min(p[0] for p in item[1])):
        for line, reason in sorted(problems):
            report.errors.append(LineError(line=line, isrc=key, reason=reason))
        for line in recordings[key].lines:
            reasons = (
                "; ".join(r for ln, r in problems if ln == line)
                or "another line of this recording is invalid"
            )
            report.rejected_rows.append({**raw_by_line[line], "line": line, "reason": reasons})
    report.errors.sort(key=lambda e: e.line)
    report.rejected_rows.sort(key=lambda r: r["line"])
    if report.errors and not skip_invalid:
        return report
    good = [rec for key, rec in recordings.items() if key not in problems_by_isrc]
    _write(label=label, recordings=good, report=report, extra_parties=list(extra_parties))
    report.written = True
    return report


@transaction.atomic
def _write(
    *, label: Label, recordings: list[RecordingRow], report: ImportReport, extra_parties: list[ExtraParty]
) -> None:
    existing = {
        r.isrc: r for r in Recording.objects.filter(label=label, isrc__in=[r.isrc for r in recordings])
    }
    to_create, to_update = [], []
    for rec in recordings:
        values = {name: rec.values.get(name) for name in RECORDING_FIELDS}
        current = existing.get(rec.isrc)
        if current is None:
            to_create.append(Recording(label=label, isrc=rec.isrc, **values))
        elif any(getattr(current, k) != v for k, v in values.items() if v is not None):
            for k, v in values.items():
                if v is not None:
                    setattr(current, k, v)
            to_update.append(current)
        else:
            report.recordings_unchanged += 1
    Recording.objects.bulk_create(to_create, batch_size=2000)
    if to_update:
        Recording.objects.bulk_update(to_update, list(RECORDING_FIELDS), batch_size=2000)
    report.recordings_created, report.recordings_updated = len(to_create), len(to_update)
    by_isrc = {
        r.isrc: r for r in Recording.objects.filter(label=label, isrc__in=[r.isrc for r in recordings])
    }

    parties = _ensure_parties(label, recordings, report, extra_parties)
    _ensure_works(label, recordings, by_isrc)
    _create_splits(label, recordings, by_isrc, parties, report)
    _create_consents(label, recordings, by_isrc, parties, report)
    for rec in recordings:
        if rec.audio_path is not None:
            recording = by_isrc[rec.isrc]
            if recording_attach_audio(
                recording=recording, path=rec.audio_path, sha256=file_sha256(rec.audio_path)
            ):
                report.audio_stored += 1
    if report.audio_stored:
        events.publish(events.AUDIO_STORED, label=label)


def _ensure_parties(label, recordings, report, extra_parties=()) -> dict[tuple[str, str], Party]:
    known: dict[tuple[str, str], Party] = {}
    for party in Party.objects.filter(label=label):
        known.setdefault(_party_key(party.name, party.ipi, party.isni), party)
    new = {}
    for rec in recordings:
        for share in rec.shares:
            if share.party_key not in known and share.party_key not in new:
                new[share.party_key] = Party(
                    label=label, name=share.party_name, kind=share.party_kind, ipi=share.ipi, isni=share.isni
                )
    for extra in extra_parties:
        key = _party_key(extra.name, extra.ipi, extra.isni)
        if key not in known and key not in new:
            new[key] = Party(label=label, name=extra.name, kind=extra.kind, ipi=extra.ipi, isni=extra.isni)
    Party.objects.bulk_create(new.values(), batch_size=2000)
    report.parties_created = len(new)
    if new:
        for party in Party.objects.filter(label=label):
            known.setdefault(_party_key(party.name, party.ipi, party.isni), party)
    return known


def _ensure_works(label, recordings, by_isrc) -> None:
    wanted = {rec.iswc: rec.work_title for rec in recordings if rec.iswc}
    if not wanted:
        return
    works = {w.iswc: w for w in Work.objects.filter(label=label, iswc__in=wanted)}
    Work.objects.bulk_create(
        [Work(label=label, iswc=iswc, title=title) for iswc, title in wanted.items() if iswc not in works]
    )
    works = {w.iswc: w for w in Work.objects.filter(label=label, iswc__in=wanted)}
    through = Work.recordings.through
    linked = set(through.objects.filter(work__in=works.values()).values_list("work_id", "recording_id"))
    through.objects.bulk_create(
        [
            through(work_id=works[rec.iswc].id, recording_id=by_isrc[rec.isrc].id)
            for rec in recordings
            if rec.iswc and (works[rec.iswc].id, by_isrc[rec.isrc].id) not in linked
        ]
    )


def _create_splits(label, recordings, by_isrc, parties, report) -> None:
    stored = set(
        Split.objects.filter(recording__label=label, recording__in=by_isrc.values()).values_list(
            "recording__isrc", "right_type", "effective_from"
        )
    )
    new_splits, share_groups = [], []
    for rec in recordings:
        versions: dict[tuple[str, date], list[ShareRow]] = defaultdict(list)
        for share in rec.shares:
            versions[(share.right_type, share.effective_from)].append(share)
        for (right_type, start), shares in versions.items():
            if (rec.isrc, right_type, start) in stored:
                report.splits_unchanged += 1
                continue
            new_splits.append(Split(recording=by_isrc[rec.isrc], right_type=right_type, effective_from=start))
            share_groups.append(shares)
    Split.objects.bulk_create(new_splits, batch_size=2000)
    SplitShare.objects.bulk_create(
        [
            SplitShare(split=split, party=parties[s.party_key], share=s.share)
            for split, shares in zip(new_splits, share_groups, strict=True)
            for s in shares
        ],
        batch_size=5000,
    )
    report.splits_created = len(new_splits)


def _create_consents(label, recordings, by_isrc, parties, report) -> None:
    stored = set(
        Consent.objects.filter(label=label).values_list("subject_key", "use", "effective_from", "state")
    )
    done = set()
    for rec in recordings:
        for row in rec.consents:
            subject = {"party": parties[row.party_key]} if row.party_key else {"recording": by_isrc[rec.isrc]}
            obj = next(iter(subject.values()))
            subject_key = f"{'party' if row.party_key else 'recording'}:{obj.pk}"
            version = (subject_key, row.use, row.effective_from, row.state)
            if version in done:
                continue
            done.add(version)
            if version in stored:
                report.consents_unchanged += 1
                continue
            consent_set(
                label=label, use=row.use, state=row.state, effective_from=row.effective_from,
                reason=f"catalog import, line {row.line}", **subject,
            )  # fmt: skip
            report.consents_created += 1


def rejects_csv(report: ImportReport) -> str:
    """The rejected lines as CSV, formula-leading cells defused (config/csv_export.py)."""
    return csv_dicts(report.rejected_rows, fieldnames=["line", *COLUMNS, "reason"])


# Public names of the helpers other catalog feeds share (catalog.ddex): how a party is matched, and the
# split versions a label already has.
party_key = _party_key
existing_split_versions = _existing_versions
