from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from fingerprinting import events
from fingerprinting.errors import AttributionInvalid
from fingerprinting.models import Attribution, Clip, ClipStatus, ReviewState
from fingerprinting.services import attribution_revise, clip_attribute
from tests.factories import RecordingFactory, UserFactory
from tests.fingerprinting.audio_helpers import wav_bytes
from tests.fingerprinting.conftest import SR, recording_audio, unrelated_audio

pytestmark = pytest.mark.django_db


def make_clip(label, partner, samples, name, declared=()) -> Clip:
    clip = Clip(
        label=label,
        partner=partner,
        external_id=name,
        status=ClipStatus.QUEUED,
        declared_references=list(declared),
    )
    clip.audio.save(f"{name}.wav", ContentFile(wav_bytes(samples, SR)), save=True)
    return clip


def record_content(attribution: Attribution) -> dict:
    """Everything an attribution says, without ids, times and timings."""
    return {
        "unattributed": attribution.unattributed,
        "review_state": attribution.review_state,
        "confidence": attribution.confidence,
        "engine": (attribution.engine_name, attribution.engine_version, attribution.embedder_version),
        "index_version": attribution.index_version,
        "parameters": attribution.parameters,
        "evidence": attribution.evidence,
        "shares": [
            (s.recording_id, s.rank, s.share, s.lane, s.evidence) for s in attribution.shares.order_by("rank")
        ],
    }


def test_verbatim_excerpt_ranks_its_recording_first_with_the_right_time_range(
    label, partner, catalog, indexed
):
    source = catalog[3]
    excerpt = recording_audio(3)[int(7.0 * SR) : int(17.0 * SR)]
    clip = make_clip(label, partner, excerpt, "excerpt", declared=[source.isrc, catalog[5].isrc])
    attribution = clip_attribute(clip=clip)
    clip.refresh_from_db()
    assert clip.status == ClipStatus.ATTRIBUTED
    assert clip.current_attribution_id == attribution.pk
    shares = list(attribution.shares.order_by("rank"))
    assert shares[0].recording_id == source.pk
    assert shares[0].lane in ("verbatim", "both")
    assert shares[0].share >= Decimal("0.9")
    assert sum((s.share for s in shares), Decimal(0)) + attribution.unattributed == Decimal(1)
    runs = shares[0].evidence["verbatim"]["runs"]
    longest = max(runs, key=lambda r: r["clip_end"] - r["clip_start"])
    assert longest["rec_start"] == pytest.approx(7.0, abs=0.5)
    assert longest["rec_end"] == pytest.approx(17.0, abs=0.5)
    assert longest["clip_start"] == pytest.approx(0.0, abs=0.5)
    assert longest["clip_end"] == pytest.approx(10.0, abs=0.5)
    declared = {d["isrc"]: d for d in attribution.evidence["declared_references"]}
    assert declared[source.isrc]["supported"] is True
    assert declared[catalog[5].isrc]["supported"] is False  # checked, never a share on its own
    assert catalog[5].pk not in {s.recording_id for s in shares}
    assert attribution.review_state == ReviewState.NEEDS_REVIEW  # an unsupported declared reference


def test_unrelated_clip_gets_no_share_of_five_percent(label, partner, catalog, indexed):
    for seed in (1, 2):
        clip = make_clip(label, partner, unrelated_audio(seed), f"unrelated-{seed}")
        attribution = clip_attribute(clip=clip)
        assert all(s.share < Decimal("0.05") for s in attribution.shares.all())
        assert attribution.unattributed >= Decimal("0.9")


def test_attributing_twice_gives_identical_records(label, partner, catalog, indexed):
    mashup = recording_audio(1)[: 12 * SR] + 0.5 * recording_audio(2)[5 * SR : 17 * SR]
    clip = make_clip(label, partner, mashup, "mashup")
    first = clip_attribute(clip=clip)
    assert clip_attribute(clip=clip) is None  # already attributed: a second run does nothing
    second = clip_attribute(clip=clip, force=True, reason="determinism check")
    assert second.version == first.version + 1
    assert second.supersedes_id == first.pk
    assert record_content(second) == record_content(first)
    clip.refresh_from_db()
    assert clip.current_attribution_id == second.pk


def test_published_event_after_commit(label, partner, catalog, indexed, django_capture_on_commit_callbacks):
    seen = []

    def handler(event_type, *, clip, attribution):
        seen.append((event_type, clip.pk, attribution.pk))

    events.subscribe(handler)
    try:
        clip = make_clip(label, partner, recording_audio(0)[: 6 * SR], "evt")
        with django_capture_on_commit_callbacks(execute=True):
            attribution = clip_attribute(clip=clip)
        assert seen == [("clip.attributed", clip.pk, attribution.pk)]
    finally:
        events.unsubscribe(handler)


def test_revision_is_a_new_version_and_moves_the_pointer(label, partner, catalog, indexed):
    clip = make_clip(label, partner, recording_audio(4)[2 * SR : 12 * SR], "rev")
    first = clip_attribute(clip=clip)
    reviewer = UserFactory(username="rita")
    revised = attribution_revise(
        clip=clip,
        shares={catalog[4]: Decimal("0.7"), catalog[6]: Decimal("0.25")},
        review_state=ReviewState.ADJUSTED,
        created_by=reviewer,
        reason="the bridge quotes piece 6",
    )
    clip.refresh_from_db()
    assert clip.current_attribution_id == revised.pk
    assert revised.version == first.version + 1 and revised.supersedes_id == first.pk
    assert revised.unattributed == Decimal("0.05")
    assert [s.lane for s in revised.shares.all()] == ["manual", "manual"]
    assert Attribution.objects.get(pk=first.pk).unattributed == first.unattributed  # untouched
    other_label_recording = RecordingFactory()
    with pytest.raises(AttributionInvalid):
        attribution_revise(
            clip=clip,
            shares={other_label_recording: Decimal("0.5")},
            review_state=ReviewState.ADJUSTED,
            created_by=reviewer,
            reason="x",
        )
    with pytest.raises(AttributionInvalid):
        attribution_revise(
            clip=clip,
            shares={catalog[4]: Decimal("0.8"), catalog[5]: Decimal("0.3")},
            review_state=ReviewState.ADJUSTED,
            created_by=reviewer,
            reason="too much",
        )


class _Index:
    recordings = [{"isrc": "QZTST0000001"}, {"isrc": "QZTST0000002"}]


def _share(lane: str, false_alarm: float | None, position: int = 0):
    from fingerprinting.engine.pipeline import ShareResult

    runs = (
        []
        if false_alarm is None
        else [{"method": "chromaprint", "clip_start": 0.0, "clip_end": 8.0, "false_alarm": false_alarm}]
    )
    return ShareResult(
        position=position,
        share=0.5,
        lane=lane,
        evidence={"verbatim": {"runs": runs}},
        false_alarm=false_alarm,
    )


@pytest.mark.parametrize(
    ("shares", "confidence", "declared", "expected", "codes"),
    [
        ([("verbatim", 1e-9)], 0.95, [], ReviewState.AUTO_ACCEPTED, []),
        ([], 0.99, [], ReviewState.AUTO_ACCEPTED, []),
        ([("verbatim", 1e-9), ("style", None)], 0.95, [], ReviewState.NEEDS_REVIEW, ["style_only"]),
        ([("both", 1e-9)], 0.5, [], ReviewState.NEEDS_REVIEW, ["low_confidence"]),
        ([("verbatim", 3e-3)], 0.95, [], ReviewState.NEEDS_REVIEW, ["weak_evidence"]),
        (
            [("verbatim", 1e-9)],
            0.95,
            [{"isrc": "QZTST0000002", "in_catalog": True, "supported": False}],
            ReviewState.NEEDS_REVIEW,
            ["unsupported_reference"],
        ),
    ],
)
def test_review_policy(shares, confidence, declared, expected, codes):
    """Auto-accepted only when every share rests on reused audio whose strongest run is below the
    false-alarm bound; each problem is a reason naming the share."""
    from fingerprinting.engine import DEFAULT_CONFIG, acceptance

    review = acceptance.decide(
        shares=[_share(lane, fa, position=i) for i, (lane, fa) in enumerate(shares)],
        confidence=confidence,
        declared=declared,
        index=_Index(),
        config=DEFAULT_CONFIG,
    )
    assert review.state == expected
    assert [reason["code"] for reason in review.reasons] == codes
    assert all(reason["message"] for reason in review.reasons)
