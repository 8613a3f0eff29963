"""Factories and helpers for royalties tests: clips with attributions, deals, usage."""

from datetime import date
from decimal import Decimal
from itertools import count

import factory

from catalog.models import Recording
from fingerprinting.models import Attribution, AttributionShare, Clip, Lane, ReviewState, ShareRight
from royalties.ingest import UsageLineInput
from royalties.services import deal_create, usage_ingest
from tests.factories import LabelFactory, PartnerFactory

_line_ids = count(1)


class ClipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clip

    label = factory.SubFactory(LabelFactory)
    partner = factory.SubFactory(PartnerFactory)
    external_id = factory.Sequence(lambda n: f"clip-{n}")
    audio = "clips/test.wav"
    status = "attributed"


def attribute(
    clip: Clip,
    shares: dict[Recording, str],
    *,
    unattributed: str | None = None,
    review_state: str = ReviewState.AUTO_ACCEPTED,
    evidence: dict | None = None,
    share_evidence: dict[Recording, dict] | None = None,
    rights: dict[Recording, str] | None = None,
    review_reasons: list[dict] | None = None,
) -> Attribution:
    """A new attribution version for the clip (made current), as the attribution engine would write it.
    Versions are immutable once stored, so evidence is given here, not set afterwards. `rights` names the
    composition shares (every other share is a recording share)."""
    total = sum((Decimal(s) for s in shares.values()), Decimal(0))
    rest = Decimal(unattributed) if unattributed is not None else Decimal(1) - total
    assert total + rest == 1
    previous = clip.current_attribution
    attribution = Attribution.objects.create(
        clip=clip,
        version=(previous.version + 1) if previous else 1,
        unattributed=rest,
        review_state=review_state,
        review_reasons=review_reasons or [],
        engine_name="test",
        engine_version="1",
        evidence=evidence or {},
        supersedes=previous,
    )
    for rank, (recording, share) in enumerate(shares.items(), start=1):
        AttributionShare.objects.create(
            attribution=attribution,
            recording=recording,
            rank=rank,
            share=Decimal(share),
            lane=Lane.MANUAL,
            evidence=(share_evidence or {}).get(recording, {}),
            right=(rights or {}).get(recording, ShareRight.RECORDING),
        )
    clip.current_attribution = attribution
    clip.save(update_fields=["current_attribution"])
    return attribution


def deal(label, partner, *, rate="0.5", currency="EUR", start=date(2020, 1, 1), effective_to=None, **terms):
    return deal_create(
        label=label,
        partner=partner,
        royalty_rate=Decimal(rate),
        currency=currency,
        effective_from=start,
        effective_to=effective_to,
        **{
            k: Decimal(v) if k in {"attributed_fraction", "label_share", "publishing_fraction"} else v
            for k, v in terms.items()
        },
    )


def usage(
    clip: Clip, revenue: str, *, day: date, currency: str = "EUR", count_: int = 1000, line_type="usage"
):
    """Report one usage line for a clip (through the real ingestion service)."""
    line = UsageLineInput(
        partner_line_id=f"L{next(_line_ids)}",
        clip_id=clip.pk,
        usage_date=day,
        usage_count=count_,
        net_revenue=Decimal(revenue),
        currency=currency,
        line_type=line_type,
    )
    result = usage_ingest(partner=clip.partner, lines=[line])
    assert result.accepted == 1, result.lines
    return line
