"""Two labels x two partners, one API key per (partner, label) cell, and synthesized audio."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from demo.synth import synthesize
from fingerprinting.models import Attribution, AttributionShare, Clip, ClipStatus, Lane, ReviewState
from partner_api.services import apikey_create
from royalties.models import PartnerSettlement, Period, PeriodStatus
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory
from tests.fingerprinting.audio_helpers import wav_bytes as engine_wav_bytes
from tests.fingerprinting.conftest import catalog, indexed, label, partner  # noqa: F401  (for test_flow)


def wav_bytes(seconds: float = 4.0, seed: int = 7, sr: int = 22050) -> bytes:
    return engine_wav_bytes(synthesize(seed, seconds, sr=sr), sr)


def silence_wav(seconds: float = 4.0, sr: int = 22050) -> bytes:
    return engine_wav_bytes(np.zeros(int(seconds * sr), dtype=np.float32), sr)


@dataclass
class Cell:
    """One API key: a partner acting within a label."""

    label: object
    partner: object
    api_key: object
    raw_key: str

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.raw_key}")
        return client


@dataclass
class World:
    a1: Cell  # partner 1 in label A ("Alice's platform at Aurora Records")
    a2: Cell  # partner 2 in label A
    b1: Cell  # partner 1 in label B
    b2: Cell  # partner 2 in label B

    def others(self, cell: Cell) -> list[Cell]:
        return [c for c in (self.a1, self.a2, self.b1, self.b2) if c is not cell]


@pytest.fixture(autouse=True)
def _no_attribution_engine(monkeypatch):
    """The API's tests stop at the queue: the engine has its own tests."""
    from fingerprinting import tasks

    monkeypatch.setattr(tasks.clip_attribute_task, "delay", lambda *args, **kwargs: None)


@pytest.fixture(autouse=True)
def _local_webhooks(settings):
    """Tests deliver to servers on 127.0.0.1 and have no DNS; production refuses private hosts."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def world(db) -> World:
    label_a = LabelFactory(slug="aurora", name="Aurora Records")
    label_b = LabelFactory(slug="boreal", name="Boreal Music")
    p1 = PartnerFactory(slug="tunegen", name="TuneGen")
    p2 = PartnerFactory(slug="songsmith", name="SongSmith")

    def cell(in_label, for_partner) -> Cell:
        created = apikey_create(
            label=in_label, partner=for_partner, name=f"{for_partner.slug}@{in_label.slug}"
        )
        return Cell(label=in_label, partner=for_partner, api_key=created.api_key, raw_key=created.raw_key)

    return World(a1=cell(label_a, p1), a2=cell(label_a, p2), b1=cell(label_b, p1), b2=cell(label_b, p2))


@pytest.fixture(scope="session")
def audio() -> bytes:
    return wav_bytes()


def make_clip(cell: Cell, external_id: str = "gen-1", **fields) -> Clip:
    defaults = {"audio": "clips/test.wav", "audio_sha256": "0" * 64, "audio_format": "wav"}
    return Clip.objects.create(
        label=cell.label, partner=cell.partner, external_id=external_id, **{**defaults, **fields}
    )


def make_attribution(clip: Clip, *, version: int = 1, shares=("0.600000",), reason: str = "") -> Attribution:
    previous = clip.current_attribution
    unattributed = Decimal(1) - sum((Decimal(s) for s in shares), Decimal(0))
    attribution = Attribution.objects.create(
        clip=clip,
        version=version,
        unattributed=unattributed,
        review_state=ReviewState.AUTO_ACCEPTED,
        confidence=0.9,
        engine_name="stemma-test",
        engine_version="0.1",
        index_version="idx-1",
        evidence={"declared_references": []},
        reason=reason,
        supersedes=previous,
    )
    for rank, share in enumerate(shares, start=1):
        AttributionShare.objects.create(
            attribution=attribution,
            recording=RecordingFactory(label=clip.label),
            rank=rank,
            share=Decimal(share),
            lane=Lane.VERBATIM,
            evidence={"windows": rank},
        )
    clip.current_attribution = attribution
    clip.status = ClipStatus.ATTRIBUTED
    clip.save(update_fields=["current_attribution", "status"])
    return attribution


def make_settlement(cell, month: date, amount: str, status=PeriodStatus.CLOSED) -> PartnerSettlement:
    period, _ = Period.objects.get_or_create(label=cell.label, month=month, defaults={"status": status})
    return PartnerSettlement.objects.create(
        period=period,
        partner=cell.partner,
        currency="EUR",
        line_count=3,
        usage_count=1200,
        revenue_exact=Decimal("100"),
        pool_exact=Decimal("50"),
        amount_due=Decimal(amount),
        issued_at=timezone.now(),
        detail=[],
    )
