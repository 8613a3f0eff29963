"""Reads of the catalog: lists and aggregates for views and APIs."""

from datetime import date

from django.db.models import Count, Prefetch, QuerySet

from catalog.models import Label, Recording, RecordingQuerySet, Split, SplitQuerySet, SplitShare


def recording_list(*, label: Label, search: str = "", status: str = "") -> RecordingQuerySet:
    recordings = Recording.objects.for_label(label).search(search)
    if status:
        recordings = recordings.filter(status=status)
    return recordings.annotate(split_count=Count("splits", distinct=True)).order_by("title", "id")


def recording_split_history(*, recording: Recording) -> SplitQuerySet:
    """Every split version of a recording, newest first, with its shares and parties."""
    return (
        Split.objects.filter(recording=recording)
        .order_by("right_type", "-effective_from")
        .prefetch_related(Prefetch("shares", queryset=SplitShare.objects.select_related("party")))
    )


def splits_in_force(*, recording: Recording, on: date) -> QuerySet[Split]:
    return recording_split_history(recording=recording).in_force(on=on)
