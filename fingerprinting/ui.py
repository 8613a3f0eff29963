"""What fingerprinting adds to the web UI: navigation, and the clips that drew on a recording (see catalog.ui)."""

from catalog.ui import NavLink, Panel, register_nav_link, register_recording_panel

RECORDING_PANEL_LIMIT = 20


def recording_clips(request, recording) -> dict:
    from django.db.models import F

    from fingerprinting.models import AttributionShare

    # Only current versions: a share that a later review removed no longer draws on the recording.
    shares = (
        AttributionShare.objects.filter(
            recording=recording, attribution__clip__current_attribution=F("attribution")
        )
        .select_related("attribution__clip__partner")
        .order_by("-share", "-attribution__created_at")[:RECORDING_PANEL_LIMIT]
    )
    return {"shares": list(shares)}


def recording_near_duplicates(request, recording) -> dict:
    """The recordings the current index holds as the same audio (engine near-duplicate groups)."""
    from catalog.models import Recording
    from fingerprinting.models import IndexVersion

    version = IndexVersion.objects.filter(label_id=recording.label_id, is_current=True).first()
    group = next(
        (
            g
            for g in (version.near_duplicates if version else [])
            if recording.pk in g.get("recording_ids", [])
        ),
        None,
    )
    others = [rid for rid in (group or {}).get("recording_ids", []) if rid != recording.pk]
    named = min((group or {}).get("recording_ids", [recording.pk]))
    return {
        "others": list(Recording.objects.filter(label_id=recording.label_id, pk__in=others).order_by("pk")),
        "named": named,
        "is_named": named == recording.pk,
    }


def register() -> None:
    register_nav_link(NavLink("Clips", "fingerprinting:clip-list", 30))
    register_nav_link(NavLink("Review", "fingerprinting:review-queue", 35))
    register_recording_panel(
        Panel("Clips that drew on it", 50, "fingerprinting/_recording_clips.html", recording_clips)
    )
    register_recording_panel(
        Panel(
            "Same audio in the catalog",
            45,
            "fingerprinting/_recording_near_duplicates.html",
            recording_near_duplicates,
        )
    )
