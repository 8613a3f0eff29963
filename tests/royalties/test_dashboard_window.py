"""The dashboard's 30-day window: frozen days read from the cache, the live part read on every view, and
both exact under writes (royalties.dashboard.window_figures)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fingerprinting.models import Clip, ReviewState
from fingerprinting.services import attribution_revise
from royalties.dashboard import _add_up, _generation, live_start, window_figures, window_start
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory, member
from tests.royalties.factories import ClipFactory, attribute

pytestmark = pytest.mark.django_db


def clip_on(label, partner, days_ago: int, shares: dict) -> Clip:
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, shares)
    Clip.objects.filter(pk=clip.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    clip.refresh_from_db()
    return clip


@pytest.fixture
def window():
    label, partner = LabelFactory(), PartnerFactory()
    a, b = RecordingFactory(label=label, title="Alder"), RecordingFactory(label=label, title="Birch")
    old = clip_on(label, partner, 10, {a: "0.6", b: "0.2"})
    clip_on(label, partner, 20, {a: "0.5"})
    clip_on(label, partner, 40, {b: "0.9"})  # outside the window
    return label, partner, a, b, old


def everything(label, today):
    """The window added up in one piece, without the cache: what the dashboard must show."""
    return _add_up(label, window_start(today), None)


def test_frozen_and_live_parts_add_up_to_the_whole_window(window):
    label, _partner, a, b, _old = window
    today = timezone.localdate()

    figures = window_figures(label=label, today=today)

    assert figures == everything(label, today)
    assert figures["influence"] == {a.pk: (Decimal("1.1"), 2), b.pk: (Decimal("0.2"), 1)}


def test_a_new_clip_is_counted_on_the_next_view(window):
    label, partner, a, b, _old = window
    today = timezone.localdate()
    window_figures(label=label, today=today)  # the frozen days are now in the cache

    new = ClipFactory(label=label, partner=partner)
    attribute(new, {b: "1"})

    figures = window_figures(label=label, today=today)
    assert figures == everything(label, today)
    assert figures["influence"][b.pk] == (Decimal("1.2"), 2)
    assert figures["days"][today] == (1, 4)  # one received today; four first attributions made today


def test_a_review_of_a_frozen_days_clip_is_seen_on_the_next_view(window, django_capture_on_commit_callbacks):
    label, _partner, a, b, old = window
    today = timezone.localdate()
    assert timezone.localtime(old.created_at).date() < live_start(today)
    window_figures(label=label, today=today)

    with django_capture_on_commit_callbacks(execute=True):
        attribution_revise(
            clip=old,
            shares={b: "0.9"},
            review_state=ReviewState.ADJUSTED,
            created_by=None,
            reason="Birch only",
        )

    figures = window_figures(label=label, today=today)
    assert figures == everything(label, today)
    assert figures["influence"] == {a.pk: (Decimal("0.5"), 1), b.pk: (Decimal("0.9"), 1)}


def test_a_review_outside_the_window_keeps_the_frozen_days(window, django_capture_on_commit_callbacks):
    label, partner, a, b, _old = window
    ancient = Clip.objects.get(label=label, created_at__lt=timezone.now() - timedelta(days=35))
    before = _generation(label.pk)

    with django_capture_on_commit_callbacks(execute=True):
        attribution_revise(
            clip=ancient, shares={a: "1"}, review_state=ReviewState.ADJUSTED, created_by=None, reason="Alder"
        )

    assert _generation(label.pk) == before


def test_the_frozen_days_are_read_from_the_cache(window, django_assert_max_num_queries):
    label, _partner, _a, _b, _old = window
    today = timezone.localdate()
    window_figures(label=label, today=today)

    with django_assert_max_num_queries(3):  # the live part only: received, attributed, shares
        window_figures(label=label, today=today)


def test_the_dashboard_shows_the_window(client, window):
    label, _partner, a, _b, _old = window
    client.force_login(member("rita", label))

    page = client.get("/royalties/dashboard/").content.decode()

    assert "Alder" in page and "1.10 over 2 clips" in page
