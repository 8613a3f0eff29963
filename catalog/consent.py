"""Artist consent per AI use: writing versions, and the rule that answers "may this be used?".

The rule (docs/consent.md), for a recording, a use and a date:
1. the recording's own choice in force, if it has one, decides;
2. otherwise every holder of the recording answers: each party in a split in force on the date (master
   or publishing) with its own choice, or else the label's default for the use; each work the recording
   embodies with its own choice, if it has one (a work's choice stands for its writers);
   the strictest answer wins: one opt-out among them is an opt-out;
3. a recording with no holders takes the label's default;
4. a label that never set a default for a use is opted in (`OPEN_DEFAULT`): before consent existed
   every recording was treated as licensed, and existing deals keep paying as before until a label
   says otherwise.
A voice model is about one party, so `voice` for a party is its own choice, else the label's default.

Versions are written only by `consent_set`: never edited or back-dated (after the latest version of the
same subject and use, and after the label's last closed period), each with an audit event.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction

from catalog.errors import ConsentInvalid, ConsentNotRetroactive
from catalog.models import (
    Consent,
    ConsentScope,
    ConsentState,
    ConsentUse,
    Label,
    Party,
    Recording,
    Split,
    SplitShare,
    Work,
    consent_subject_key,
)

OPEN_DEFAULT = ConsentState.OPT_IN  # see rule 4 above

# Functions giving the last day of a label's latest closed period (royalties registers one from its
# AppConfig.ready(); catalog cannot import royalties). A consent never starts on or before that day, so a
# closed period's payments stay explained by the consent that was in force when it closed.
closed_through_providers: list[Callable[[Label], date | None]] = []


def register_closed_through(provider: Callable[[Label], date | None]) -> None:
    if provider not in closed_through_providers:
        closed_through_providers.append(provider)


def label_closed_through(label: Label) -> date | None:
    days = [day for provider in closed_through_providers if (day := provider(label)) is not None]
    return max(days) if days else None


@dataclass(frozen=True)
class ConsentAnswer:
    """The answer for one recording (or party), use and date, and the versions that decided it."""

    state: str
    source: str  # "recording", "holders", "label" or "open_default"
    deciding: tuple[Consent, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.state == ConsentState.OPT_IN

    @property
    def version_ids(self) -> list[int]:
        return [consent.pk for consent in self.deciding]

    def describe(self) -> str:
        if not self.deciding:
            return f"{self.state} (no choice recorded; open default)"
        return f"{self.state} by " + ", ".join(
            f"{c.subject_name} v{c.version} from {c.effective_from}" for c in self.deciding
        )


def consent_decide(
    *, own: Consent | None, holders: Sequence[Consent | None], label_default: Consent | None
) -> ConsentAnswer:
    """The rule itself, over versions already in force (None: no choice). Pure, for tests and callers."""
    if own is not None:
        return ConsentAnswer(state=own.state, source="recording", deciding=(own,))
    if not holders:
        if label_default is not None:
            return ConsentAnswer(state=label_default.state, source="label", deciding=(label_default,))
        return ConsentAnswer(state=OPEN_DEFAULT, source="open_default")
    answers = [choice if choice is not None else label_default for choice in holders]
    refusals = _distinct(a for a in answers if a is not None and a.state == ConsentState.OPT_OUT)
    if refusals:
        return ConsentAnswer(state=ConsentState.OPT_OUT, source="holders", deciding=refusals)
    if any(a is None for a in answers):
        # Some holder has no choice and the label no default: the open default speaks for it.
        return ConsentAnswer(
            state=OPEN_DEFAULT, source="holders", deciding=_distinct(a for a in answers if a)
        )
    return ConsentAnswer(state=ConsentState.OPT_IN, source="holders", deciding=_distinct(answers))


def _distinct(versions: Iterable[Consent | None]) -> tuple[Consent, ...]:
    """Versions in first-seen order, each once (the label default may answer for several holders)."""
    seen: dict[int, Consent] = {}
    for consent in versions:
        if consent is not None:
            seen.setdefault(id(consent), consent)
    return tuple(seen.values())


def _in_force_by_key(*, label_ids: Iterable[int], use: str, on: date) -> dict[tuple[int, str], Consent]:
    rows = Consent.objects.filter(label_id__in=list(label_ids), use=use).in_force(on=on)
    return {(c.label_id, c.subject_key): c for c in rows.select_related("party", "recording", "work")}


def consent_resolve_many(*, recordings: Sequence[Recording], use: str, on: date) -> dict[int, ConsentAnswer]:
    """`consent_decide` for many recordings in a fixed number of queries (manifests and the close)."""
    if not recordings:
        return {}
    ids = [r.pk for r in recordings]
    in_force = _in_force_by_key(label_ids={r.label_id for r in recordings}, use=use, on=on)
    parties: dict[int, set[int]] = defaultdict(set)
    splits = Split.objects.filter(recording_id__in=ids).in_force(on=on)
    for recording_id, party_id in SplitShare.objects.filter(split__in=splits).values_list(
        "split__recording_id", "party_id"
    ):
        parties[recording_id].add(party_id)
    works: dict[int, set[int]] = defaultdict(set)
    for recording_id, work_id in Work.recordings.through.objects.filter(recording_id__in=ids).values_list(
        "recording_id", "work_id"
    ):
        works[recording_id].add(work_id)
    answers = {}
    for recording in recordings:
        label_id = recording.label_id
        holders = [in_force.get((label_id, f"party:{p}")) for p in sorted(parties[recording.pk])]
        holders += [
            in_force[(label_id, f"work:{w}")]
            for w in sorted(works[recording.pk])
            if (label_id, f"work:{w}") in in_force
        ]
        answers[recording.pk] = consent_decide(
            own=in_force.get((label_id, f"recording:{recording.pk}")),
            holders=holders,
            label_default=in_force.get((label_id, "label")),
        )
    return answers


def consent_resolve(*, recording: Recording, use: str, on: date) -> ConsentAnswer:
    return consent_resolve_many(recordings=[recording], use=use, on=on)[recording.pk]


def consent_resolve_party(*, party: Party, use: str, on: date) -> ConsentAnswer:
    """A party's own answer (a voice model is about one party): its choice, else the label's default."""
    in_force = _in_force_by_key(label_ids=[party.label_id], use=use, on=on)
    own = in_force.get((party.label_id, f"party:{party.pk}"))
    return consent_decide(own=own, holders=[], label_default=in_force.get((party.label_id, "label")))


def _subject(*, recording, party, work) -> tuple[str, int | None]:
    given = [
        (scope, obj) for scope, obj in (("recording", recording), ("party", party), ("work", work)) if obj
    ]
    if len(given) > 1:
        raise ConsentInvalid("a consent is for one recording, party or work (or none: the label default)")
    if not given:
        return ConsentScope.LABEL, None
    scope, obj = given[0]
    return scope, obj.pk


@transaction.atomic
def consent_set(
    *,
    label: Label,
    use: str,
    state: str,
    effective_from: date,
    recording: Recording | None = None,
    party: Party | None = None,
    work: Work | None = None,
    reason: str = "",
    actor=None,
) -> Consent:
    """A new consent version from `effective_from` on; with no subject, the label's default for the use."""
    from catalog.services import audit_record

    if use not in ConsentUse.values:
        raise ConsentInvalid(
            f"use {use!r} is not one of {', '.join(ConsentUse.values)}", fields={"use": [use]}
        )
    if state not in ConsentState.values:
        raise ConsentInvalid(
            f"state {state!r} is not one of {', '.join(ConsentState.values)}", fields={"state": [state]}
        )
    scope, subject_id = _subject(recording=recording, party=party, work=work)
    subject = recording or party or work
    if subject is not None and subject.label_id != label.pk:
        raise ConsentInvalid(f"{scope} {subject} does not belong to {label}")
    if use == ConsentUse.VOICE and scope in (ConsentScope.RECORDING, ConsentScope.WORK):
        raise ConsentInvalid("voice consent is a party's (or the label default), not a recording's or work's")
    # Lock the label so two concurrent changes cannot both pass the "latest version" check.
    Label.objects.select_for_update().filter(pk=label.pk).first()
    key = consent_subject_key(scope=scope, subject_id=subject_id)
    versions = Consent.objects.filter(label=label, subject_key=key, use=use)
    latest = versions.order_by("-effective_from").values_list("effective_from", flat=True).first()
    if latest is not None and effective_from <= latest:
        raise ConsentNotRetroactive(
            f"{use} consent of this {scope} already has a version from {latest}; a new version must start "
            "after it (consent is never changed retroactively)",
            fields={"effective_from": [str(effective_from)]},
        )
    closed = label_closed_through(label)
    if closed is not None and effective_from <= closed:
        raise ConsentNotRetroactive(
            f"{label} has closed its books through {closed}; a consent change must start after that day",
            fields={"effective_from": [str(effective_from)]},
        )
    consent = Consent.objects.create(
        label=label,
        scope=scope,
        recording=recording,
        party=party,
        work=work,
        subject_key=key,
        use=use,
        state=state,
        effective_from=effective_from,
        version=versions.count() + 1,
        reason=reason[:300],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        label=label,
        actor=actor,
        action="consent.set",
        obj=consent,
        summary=f"{consent.subject_name}: {use} {state} from {effective_from} (v{consent.version})"
        + (f": {reason}" if reason else ""),
        data={
            "scope": scope,
            "subject": str(subject) if subject is not None else label.slug,
            "use": use,
            "state": state,
            "effective_from": effective_from.isoformat(),
            "version": consent.version,
            "reason": reason,
        },
    )
    return consent


def consent_history(*, label: Label, recording=None, party=None, work=None):
    """Every version of a subject's consent (all uses), newest first."""
    scope, subject_id = _subject(recording=recording, party=party, work=work)
    key = consent_subject_key(scope=scope, subject_id=subject_id)
    return (
        Consent.objects.filter(label=label, subject_key=key)
        .select_related("created_by")
        .order_by("use", "-effective_from")
    )
