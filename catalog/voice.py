"""Licensed voice models: registering one needs the party's `voice` consent in force (docs/consent.md).

A voice model sings as the artist, so the open default (a label that never set a policy) is not enough:
voice needs an explicit opt-in, the party's own or the label's default."""

from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction

from catalog.consent import ConsentAnswer, consent_resolve_party
from catalog.errors import ConsentInvalid
from catalog.models import VOICE_RATE_DIGITS, VOICE_RATE_PLACES, ConsentUse, Label, Partner, Party, VoiceModel
from catalog.services import CURRENCY_PATTERN, audit_record, parse_share


def voice_consented(answer: ConsentAnswer) -> bool:
    return answer.allowed and bool(answer.deciding)


def voice_rate_parse(raw: Decimal | str) -> Decimal:
    """A flat rate per use: a positive Decimal with at most VOICE_RATE_PLACES places; ValueError otherwise."""
    try:
        rate = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"rate {raw!r} is not a number")
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate {raw} must be a positive amount")
    if rate.as_tuple().exponent < -VOICE_RATE_PLACES:  # type: ignore[operator]  # finite: an int
        raise ValueError(f"rate {raw} has more than {VOICE_RATE_PLACES} decimal places")
    if rate.adjusted() >= VOICE_RATE_DIGITS - VOICE_RATE_PLACES:
        raise ValueError(f"rate {raw} is too large")
    return rate


def _terms(
    label: Label,
    pool_share: Decimal | str | None,
    rate_per_use: Decimal | str | None,
    rate_currency: str | None,
) -> tuple[Decimal | None, Decimal | None, str]:
    """(pool share, rate, currency) checked: exactly one kind of terms; a rate has a currency (the label's
    by default). Nothing blank counts as given, so a form's empty field is "not this kind"."""
    given_share = pool_share is not None and str(pool_share).strip() != ""
    given_rate = rate_per_use is not None and str(rate_per_use).strip() != ""
    if given_share == given_rate:
        raise ConsentInvalid(
            "A voice model's licence terms are either a share of the pool or a flat rate per use: give one.",
            code="voice_terms_invalid",
            fields={"pool_share": [str(pool_share or "")], "rate_per_use": [str(rate_per_use or "")]},
        )
    if given_share:
        try:
            return parse_share(pool_share or ""), None, ""
        except ValueError as exc:
            raise ConsentInvalid(
                f"pool_share: {exc}", code="voice_terms_invalid", fields={"pool_share": [str(pool_share)]}
            )
    try:
        rate = voice_rate_parse(rate_per_use or "")
    except ValueError as exc:
        raise ConsentInvalid(
            f"rate_per_use: {exc}", code="voice_rate_invalid", fields={"rate_per_use": [str(rate_per_use)]}
        )
    currency = (rate_currency or label.default_currency).strip().upper()
    if not CURRENCY_PATTERN.match(currency):
        raise ConsentInvalid(
            f"rate_currency: {rate_currency!r} is not a currency code (three letters, e.g. EUR)",
            code="voice_rate_invalid",
            fields={"rate_currency": [str(rate_currency)]},
        )
    return None, rate, currency


@transaction.atomic
def voice_model_register(
    *,
    label: Label,
    party: Party,
    partner: Partner,
    name: str,
    effective_from: date,
    pool_share: Decimal | str | None = None,
    rate_per_use: Decimal | str | None = None,
    rate_currency: str | None = None,
    effective_to: date | None = None,
    actor=None,
) -> VoiceModel:
    """A voice model under one kind of licence terms: `pool_share` of each declaring clip's pool, or
    `rate_per_use` (in `rate_currency`, the label's currency by default) for each use reported of it."""
    if party.label_id != label.pk:
        raise ConsentInvalid(f"party {party} does not belong to {label}")
    share, rate, currency = _terms(label, pool_share, rate_per_use, rate_currency)
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
        pool_share=share, rate_per_use=rate, rate_currency=currency,
        effective_from=effective_from, effective_to=effective_to,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    terms = (
        {"pool_share": str(share)} if share is not None else {"rate_per_use": str(rate), "currency": currency}
    )
    audit_record(
        label=label, actor=actor, action="voice_model.registered", obj=model,
        summary=f"voice model {model.name} of {party.name} for {partner.name}: {model.terms} from {effective_from}",
        data={"party": party.pk, "partner": partner.slug, **terms, "consent": answer.version_ids},
    )  # fmt: skip
    return model
