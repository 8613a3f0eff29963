"""config.queries.CompiledLookup gives what the ORM gives, on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Label
from config.queries import CompiledLookup
from fingerprinting.models import Clip
from tests.factories import LabelFactory, PartnerFactory
from tests.royalties.factories import ClipFactory

pytestmark = pytest.mark.django_db

by_scope = CompiledLookup(
    Clip,
    lambda partner_id, label_id, clip_id: Clip.objects.filter(
        partner_id=partner_id, label_id=label_id, pk=clip_id
    ),
    params=("partner_id", "label_id", "clip_id"),
)


def _fields(clip: Clip) -> dict:
    return {field.attname: getattr(clip, field.attname) for field in Clip._meta.concrete_fields}


def test_a_row_comes_back_as_the_orm_builds_it():
    clip = ClipFactory(
        declared_references=["GBAYE0000001"],
        extra={"prompt": "lo-fi ünïcode", "seed": 7, "nested": {"a": [1, 2.5, None]}},
        generated_at=datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
        duration_seconds=12.5,
    )

    found = by_scope.get(partner_id=clip.partner_id, label_id=clip.label_id, clip_id=clip.pk)

    assert _fields(found) == _fields(Clip.objects.get(pk=clip.pk))
    assert found.extra["nested"] == {"a": [1, 2.5, None]}  # JSON decoded, not a string
    assert found.generated_at == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert found._state.adding is False and found._state.db == "default"


def test_every_parameter_narrows_the_row():
    clip = ClipFactory()
    other_label, other_partner = LabelFactory(), PartnerFactory()

    assert by_scope.get(partner_id=other_partner.pk, label_id=clip.label_id, clip_id=clip.pk) is None
    assert by_scope.get(partner_id=clip.partner_id, label_id=other_label.pk, clip_id=clip.pk) is None
    assert by_scope.get(partner_id=clip.partner_id, label_id=clip.label_id, clip_id=clip.pk + 1000) is None


def test_it_is_one_query_seen_by_django_like_any_other():
    clip = ClipFactory()
    by_scope.get(partner_id=clip.partner_id, label_id=clip.label_id, clip_id=clip.pk)  # compiled now

    with CaptureQueriesContext(connection) as queries:
        by_scope.get(partner_id=clip.partner_id, label_id=clip.label_id, clip_id=clip.pk)

    assert len(queries) == 1
    assert "fingerprinting_clip" in queries[0]["sql"]


def test_a_lookup_must_use_each_parameter_once_and_select_whole_rows():
    unused = CompiledLookup(
        Label, lambda label_id, slug_id: Label.objects.filter(pk=label_id), ("label_id", "slug_id")
    )
    partial = CompiledLookup(
        Label, lambda label_id: Label.objects.filter(pk=label_id).only("name"), ("label_id",)
    )

    with pytest.raises(ValueError, match="exactly once"):
        unused.get(label_id=1, slug_id=2)
    with pytest.raises(ValueError, match="whole rows"):
        partial.get(label_id=1)
