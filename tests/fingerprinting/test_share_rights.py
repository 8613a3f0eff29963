"""Rights per share on the attribution side: what the engine's shares become, the hold for a composition
share whose work is unknown, a reviewer's change of right, and the migration that added the column."""

from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction

from catalog.models import Work
from fingerprinting import services
from fingerprinting.engine.acceptance import Review
from fingerprinting.errors import AttributionInvalid
from fingerprinting.models import AttributionShare, ReviewState, ShareRight
from fingerprinting.services import attribution_revise, clip_attribute
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory, UserFactory
from tests.royalties.factories import ClipFactory, attribute

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    label = LabelFactory()
    a = RecordingFactory(label=label, title="A")
    b = RecordingFactory(label=label, title="B")
    clip = ClipFactory(label=label, partner=PartnerFactory(), status="queued")
    # The engine is stubbed, but the clip's file is still fetched from storage first (an object store
    # has no path to hand over without it).
    clip.audio.storage.save(clip.audio.name, ContentFile(b"RIFF"))
    return label, clip, a, b


ACCEPTED = Review("auto_accepted", [])


def engine_answer(monkeypatch, recordings, shares, *, review=ACCEPTED):
    """Make the engine answer `shares` [(recording position, share, lane, right or None)] for any clip:
    None leaves the share without a `right`, as engines before the composition lane do."""
    index = SimpleNamespace(
        recordings=[{"id": r.pk, "isrc": r.isrc} for r in recordings],
        meta={"embedder_version": "e"},
        version="v1",
    )
    results = []
    for position, share, lane, right in shares:
        result = SimpleNamespace(position=position, share=share, lane=lane, evidence={}, false_alarm=None)
        if right is not None:
            result.right = right
        results.append(result)
    answer = SimpleNamespace(
        shares=results, review=review, confidence=0.9, evidence={}, timings={}, duration=10.0
    )
    monkeypatch.setattr(services, "audio_attribute", lambda **kwargs: (answer, index))
    # The engine is faked, so the clip's audio is never read: no local copy either (a factory clip's
    # audio name points at no stored object, which an S3 storage would refuse to download).
    monkeypatch.setattr(services, "local_copy", lambda storage, name: nullcontext(Path(name)))


def test_a_share_from_an_engine_without_rights_is_a_recording_share(monkeypatch, world):
    label, clip, a, b = world
    engine_answer(monkeypatch, [a, b], [(0, 0.7, "verbatim", None)])
    attribution = clip_attribute(clip=clip)
    (share,) = attribution.shares.all()
    assert (share.recording_id, share.right) == (a.pk, ShareRight.RECORDING)
    assert attribution.review_state == ReviewState.AUTO_ACCEPTED


def test_a_composition_share_of_a_known_work_keeps_the_engines_decision(monkeypatch, world):
    label, clip, a, b = world
    Work.objects.create(label=label, iswc="T0345246801", title="B's song").recordings.add(b)
    engine_answer(monkeypatch, [a, b], [(0, 0.6, "verbatim", "recording"), (1, 0.3, "style", "composition")])
    attribution = clip_attribute(clip=clip)
    assert {(s.recording_id, s.right) for s in attribution.shares.all()} == {
        (a.pk, "recording"),
        (b.pk, "composition"),
    }
    assert attribution.review_state == ReviewState.AUTO_ACCEPTED
    assert attribution.review_reasons == []


def test_a_composition_share_whose_work_is_unknown_is_held_for_review_with_that_reason(monkeypatch, world):
    label, clip, a, b = world
    engine_reason = {"code": "low_confidence", "message": "confidence 0.40 is below 0.5"}
    engine_answer(
        monkeypatch,
        [a, b],
        [(0, 0.6, "verbatim", "recording"), (1, 0.3, "style", "composition")],
        review=Review("auto_accepted", [engine_reason]),
    )
    attribution = clip_attribute(clip=clip)
    assert attribution.review_state == ReviewState.NEEDS_REVIEW
    assert attribution.review_reasons[0] == engine_reason
    (reason,) = attribution.review_reasons[1:]
    assert (reason["code"], reason["isrc"]) == ("composition_work_unknown", b.isrc)
    assert "work" in reason["message"] and b.isrc in reason["message"]
    share = attribution.shares.get(recording=b)
    assert share.right == ShareRight.COMPOSITION  # the share is kept; only the payment waits


def test_a_reviewer_changes_a_shares_right_and_the_others_keep_theirs(world):
    label, clip, a, b = world
    attribute(clip, {a: "0.6", b: "0.3"}, rights={b: ShareRight.COMPOSITION})
    reviewer = UserFactory()
    revised = attribution_revise(
        clip=clip,
        shares={a: Decimal("0.6"), b: Decimal("0.3")},
        rights={a: ShareRight.COMPOSITION},
        review_state=ReviewState.ADJUSTED,
        created_by=reviewer,
        reason="the clip re-performs A too",
    )
    assert {(s.recording_id, s.right) for s in revised.shares.all()} == {
        (a.pk, "composition"),
        (b.pk, "composition"),
    }
    confirmed = attribution_revise(
        clip=clip,
        shares={s.recording: s.share for s in revised.shares.all()},
        review_state=ReviewState.CONFIRMED,
        created_by=reviewer,
        reason="checked",
    )
    assert {s.right for s in confirmed.shares.all()} == {"composition"}  # confirming keeps the rights
    new = RecordingFactory(label=label)
    added = attribution_revise(
        clip=clip,
        shares={a: Decimal("0.5"), new: Decimal("0.2")},
        review_state=ReviewState.ADJUSTED,
        created_by=reviewer,
        reason="added one",
    )
    assert added.shares.get(recording=new).right == ShareRight.RECORDING  # a new share: recording


def test_an_unknown_right_is_refused_and_writes_nothing(world):
    label, clip, a, b = world
    attribute(clip, {a: "0.6"})
    versions = clip.attributions.count()
    with pytest.raises(AttributionInvalid, match="right"):
        attribution_revise(
            clip=clip,
            shares={a: Decimal("0.6")},
            rights={a: "master"},
            review_state=ReviewState.ADJUSTED,
            created_by=UserFactory(),
            reason="x",
        )
    assert clip.attributions.count() == versions


def test_a_stored_shares_right_cannot_be_changed(world):
    label, clip, a, b = world
    attribute(clip, {a: "0.6"})
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE fingerprinting_attributionshare SET \"right\" = 'composition'")
    assert AttributionShare.objects.get().right == ShareRight.RECORDING


def test_the_database_refuses_an_unknown_right(world):
    label, clip, a, b = world
    attribution = attribute(clip, {a: "0.6"})
    with pytest.raises(IntegrityError), transaction.atomic():
        AttributionShare.objects.create(
            attribution=attribution, recording=b, rank=2, share=Decimal("0.1"), lane="style", right="master"
        )


@pytest.mark.django_db(transaction=True)
def test_the_migration_reads_stored_shares_as_recording_and_keeps_rows_immutable():
    """Back to before rights (a share, a publishing deal stored then), forward again: the share reads as
    `recording` without any UPDATE of it, the deal pays publishing, and the triggers still refuse
    changes (on SQLite they are re-created after each table rebuild, both ways)."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("fingerprinting", "0005_review_reasons_near_duplicates"), ("royalties", "0008_dsr_messages")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    label, partner = LabelFactory(), PartnerFactory()
    recording = RecordingFactory(label=label)
    clip = old.get_model("fingerprinting", "Clip").objects.create(
        label_id=label.pk, partner_id=partner.pk, external_id="old", audio="clips/old.wav"
    )
    attribution = old.get_model("fingerprinting", "Attribution").objects.create(
        clip=clip, version=1, unattributed=Decimal("0.4"), review_state="auto_accepted", engine_name="old",
        engine_version="1",
    )  # fmt: skip
    old.get_model("fingerprinting", "AttributionShare").objects.create(
        attribution=attribution, recording_id=recording.pk, rank=1, share=Decimal("0.6"), lane="verbatim"
    )
    from datetime import date

    old.get_model("royalties", "Deal").objects.create(
        label_id=label.pk, partner_id=partner.pk, royalty_rate=Decimal("0.5"), currency="EUR",
        effective_from=date(2020, 1, 1), right_type="publishing",
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE fingerprinting_attributionshare SET share = 1")  # still refused before

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from royalties.models import Deal

    assert AttributionShare.objects.get().right == ShareRight.RECORDING
    assert Deal.objects.get().publishing_fraction == Decimal(1)
    for statement in (
        "UPDATE fingerprinting_attributionshare SET share = 1",
        "UPDATE fingerprinting_attributionshare SET \"right\" = 'composition'",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            triggers = {row[0] for row in cursor.fetchall()}
        assert {
            "fingerprinting_attribution_no_update",
            "fingerprinting_attributionshare_no_update",
            "royalties_statementline_no_update",
        } <= triggers
