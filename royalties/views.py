"""Royalties pages: periods and their close, statements, payout batches. Thin: parse, call a service, render."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from catalog.models import Role
from catalog.tenancy import require_role, scoped
from config.errors import StemmaError
from royalties import exports, selectors
from royalties.dashboard import dashboard as royalties_dashboard
from royalties.models import PayoutBatch, PayoutLine, Period, PeriodStatus, Statement
from royalties.periods import month_of, parse_period
from royalties.reconcile import period_reconcile
from royalties.services import payout_batch_create, payout_batch_mark_paid, payout_line_void
from royalties.tasks import period_close_task


@login_required
def dashboard(request):
    if request.label is None:
        return render(request, "royalties/dashboard.html", {"no_label": True})
    return render(request, "royalties/dashboard.html", royalties_dashboard(label=request.label))


def _period_or_404(request, code: str) -> Period:
    try:
        month = parse_period(code)
    except (ValueError, StemmaError):
        raise Http404("No such period")
    period = scoped(request, Period.objects.all()).filter(month=month).first()
    if period is None:
        # A month nobody has reported into yet is an open period without a row.
        if month > month_of(timezone.localdate()):
            raise Http404("That month has not begun")
        period = Period(label=request.label, month=month, status=PeriodStatus.OPEN)
    return period


def _statements(request):
    return (
        Statement.objects.filter(period__label=request.label) if request.label else Statement.objects.none()
    )


@login_required
def period_list(request):
    periods = list(scoped(request, Period.objects.all()).annotate(statement_count=Count("statements")))
    this_month = month_of(timezone.localdate())
    if request.label and all(p.month != this_month for p in periods):
        periods.insert(0, Period(label=request.label, month=this_month, status=PeriodStatus.OPEN))
    return render(request, "royalties/period_list.html", {"periods": periods, "today": timezone.localdate()})


@login_required
def period_detail(request, code: str):
    period = _period_or_404(request, code)
    reconciliation = None
    statements = Statement.objects.none()
    if period.pk and period.status == PeriodStatus.CLOSED:
        reconciliation = period_reconcile(label=request.label, period=period.month)
        statements = selectors.statements_for_period(label=request.label, period=period.month).select_related(
            "party"
        )
    context = {
        "period": period,
        "reconciliation": reconciliation,
        "statements": statements,
        "totals": statements.values("currency").annotate(
            earnings=Sum("earnings"), closing=Sum("closing_balance")
        ),
        "can_close": period.status != PeriodStatus.CLOSED
        and period.end < timezone.localdate()
        and request.membership.allows(Role.ADMIN),
    }
    if request.headers.get("HX-Request"):
        return render(request, "royalties/_period_status.html", context)
    return render(request, "royalties/period_detail.html", context)


@login_required
def period_close_confirm(request, code: str):
    require_role(request, Role.ADMIN)
    period = _period_or_404(request, code)
    if request.method == "POST":
        if period.end >= timezone.localdate():
            messages.error(
                request, f"{period.code} has not ended yet; it can be closed from {period.end} on."
            )
        elif request.POST.get("confirm") != period.code:
            messages.error(request, f"Type {period.code} to confirm the close.")
            return render(request, "royalties/period_close_confirm.html", {"period": period})
        else:
            label_id, month, user_id = request.label.pk, f"{period.month:%Y-%m}", request.user.pk
            transaction.on_commit(lambda: period_close_task.delay(label_id, month, user_id))
            messages.success(request, f"Closing {period.code}. This page updates when it is done.")
        return redirect("royalties:period-detail", code=period.code)
    return render(request, "royalties/period_close_confirm.html", {"period": period})


@login_required
def statement_detail(request, number: str):
    statement = _statements(request).select_related("party", "period").filter(number=number).first()
    if statement is None:
        raise Http404("No such statement")
    lines = selectors.statement_lines(statement=statement).select_related("recording", "partner", "clip")
    return render(request, "royalties/statement_detail.html", {"statement": statement, "lines": lines})


@login_required
def statement_download(request, number: str, fmt: str):
    if fmt not in ("csv", "pdf"):
        raise Http404("Statements download as csv or pdf")
    statement = (
        _statements(request).select_related("party", "period", "period__label").filter(number=number).first()
    )
    if statement is None:
        raise Http404("No such statement")
    if fmt == "csv":
        response = HttpResponse(exports.statement_csv(statement), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(exports.statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{statement.number}.{fmt}"'
    return response


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
    response = HttpResponse(exports.payout_batch_csv(batch), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="payout-batch-{batch.pk}.csv"'
    return response


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
