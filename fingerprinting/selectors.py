"""Functions that read attribution state."""

from django.db.models import Prefetch, QuerySet

from catalog.models import Label
from fingerprinting import index as catalog_index
from fingerprinting.models import Attribution, AttributionShare, Clip, IndexVersion


def attribution_current(*, clip: Clip) -> Attribution | None:
    if clip.current_attribution_id is None:
        return None
    return (
        Attribution.objects.prefetch_related(
            Prefetch("shares", queryset=AttributionShare.objects.select_related("recording").order_by("rank"))
        )
        .filter(pk=clip.current_attribution_id)
        .first()
    )


def attribution_history(*, clip: Clip) -> QuerySet[Attribution]:
    return Attribution.objects.filter(clip=clip).order_by("-version").prefetch_related("shares__recording")


def index_version_current(*, label: Label) -> IndexVersion | None:
    return IndexVersion.objects.filter(label=label, is_current=True).first()


def index_files_version(*, label: Label) -> str | None:
    """The version workers will load (the on-disk CURRENT pointer)."""
    return catalog_index.current_version(label.pk)


def clips_needing_review(*, label: Label) -> QuerySet[Clip]:
    return Clip.objects.filter(label=label, current_attribution__review_state="needs_review").select_related(
        "current_attribution"
    )
