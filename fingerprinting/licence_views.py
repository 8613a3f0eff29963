"""The label's list of uses outside the licence, and its CSV report per period."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from config.csv_export import csv_dicts
from fingerprinting.licence import CSV_COLUMNS, unlicensed_uses, unlicensed_uses_csv_rows
from fingerprinting.models import UnlicensedUse


def _month(raw: str):
    from datetime import date

    try:
        year, month = raw.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        return None


@login_required
def unlicensed_list(request):
    month = _month(request.GET.get("period", ""))
    uses = (
        unlicensed_uses(label=request.label, month=month) if request.label else UnlicensedUse.objects.none()
    )
    if request.GET.get("format") == "csv":
        name = f"unlicensed-uses-{request.label.slug}-{month:%Y-%m}.csv" if month else "unlicensed-uses.csv"
        response = HttpResponse(
            csv_dicts(unlicensed_uses_csv_rows(uses), fieldnames=CSV_COLUMNS),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return render(
        request,
        "fingerprinting/unlicensed_list.html",
        {
            "page": Paginator(uses, 50).get_page(request.GET.get("page")),
            "period": request.GET.get("period", ""),
        },
    )
