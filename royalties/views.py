"""Royalties pages: periods and their close, statements, payout batches. Thin: parse, call a service, render."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from catalog.models import Recording, Role
from catalog.tenancy import require_role, scoped
from config.celery import enqueue_on_commit
from config.errors import StemmaError
from royalties import exports, selectors
from royalties.dashboard import dashboard as royalties_dashboard
from royalties.forms import DealForm
from royalties.models import PartnerSettlement, PayoutBatch, PayoutLine, Period, PeriodStatus, Statement
from royalties.month import PARTIES_SHOWN, period_month
from royalties.reconcile import period_reconcile
from royalties.services import (
    deal_start,
    payout_batch_create,
    payout_batch_mark_paid,
    payout_line_void,
    period_close_blocker,
)
from royalties.tasks import period_close_task


@login_required
def dashboard(request):
    if request.label is None:
        return render(request, "royalties/dashboard.html", {"no_label": True})
    if not Recording.objects.filter(label=request.label).exists():
        return render(request, "royalties/first_run.html", {"label": request.label})
    return render(request, "royalties/dashboard.html", royalties_dashboard(label=request.label))


def _period_or_404(request, pk: int) -> Period:
    period = scoped(request, Period.objects.select_related("label", "closed_by")).filter(pk=pk).first()
    if period is None:
        raise Http404("No such period")
    return period


def _statements(request):
    return (
        Statement.objects.filter(period__label=request.label) if request.label else Statement.objects.none()
    )


@login_required
def period_list(request):
    # Usage lines are counted by the close into its settlements; a subquery, not a second join, so the
    # statement count is not multiplied by the settlements.
    usage_lines = (
        PartnerSettlement.objects.filter(period=OuterRef("pk"))
        .values("period")
        .annotate(n=Sum("line_count"))
        .values("n")
    )
    periods = (
        scoped(request, Period.objects.select_related("closed_by"))
        .annotate(
            statement_count=Count("statements"),
            usage_lines=Coalesce(Subquery(usage_lines, output_field=IntegerField()), 0),
        )
        .order_by("-month")
    )
    return render(request, "royalties/period_list.html", {"periods": periods, "today": timezone.localdate()})


@login_required
def period_detail(request, pk: int):
    period = _period_or_404(request, pk)
    month = None
    if period.status == PeriodStatus.CLOSED:
        month = period_month(
            period=period, parties=None if request.GET.get("parties") == "all" else PARTIES_SHOWN
        )
    context = {
        "period": period,
        "month": month,
        "settlements": period.settlements.select_related("partner").order_by("partner__name", "currency"),
        "held_outside_licence": selectors.period_held_outside_licence(period=period),
        "can_close": period.status != PeriodStatus.CLOSED
        and period.end < timezone.localdate()
        and request.membership.allows(Role.ADMIN),
    }
    if request.headers.get("HX-Request"):
        return render(request, "royalties/_period_status.html", context)
    return render(request, "royalties/period_detail.html", context)


@login_required
def period_reconciliation(request, pk: int):
    """The period page's reconciliation (royalties.reconcile), loaded after the page: it recomputes the
    month from every usage line and the ledger, which is the point of it and too slow to hold the page."""
    period = _period_or_404(request, pk)
    if period.status != PeriodStatus.CLOSED:
        raise Http404("The period is not closed")
    report = period_reconcile(label=request.label, period=period.month)
    return render(request, "royalties/_reconciliation.html", {"reconciliation": report})


@login_required
def period_month_csv(request, pk: int):
    period = _period_or_404(request, pk)
    if period.status != PeriodStatus.CLOSED:
        raise Http404("The period is not closed")
    body = exports.period_month_csv(period_month(period=period, held=False))  # it streams every held clip
    return _attachment(body, "text/csv; charset=utf-8", f"month-{period.label.slug}-{period.code}.csv")


@login_required
def deal_new(request):
    """New terms with a partner from a date (royalties.services.deal_start); deals are never edited."""
    require_role(request, Role.ADMIN)
    form = DealForm(request.POST or None, initial={"currency": request.label.default_currency})
    if request.method == "POST" and form.is_valid():
        try:
            deal = deal_start(label=request.label, created_by=request.user, **form.terms())
            messages.success(request, f"Deal with {deal.partner.name} from {deal.effective_from} saved.")
            return redirect("partners:partner-detail", slug=deal.partner.slug)
        except StemmaError as exc:
            messages.error(request, exc.message)
    return render(request, "royalties/deal_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def period_close_confirm(request, pk: int):
    require_role(request, Role.ADMIN)
    period = _period_or_404(request, pk)
    if request.method == "POST":
        blocker = period_close_blocker(label=request.label, month=period.month)
        if blocker and period.status == PeriodStatus.OPEN:
            messages.error(request, f"{period.code} cannot be closed now: {blocker}.")
        elif request.POST.get("confirm") != period.code:
            messages.error(request, f"Type {period.code} to confirm the close.")
            return render(request, "royalties/period_close_confirm.html", {"period": period})
        else:
            label_id, month, user_id = request.label.pk, f"{period.month:%Y-%m}", request.user.pk
            enqueue_on_commit(period_close_task, label_id, month, user_id)
            messages.success(request, f"Closing {period.code}. This page updates when it is done.")
        return redirect("royalties:period-detail", pk=period.pk)
    return render(request, "royalties/period_close_confirm.html", {"period": period})


def _statement_or_404(request, pk: int) -> Statement:
    statement = _statements(request).select_related("party", "period", "period__label").filter(pk=pk).first()
    if statement is None:
        raise Http404("No such statement")
    return statement


@login_required
def statement_detail(request, pk: int):
    statement = _statement_or_404(request, pk)
    lines = selectors.statement_lines(statement=statement).select_related("recording", "partner", "clip")
    held = selectors.statement_held(statement=statement)
    return render(
        request,
        "royalties/statement_detail.html",
        {"statement": statement, "lines": lines, "held": held, "held_totals": selectors.held_totals(held)},
    )


def _attachment(body, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def statement_download_csv(request, pk: int):
    statement = _statement_or_404(request, pk)
    return _attachment(exports.statement_csv(statement), "text/csv; charset=utf-8", f"{statement.number}.csv")


@login_required
def statement_download_pdf(request, pk: int):
    statement = _statement_or_404(request, pk)
    return _attachment(exports.statement_pdf(statement), "application/pdf", f"{statement.number}.pdf")


@login_required
def settlement_download_csv(request, pk: int):
    settlement = (
        PartnerSettlement.objects.filter(period__label=request.label, pk=pk)
        .select_related("period", "partner")
        .first()
        if request.label
        else None
    )
    if settlement is None:
        raise Http404("No such settlement")
    name = f"settlement-{settlement.partner.slug}-{settlement.period.code}-{settlement.currency}.csv"
    return _attachment(exports.settlement_csv(settlement), "text/csv; charset=utf-8", name)


@login_required
def payout_list(request):
    batches = scoped(request, PayoutBatch.objects.all()).annotate(
        line_count=Count("lines"), total=Sum("lines__amount")
    )
    return render(
        request,
        "royalties/payout_list.html",
        {"batches": batches, "currency": request.label.default_currency if request.label else ""},
    )


@login_required
@require_POST
def payout_batch_new(request):
    require_role(request, Role.ADMIN)
    currency = (request.POST.get("currency") or "").upper()[:3]
    batch = payout_batch_create(label=request.label, currency=currency, created_by=request.user)
    if batch is None:
        messages.info(request, f"No closed statement in {currency} is due for payment.")
        return redirect("royalties:payout-list")
    return redirect("royalties:payout-detail", pk=batch.pk)


def _batch_or_404(request, pk: int) -> PayoutBatch:
    batch = scoped(request, PayoutBatch.objects.all()).filter(pk=pk).first()
    if batch is None:
        raise Http404("No such payout batch")
    return batch


@login_required
def payout_detail(request, pk: int):
    batch = _batch_or_404(request, pk)
    lines = batch.lines.select_related("party", "statement")
    return render(request, "royalties/payout_detail.html", {"batch": batch, "lines": lines})


@login_required
def payout_export(request, pk: int):
    batch = _batch_or_404(request, pk)
    return _attachment(
        exports.payout_batch_csv(batch), "text/csv; charset=utf-8", f"payout-batch-{batch.pk}.csv"
    )


@login_required
@require_POST
def payout_mark_paid(request, pk: int):
    require_role(request, Role.ADMIN)
    batch = _batch_or_404(request, pk)
    try:
        paid_on = date.fromisoformat(request.POST.get("paid_on") or timezone.localdate().isoformat())
        payout_batch_mark_paid(batch=batch, paid_on=paid_on)
        messages.success(request, f"Batch {batch.pk} marked paid on {paid_on}.")
    except ValueError:
        messages.error(request, "The payment date must be YYYY-MM-DD.")
    except StemmaError as exc:
        messages.error(request, exc.message)
    return redirect("royalties:payout-detail", pk=batch.pk)


@login_required
@require_POST
def payout_line_void_view(request, pk: int, line_pk: int):
    require_role(request, Role.ADMIN)
    batch = _batch_or_404(request, pk)
    line = PayoutLine.objects.filter(batch=batch, pk=line_pk).first()
    if line is None:
        raise Http404("No such payout line")
    reason = (request.POST.get("reason") or "").strip()
    if not reason:
        messages.error(request, "Say why the line is voided.")
    else:
        try:
            payout_line_void(line=line, reason=reason)
            messages.success(request, f"Line for {line.party} voided.")
        except StemmaError as exc:
            messages.error(request, exc.message)
    return redirect("royalties:payout-detail", pk=batch.pk)
