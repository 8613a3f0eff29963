"""Uses outside the licence: a clip that draws on a recording its artists did not allow for the use, or
that no deal licenses to the partner, on the clip's date.

An attribution share is a `training` use of the recording (the model learnt from it); a declared reference
is a `conditioning` use (it was given to the model). Each finding is kept as an `UnlicensedUse` with the
share's engine evidence and the consent versions in force; the attribution goes to review with the reason
`outside_licence`, and the close never pays an attribution that has one (royalties.close): the label
decides, and a person's revision that takes the share out releases the rest.

Whether a deal licenses the partner lives in royalties, above this app: it registers a provider here from
its AppConfig.ready(); without one every partner counts as licensed.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils import timezone

from catalog.consent import ConsentAnswer, consent_resolve_many, consent_resolve_party
from catalog.models import ConsentUse, Label, Partner, Party, Recording
from catalog.voice import voice_consented
from fingerprinting.models import Attribution, Clip, UnlicensedReason, UnlicensedUse

OUTSIDE_LICENCE = "outside_licence"  # the review reason code

partner_licence_providers: list[Callable[[Label, Partner, date], bool]] = []


def register_partner_licence(provider: Callable[[Label, Partner, date], bool]) -> None:
    if provider not in partner_licence_providers:
        partner_licence_providers.append(provider)


def clip_date(clip: Clip) -> date:
    """The day the clip was made (as the partner declared it), else the day it reached us."""
    return timezone.localdate(clip.generated_at or clip.created_at or timezone.now())


@dataclass(frozen=True)
class Finding:
    recording: Recording | None  # None for a voice use, which is about a party
    use: str
    reason: str
    share: Decimal | None
    answer: ConsentAnswer | None
    evidence: dict
    party: Party | None = None

    @property
    def subject(self) -> str:
        return self.recording.isrc if self.recording is not None else f"voice of {self.party}"

    def message(self) -> str:
        if self.use == ConsentUse.VOICE:
            what = "the declared voice model"
        else:
            what = f"a {self.share:.1%} share" if self.share is not None else "a declared reference"
        if self.reason == UnlicensedReason.NOT_LICENSED:
            return f"{self.subject} ({what}): not licensed to the partner on the clip's date"
        assert self.answer is not None
        return f"{self.subject} ({what}) is outside the licence: {self.use} {self.answer.describe()}"


def licence_findings(*, clip: Clip, shares: Sequence[tuple[Recording, Decimal, dict]]) -> list[Finding]:
    """What in a clip's shares and declared references lies outside the licence on the clip's date."""
    on = clip_date(clip)
    licensed = all(provider(clip.label, clip.partner, on) for provider in partner_licence_providers)
    references = list(Recording.objects.filter(label=clip.label, isrc__in=clip.declared_references or []))
    findings = []
    if not licensed:
        findings += [
            Finding(r, ConsentUse.TRAINING, UnlicensedReason.NOT_LICENSED, s, None, e) for r, s, e in shares
        ]
        findings += [
            Finding(r, ConsentUse.CONDITIONING, UnlicensedReason.NOT_LICENSED, None, None, {})
            for r in references
        ]
        return findings
    training = consent_resolve_many(recordings=[r for r, _s, _e in shares], use=ConsentUse.TRAINING, on=on)
    for recording, share, evidence in shares:
        answer = training[recording.pk]
        if not answer.allowed:
            findings.append(
                Finding(
                    recording, ConsentUse.TRAINING, UnlicensedReason.CONSENT_OPT_OUT, share, answer, evidence
                )
            )
    findings += _voice_findings(clip, on)
    conditioning = consent_resolve_many(recordings=references, use=ConsentUse.CONDITIONING, on=on)
    for recording in references:
        answer = conditioning[recording.pk]
        if not answer.allowed:
            findings.append(
                Finding(
                    recording, ConsentUse.CONDITIONING, UnlicensedReason.CONSENT_OPT_OUT, None, answer, {}
                )
            )
    return findings


def _voice_findings(clip: Clip, on: date) -> list[Finding]:
    """A declared voice model must be the partner's, in force, with its party's voice consent in force."""
    model = clip.voice_model
    if model is None:
        return []
    if model.partner_id != clip.partner_id or not model.in_force(on):
        return [Finding(None, ConsentUse.VOICE, UnlicensedReason.NOT_LICENSED, None, None, {}, model.party)]
    answer = consent_resolve_party(party=model.party, use=ConsentUse.VOICE, on=on)
    if voice_consented(answer):
        return []
    return [Finding(None, ConsentUse.VOICE, UnlicensedReason.CONSENT_OPT_OUT, None, answer, {}, model.party)]


def review_reasons(findings: Sequence[Finding]) -> list[dict]:
    return [
        {
            "code": OUTSIDE_LICENCE,
            "isrc": f.recording.isrc if f.recording else "",
            "use": f.use,
            "reason": f.reason,
            "message": f.message(),
        }
        for f in findings
    ]


def unlicensed_uses_record(
    *, clip: Clip, attribution: Attribution, findings: Sequence[Finding]
) -> list[UnlicensedUse]:
    """Keep the findings of an attribution version (in its transaction)."""
    on = clip_date(clip)
    return UnlicensedUse.objects.bulk_create(
        UnlicensedUse(
            label=clip.label,
            clip=clip,
            attribution=attribution,
            recording=f.recording,
            party=f.party,
            use=f.use,
            reason=f.reason,
            share=f.share,
            clip_date=on,
            consent_version_ids=f.answer.version_ids if f.answer else [],
            consent_summary=(f.answer.describe() if f.answer else "no deal in force")[:500],
            evidence=f.evidence,
        )  # fmt: skip
        for f in findings
    )


def unlicensed_uses(*, label: Label, month: date | None = None):
    """The label's uses outside the licence, newest first; with `month`, those of clips made in it."""
    uses = UnlicensedUse.objects.for_label(label).select_related(
        "clip__partner", "recording", "party", "attribution"
    )
    if month is not None:
        nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        uses = uses.filter(clip_date__gte=month, clip_date__lt=nxt)
    return uses.order_by("-detected_at", "-id")


CSV_COLUMNS = [
    "detected_at", "clip_date", "clip_id", "clip_external_id", "partner", "attribution_version", "isrc", "title",
    "use", "reason", "share", "consent", "consent_version_ids", "review_state",
]  # fmt: skip


def unlicensed_uses_csv_rows(uses) -> list[dict]:
    return [
        {
            "detected_at": u.detected_at.isoformat(),
            "clip_date": u.clip_date.isoformat(),
            "clip_id": u.clip_id,
            "clip_external_id": u.clip.external_id,
            "partner": u.clip.partner.name,
            "attribution_version": u.attribution.version,
            "isrc": u.recording.isrc if u.recording else "",
            "title": u.recording.title if u.recording else f"voice of {u.party}",
            "use": u.use,
            "reason": u.reason,
            "share": "" if u.share is None else str(u.share),
            "consent": u.consent_summary,
            "consent_version_ids": " ".join(map(str, u.consent_version_ids)),
            "review_state": u.attribution.review_state,
        }  # fmt: skip
        for u in uses
    ]
