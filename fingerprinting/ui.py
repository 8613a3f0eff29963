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


def register() -> None:
    register_nav_link(NavLink("Clips", "fingerprinting:clip-list", 30))
    register_nav_link(NavLink("Review", "fingerprinting:review-queue", 35))
    register_recording_panel(
        Panel("Clips that drew on it", 50, "fingerprinting/_recording_clips.html", recording_clips)
    )
