"""Licensed voice models: registering one needs the party's `voice` consent in force (docs/consent.md).

A voice model sings as the artist, so the open default (a label that never set a policy) is not enough:
voice needs an explicit opt-in, the party's own or the label's default."""

from datetime import date
from decimal import Decimal

from django.db import transaction

from catalog.consent import ConsentAnswer, consent_resolve_party
from catalog.errors import ConsentInvalid
from catalog.models import ConsentUse, Label, Partner, Party, VoiceModel
from catalog.services import audit_record, parse_share


def voice_consented(answer: ConsentAnswer) -> bool:
    return answer.allowed and bool(answer.deciding)


@transaction.atomic
def voice_model_register(
    *,
    label: Label,
    party: Party,
    partner: Partner,
    name: str,
    pool_share: Decimal | str,
    effective_from: date,
    effective_to: date | None = None,
    actor=None,
) -> VoiceModel:
    if party.label_id != label.pk:
        raise ConsentInvalid(f"party {party} does not belong to {label}")
    try:
        share = parse_share(pool_share)
    except ValueError as exc:
        raise ConsentInvalid(f"pool_share: {exc}", fields={"pool_share": [str(pool_share)]})
    if effective_to is not None and effective_to < effective_from:
        raise ConsentInvalid("effective_to is before effective_from")
    answer = consent_resolve_party(party=party, use=ConsentUse.VOICE, on=effective_from)
    if not voice_consented(answer):
        raise ConsentInvalid(
            f"{party} has not consented to a voice model on {effective_from} ({answer.describe()}); "
            "record their voice consent first",
            code="voice_consent_required",
        )
    model = VoiceModel.objects.create(
        label=label, party=party, partner=partner, name=name.strip()[:200] or f"{party.name} voice",
        pool_share=share, effective_from=effective_from, effective_to=effective_to,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    audit_record(
        label=label, actor=actor, action="voice_model.registered", obj=model,
        summary=f"voice model {model.name} of {party.name} for {partner.name}: {share} of the pool from {effective_from}",
        data={"party": party.pk, "partner": partner.slug, "pool_share": str(share), "consent": answer.version_ids},
    )  # fmt: skip
    return model
