"""The demo's money side: a deal with the demo partner, payees, a month of usage, its close and a payout batch.

Idempotent: every step finds what an earlier run made (deal, profiles, usage line ids, the closed period).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from catalog.models import Label, Partner
from fingerprinting.models import Clip, ClipStatus
from royalties.ingest import UsageLineInput
from royalties.models import Deal, PayoutBatch, Period, PeriodStatus
from royalties.periods import month_of
from royalties.services import (
    deal_create,
    fx_rate_set,
    label_royalty_settings_set,
    payee_profile_set,
    payout_batch_create,
    period_close,
    usage_ingest,
)

# Valid IBANs from the banks' published examples (python-stdnum checks them).
DEMO_IBANS = [
    ("DE89370400440532013000", "COBADEFFXXX"),
    ("GB29NWBK60161331926819", "NWBKGB2L"),
    ("FR1420041010050500013M02606", "PSSTFRPPXXX"),
    ("NL91ABNA0417164300", "ABNANL2A"),
]
USD_PARTY = "Tidewater Publishing"


@dataclass
class DemoRoyalties:
    period: Period
    usage_accepted: int
    batch: PayoutBatch | None


def demo_royalties_build(*, label: Label, partner: Partner, today: date | None = None) -> DemoRoyalties:
    today = today or date.today()
    month = month_of(month_of(today) - timedelta(days=1))  # last month: closed in the demo
    if not Deal.objects.filter(label=label, partner=partner).exists():
        deal_create(
            label=label, partner=partner, royalty_rate=Decimal("0.5"), currency="EUR",
            effective_from=date(2024, 1, 1), attributed_fraction=Decimal("0.8"), name="Demo licence",
            publishing_fraction=Decimal("0.3"),  # 70 % master, 30 % publishing: the demo pays both rights
        )  # fmt: skip
    label_royalty_settings_set(label=label, payout_threshold=Decimal("5.00"))
    for n, party in enumerate(label.parties.order_by("name")):
        iban, bic = DEMO_IBANS[n % len(DEMO_IBANS)]
        currency = "USD" if party.name == USD_PARTY else "EUR"
        payee_profile_set(party=party, currency=currency, iban=iban, bic=bic,
                          withholding_rate=Decimal("0.1") if n % 5 == 0 else Decimal(0))  # fmt: skip
    fx_rate_set(period=month, base="EUR", quote="USD", rate=Decimal("1.0850"), source="demo table")
    rng = np.random.default_rng(2026)
    lines = []
    clips = Clip.objects.filter(label=label, partner=partner, status=ClipStatus.ATTRIBUTED).order_by("pk")
    for clip in clips:
        for day in (3, 11, 19, 27):
            uses = int(rng.integers(200, 5000))
            revenue = (
                Decimal(uses) * Decimal("0.004") * Decimal(str(round(float(rng.uniform(0.6, 1.4)), 2)))
            ).quantize(Decimal("0.01"))
            lines.append(
                UsageLineInput(
                    partner_line_id=f"demo-{clip.pk}-{month:%Y%m}-{day:02d}",
                    clip_id=clip.pk,
                    usage_date=month.replace(day=day),
                    usage_count=uses,
                    net_revenue=revenue,
                    currency="EUR",
                    territory="DE" if day < 15 else "FR",
                )
            )
    period = Period.objects.filter(label=label, month=month).first()
    accepted = 0
    if period is None or period.status == PeriodStatus.OPEN:
        accepted = usage_ingest(partner=partner, lines=lines).accepted
    period = period_close(label=label, period=month).period
    batch = PayoutBatch.objects.filter(label=label, currency="EUR").first() or payout_batch_create(
        label=label, currency="EUR"
    )
    return DemoRoyalties(period=period, usage_accepted=accepted, batch=batch)
