"""Stored attribution versions cannot be rewritten, by the ORM or by SQL: the database refuses."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from fingerprinting.models import Attribution, AttributionShare
from tests.factories import RecordingFactory, UserFactory
from tests.royalties.factories import ClipFactory, attribute

pytestmark = pytest.mark.django_db


@pytest.fixture
def attribution() -> Attribution:
    clip = ClipFactory()
    return attribute(clip, {RecordingFactory(label=clip.label): "0.600000"})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE fingerprinting_attribution SET unattributed = 0",
        "UPDATE fingerprinting_attribution SET review_state = 'accepted'",
        "UPDATE fingerprinting_attributionshare SET share = 1",
        "UPDATE fingerprinting_attributionshare SET evidence = '{{}}'",
    ],
)
def test_update_is_refused(attribution, statement):
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.replace("{{}}", "{}"))


def test_saving_a_changed_version_through_the_orm_is_refused(attribution):
    attribution.reason = "quietly edited"
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        attribution.save()
    attribution.refresh_from_db()
    assert attribution.reason == ""


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["fingerprinting_attributionshare", "fingerprinting_attribution"])
def test_delete_and_truncate_are_refused_on_postgres(attribution, table):
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a table name from the parameters above)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL stemma.allow_truncate = 'off'")
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AttributionShare.objects.exists()


def test_deleting_the_user_who_made_a_manual_version_keeps_the_version(attribution):
    reviewer = UserFactory()
    manual = Attribution.objects.create(
        clip=attribution.clip,
        version=2,
        unattributed=attribution.unattributed,
        review_state="accepted",
        engine_name="manual",
        engine_version="1",
        created_by=reviewer,
        reason="checked by ear",
        supersedes=attribution,
    )

    reviewer.delete()  # on_delete=SET_NULL: the one UPDATE the database lets through

    manual.refresh_from_db()
    assert manual.created_by_id is None and manual.reason == "checked by ear"
