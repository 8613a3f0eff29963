"""Clip pages and the review queue: what a rights manager sees and does; roles, tenancy, query counts."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Role
from fingerprinting.models import Attribution, ReviewState
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory, member
from tests.royalties.factories import ClipFactory, attribute

pytestmark = pytest.mark.django_db


@pytest.fixture
def clip_with_attribution():
    label = LabelFactory(name="Northgate")
    a, b = (
        RecordingFactory(label=label, title="Harbour Lights"),
        RecordingFactory(label=label, title="Glass Orchard"),
    )
    clip = ClipFactory(label=label, partner=PartnerFactory(name="Melodia"), title="Generated 1")
    evidence = {
        "duration_seconds": 30.0,
        "declared_references": [
            {
                "isrc": b.isrc,
                "in_catalog": True,
                "supported": False,
                "verbatim_seconds": 0.0,
                "best_window_z": 0.4,
            }
        ],
    }
    share_evidence = {
        "verbatim": {"runs": [{"clip_start": 2.0, "clip_end": 12.0, "rec_start": 30.0, "rec_end": 40.0, "ber": 0.08, "factor": 1.0}],
                     "seconds": 10.0, "mean_ber": 0.08},
        "style": {"windows": [{"clip_start": 0.0, "clip_end": 8.0, "z": 5.1, "similarity": 0.82,
                               "aspects": {"timbre": 0.9, "harmony": 0.8}}],
                  "mean_z": 5.1, "aspects": {"timbre": 0.9, "harmony": 0.8}},
    }  # fmt: skip
    attribute(
        clip,
        {a: "0.6", b: "0.3"},
        review_state=ReviewState.NEEDS_REVIEW,
        evidence=evidence,
        share_evidence={a: share_evidence},
    )
    return label, clip, a, b


def test_clip_page_shows_shares_remainder_evidence_and_declared_references(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("vic", label, Role.VIEWER))
    page = client.get(reverse("fingerprinting:clip-detail", args=[clip.pk])).content.decode()
    assert (
        "Harbour Lights" in page and "60.00\u00a0%" in page and "10.00\u00a0%" in page
    )  # remainder, one format
    assert "verbatim 2.0-12.0 s = recording 30.0-40.0 s, bit error rate 0.08" in page
    assert "timbre 0.90" in page and "not supported" in page
    assert "Review</h2>" not in page  # viewers see no review forms


def test_adjusting_shares_makes_a_new_version_and_keeps_the_old(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    response = client.post(
        reverse("fingerprinting:clip-review", args=[clip.pk]),
        {"action": "adjust", f"share_{a.pk}": "0.7", f"share_{b.pk}": "0.2", "reason": "listened: mostly A"},
    )
    assert response.status_code == 302
    clip.refresh_from_db()
    current = clip.current_attribution
    assert current.version == 2 and current.review_state == ReviewState.ADJUSTED
    assert {s.recording: s.share for s in current.shares.all()} == {a: Decimal("0.7"), b: Decimal("0.2")}
    assert current.unattributed == Decimal("0.1") and current.created_by.username == "rita"
    assert Attribution.objects.get(clip=clip, version=1).shares.get(recording=a).share == Decimal("0.6")
    page = client.get(reverse("fingerprinting:clip-detail", args=[clip.pk])).content.decode()
    assert "listened: mostly A" in page and "v2" in page and "v1" in page


def test_adjust_rejects_shares_over_one_and_writes_nothing(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    response = client.post(
        reverse("fingerprinting:clip-review", args=[clip.pk]),
        {"action": "adjust", f"share_{a.pk}": "0.8", f"share_{b.pk}": "0.3", "reason": "x"},
        follow=True,
    )
    assert "more than 1" in response.content.decode()
    assert Attribution.objects.filter(clip=clip).count() == 1


def test_confirm_and_dispute(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    url = reverse("fingerprinting:clip-review", args=[clip.pk])
    client.post(url, {"action": "dispute", "reason": ""})
    assert Attribution.objects.filter(clip=clip).count() == 1  # a dispute needs a comment
    client.post(url, {"action": "dispute", "reason": "the bass line is ours, not theirs"})
    client.post(url, {"action": "confirm"})
    states = list(
        Attribution.objects.filter(clip=clip).order_by("version").values_list("review_state", flat=True)
    )
    assert states == [ReviewState.NEEDS_REVIEW, ReviewState.DISPUTED, ReviewState.CONFIRMED]


def test_viewer_cannot_review_and_other_label_gets_404(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("vic", label, Role.VIEWER))
    assert (
        client.post(reverse("fingerprinting:clip-review", args=[clip.pk]), {"action": "confirm"}).status_code
        == 403
    )
    client.force_login(member("otto", LabelFactory(), Role.ADMIN))
    assert client.get(reverse("fingerprinting:clip-detail", args=[clip.pk])).status_code == 404
    assert (
        client.post(reverse("fingerprinting:clip-review", args=[clip.pk]), {"action": "confirm"}).status_code
        == 404
    )
    assert client.get(reverse("fingerprinting:clip-audio", args=[clip.pk])).status_code == 404
    assert Attribution.objects.filter(clip=clip).count() == 1


def test_review_queue_lists_clips_waiting_for_a_person(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    settled = ClipFactory(label=label, partner=clip.partner, title="Settled one")
    attribute(settled, {a: "1"})
    client.force_login(member("rita", label))
    page = client.get(reverse("fingerprinting:review-queue")).content.decode()
    assert "Generated 1" in page and "Settled one" not in page


def test_clip_list_filters_and_has_no_n_plus_one(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    for n in range(15):
        attribute(ClipFactory(label=label, partner=clip.partner, title=f"Clip {n}"), {a: "0.5", b: "0.5"})
    client.force_login(member("rita", label))
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("fingerprinting:clip-list")).content.decode()
    assert "Clip 14" in page and len(queries) <= 12, [q["sql"] for q in queries]
    filtered = client.get(reverse("fingerprinting:clip-list"), {"review": "yes"}).content.decode()
    assert "Generated 1" in filtered and "Clip 3" not in filtered
    bad = client.get(reverse("fingerprinting:clip-list"), {"since": "yesterday"})
    assert bad.status_code == 200


def test_recording_page_lists_clips_that_drew_on_it(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("rita", label))
    page = client.get(reverse("catalog:recording-detail", args=[a.pk])).content.decode()
    assert "Clips that drew on it" in page and "Generated 1" in page


def test_dashboard_renders_with_data(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("rita", label))
    page = client.get(reverse("royalties:dashboard")).content.decode()
    assert "Clips received and attributed" in page and "Harbour Lights" in page
    assert date.today().strftime("%b") in page


def test_run_evidence_names_the_method_and_the_transform():
    from fingerprinting.views import _run_label

    spectral = {"clip_start": 0.0, "clip_end": 12.0, "rec_start": 30.0, "rec_end": 42.6, "method": "spectral",
                "peaks_present": 312, "kappa": 0.71, "z": 14.2, "tempo": 1.05, "semitones": 0.0}  # fmt: skip
    transposed = {**spectral, "tempo": 1.0, "semitones": -1.5}

    assert _run_label(spectral) == (
        "0.0-12.0 s = recording 30.0-42.6 s, 312 recording peaks present (kappa 0.71), tempo x1.05"
    )
    assert _run_label(transposed).endswith("(kappa 0.71), transposed -1.5 semitones")


def test_a_composition_run_says_how_the_notes_align_which_line_matched_and_the_phrases_that_follow():
    from fingerprinting.engine.composition import LINE_TEXT
    from fingerprinting.views import _run_label, _strength_text

    run = {"clip_start": 0.0, "clip_end": 20.0, "rec_start": 41.0, "rec_end": 62.6, "method": "composition",
           "alignment": 0.412, "z": 7.31, "lead": 3.04, "tempo": 0.926, "semitones": 2.0, "false_alarm": 0.0011,
           "line": "bass", "matched": LINE_TEXT["bass"], "bass_share": 0.93}  # fmt: skip
    assert _run_label(run) == (
        "0.0-20.0 s = recording 41.0-62.6 s, notes aligned (cosine 0.41, z 7.3, lead 3.0); matched the bass "
        "line, tempo x0.926, +2 semitones; chance in unrelated music 0.0011"
    )
    assert _strength_text(run).startswith("notes aligned (cosine 0.41") and "landmark" not in _strength_text(
        run
    )
    # A kept run's evidence also counts the clip's phrases that follow the recording.
    assert "matched the bass line; 3 of 4 phrases follow it;" in _strength_text(
        {**run, "phrases_agreeing": 3, "phrases": 4}
    )
    # An upper line alone is named a melody or chords, with how many pitch classes sound at once.
    melody = {
        **run,
        "line": "upper",
        "upper_line": "melody",
        "upper_voices": 1.62,
        "matched": LINE_TEXT["melody"],
    }
    assert "matched a melody (one upper line), no bass (1.6 pitch classes at once)," in _run_label(melody)


def test_clip_page_shows_each_shares_right_and_why_it_waits(client):
    from catalog.models import Work
    from fingerprinting.models import ShareRight

    label = LabelFactory()
    a, b = (
        RecordingFactory(label=label, title="Harbour Lights"),
        RecordingFactory(label=label, title="Glass Orchard"),
    )
    Work.objects.create(label=label, iswc="T0345246801", title="Harbour Lights").recordings.add(a)
    clip = ClipFactory(label=label, partner=PartnerFactory())
    attribute(
        clip, {a: "0.5", b: "0.3"}, rights={a: ShareRight.COMPOSITION, b: ShareRight.COMPOSITION},
        review_state=ReviewState.NEEDS_REVIEW,
    )  # fmt: skip
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    page = client.get(reverse("fingerprinting:clip-detail", args=[clip.pk])).content.decode()
    rows = page.split('<table id="shares">')[1].split("</table>")[0]
    harbour, glass = (
        rows.split("Harbour Lights")[1].split("</tr>")[0],
        rows.split("Glass Orchard")[1].split("</tr>")[0],
    )
    assert "Composition only" in harbour and "work unknown" not in harbour  # its work is in the catalog
    assert "Composition only" in glass and "work unknown" in glass
    assert f'name="right_{a.pk}"' in page and '<option value="composition" selected>' in page


def test_review_reasons_are_listed_on_the_clip_page(client):
    from fingerprinting.models import AttributionShare, Lane

    label = LabelFactory()
    recording = RecordingFactory(label=label)
    clip = ClipFactory(label=label, partner=PartnerFactory())
    reason = {"code": "composition_work_unknown", "isrc": recording.isrc, "message": "no work for it"}
    attribution = Attribution.objects.create(
        clip=clip, version=1, unattributed="0.5", review_state=ReviewState.NEEDS_REVIEW, engine_name="t",
        engine_version="1", review_reasons=[reason],
    )  # fmt: skip
    AttributionShare.objects.create(
        attribution=attribution,
        recording=recording,
        rank=1,
        share="0.5",
        lane=Lane.STYLE,
        right="composition",
    )
    clip.current_attribution = attribution
    clip.save(update_fields=["current_attribution"])
    client.force_login(member("vic", label, Role.VIEWER))
    page = client.get(reverse("fingerprinting:clip-detail", args=[clip.pk])).content.decode()
    assert "composition_work_unknown" in page and "no work for it" in page


def test_a_reviewer_changes_a_shares_right_from_the_adjust_form(client, clip_with_attribution):
    label, clip, a, b = clip_with_attribution
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    url = reverse("fingerprinting:clip-review", args=[clip.pk])
    client.post(
        url,
        {"action": "adjust", f"share_{a.pk}": "0.6", f"right_{a.pk}": "recording", f"share_{b.pk}": "0.3",
         f"right_{b.pk}": "composition", "reason": "B's melody, played on other instruments"},
    )  # fmt: skip
    clip.refresh_from_db()
    current = clip.current_attribution
    assert current.version == 2
    assert {s.recording: s.right for s in current.shares.all()} == {a: "recording", b: "composition"}
    bad = client.post(
        url,
        {"action": "adjust", f"share_{a.pk}": "0.6", f"right_{a.pk}": "master", "reason": "x"},
        follow=True,
    )
    assert "right" in bad.content.decode() and clip.attributions.count() == 2  # refused, nothing written


def test_clip_page_shows_matched_segments_as_text_with_play_buttons(client):
    label = LabelFactory()
    recording = RecordingFactory(label=label, title="Harbour Lights", display_artist="Ines Okafor")
    clip = ClipFactory(label=label, partner=PartnerFactory())
    run = {"clip_start": 3.0, "clip_end": 13.0, "rec_start": 41.5, "rec_end": 50.5, "method": "spectral",
           "kappa": 0.62, "z": 11.3, "tempo": 0.9, "semitones": 1.0, "peaks_present": 200, "false_alarm": 2e-7}  # fmt: skip
    attribute(
        clip,
        {recording: "0.8"},
        evidence={"duration_seconds": 20.0},
        share_evidence={recording: {"verbatim": {"runs": [run], "seconds": 10.0}}},
    )
    client.force_login(member("rita", label))
    page = client.get(reverse("fingerprinting:clip-detail", args=[clip.pk])).content.decode()
    assert "3.0–13.0 s" in page and "41.5–50.5 s" in page  # clip and recording time ranges, as text
    assert "tempo x0.9, +1 semitone" in page and "kappa 0.62, z 11.3" in page and "2e-07" in page
    assert 'data-player="clip-player" data-start="3.0" data-end="13.0"' in page
    assert "Ines Okafor" in page and recording.isrc in page
