"""Web pages of the royalties app: periods with their reconciliation, statement and settlement exports.

Thin: each view checks the tenant (catalog.tenancy), calls one selector or service, shapes the answer.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from catalog.tenancy import get_scoped_or_404, scoped
from royalties.exports import settlement_csv, statement_csv, statement_pdf
from royalties.models import PartnerSettlement, Period, PeriodStatus, Statement
from royalties.reconcile import period_reconcile


@login_required
def period_list(request):
    periods = scoped(request, Period.objects.all()).order_by("-month")
    return render(request, "royalties/period_list.html", {"periods": periods})


@login_required
def period_detail(request, pk: int):
    period = get_scoped_or_404(request, Period.objects.select_related("label"), pk=pk)
    report = (
        period_reconcile(label=period.label, period=period.month)
        if period.status == PeriodStatus.CLOSED
        else None
    )
    return render(
        request,
        "royalties/period_detail.html",
        {
            "period": period,
            "report": report,
            "statements": period.statements.select_related("party").order_by("number"),
            "settlements": period.settlements.select_related("partner").order_by("partner__name", "currency"),
        },
    )


def _statement(request, pk: int) -> Statement:
    if request.label is None:
        raise Http404("No statement matches the given query.")
    try:
        return Statement.objects.select_related("period__label", "party").get(
            pk=pk, period__label=request.label
        )
    except Statement.DoesNotExist:
        raise Http404("No statement matches the given query.")


@login_required
def statement_download_csv(request, pk: int):
    statement = _statement(request, pk)
    response = HttpResponse(statement_csv(statement), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{statement.number}.csv"'
    return response


@login_required
def statement_download_pdf(request, pk: int):
    statement = _statement(request, pk)
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{statement.number}.pdf"'
    return response


@login_required
def settlement_download_csv(request, pk: int):
    if request.label is None:
        raise Http404("No settlement matches the given query.")
    try:
        settlement = PartnerSettlement.objects.select_related("period__label", "partner").get(
            pk=pk, period__label=request.label
        )
    except PartnerSettlement.DoesNotExist:
        raise Http404("No settlement matches the given query.")
    response = HttpResponse(settlement_csv(settlement), content_type="text/csv; charset=utf-8")
    name = f"settlement-{settlement.partner.slug}-{settlement.period.code}-{settlement.currency}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
