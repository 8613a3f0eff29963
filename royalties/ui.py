"""What royalties adds to pages other apps own (see catalog.ui)."""

from django.db.models import Count, Sum

from catalog.ui import NavLink, Panel, register_nav_link, register_recording_panel


def recording_earnings(request, recording) -> dict:
    from royalties.models import StatementLine

    rows = (
        StatementLine.objects.filter(recording=recording, statement__period__label=recording.label)
        .values("statement__period__month", "currency")
        .annotate(amount=Sum("amount_exact"), lines=Count("id"), uses=Sum("usage_count"))
        .order_by("-statement__period__month", "currency")
    )
    return {"rows": list(rows)}


def register() -> None:
    register_nav_link(NavLink("Dashboard", "royalties:dashboard", 10))
    register_nav_link(NavLink("Royalties", "royalties:period-list", 50))
    register_recording_panel(Panel("Earnings", 60, "royalties/_recording_earnings.html", recording_earnings))
