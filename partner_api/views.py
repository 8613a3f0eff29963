"""Partners pages for label staff: partners and their deals, API keys (shown once), webhooks and deliveries;
the label's own webhook endpoints (the Webhooks page) and their delivery log."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Partner, Role
from catalog.tenancy import require_role
from config.errors import StemmaError
from partner_api.models import (
    LABEL_EVENTS,
    ApiKey,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from partner_api.selectors import label_webhook_delivery_list, label_webhook_endpoint_list
from partner_api.services import (
    apikey_create,
    apikey_revoke,
    label_webhook_endpoint_create,
    label_webhook_endpoint_delete,
    label_webhook_endpoint_set_active,
)
from royalties.models import Deal


def _partners(request):
    """Partners this label deals with or has issued keys to."""
    if request.label is None:
        return Partner.objects.none()
    label = request.label
    return Partner.objects.filter(Q(deals__label=label) | Q(api_keys__label=label)).distinct()


def _partner_or_404(request, slug: str) -> Partner:
    partner = _partners(request).filter(slug=slug).first()
    if partner is None:
        raise Http404("No such partner for this label")
    return partner


@login_required
def partner_list(request):
    label = request.label
    partners = _partners(request).annotate(
        key_count=Count(
            "api_keys", filter=Q(api_keys__label=label, api_keys__revoked_at__isnull=True), distinct=True
        ),
        deal_count=Count("deals", filter=Q(deals__label=label), distinct=True),
        failing=Count(
            "webhook_endpoints__deliveries",
            filter=Q(
                webhook_endpoints__label=label, webhook_endpoints__deliveries__status=DeliveryStatus.FAILED
            ),
            distinct=True,
        ),
    )
    return render(
        request,
        "partner_api/partner_list.html",
        {"partners": partners, "all_partners": Partner.objects.all()},
    )


@login_required
def partner_detail(request, slug: str):
    partner = _partner_or_404(request, slug)
    label = request.label
    endpoints = WebhookEndpoint.objects.filter(partner=partner, label=label)
    deliveries = (
        WebhookDelivery.objects.filter(endpoint__in=endpoints)
        .select_related("endpoint")
        .order_by("-created_at")[:50]
    )
    return render(
        request,
        "partner_api/partner_detail.html",
        {
            "partner": partner,
            "deals": Deal.objects.filter(partner=partner, label=label).order_by("-effective_from"),
            "keys": ApiKey.objects.filter(partner=partner, label=label).select_related("created_by"),
            "endpoints": endpoints,
            "deliveries": deliveries,
            "new_key": request.session.pop("new_api_key", None),
            "is_admin": request.membership.allows(Role.ADMIN),
        },
    )


@login_required
@require_POST
def apikey_new(request):
    require_role(request, Role.ADMIN)
    partner = Partner.objects.filter(slug=request.POST.get("partner", "")).first()
    if partner is None:
        raise Http404("No such partner")
    try:
        created = apikey_create(
            label=request.label, partner=partner, name=request.POST.get("name", ""), created_by=request.user
        )
    except StemmaError as exc:
        messages.error(request, exc.message)
        return redirect("partners:partner-list")
    # Shown once on the next page, then gone: the session entry is popped when displayed.
    request.session["new_api_key"] = {"prefix": created.api_key.prefix, "key": created.raw_key}
    return redirect("partners:partner-detail", slug=partner.slug)


@login_required
@require_POST
def apikey_revoke_view(request, slug: str, prefix: str):
    require_role(request, Role.ADMIN)
    partner = _partner_or_404(request, slug)
    api_key = ApiKey.objects.filter(partner=partner, label=request.label, prefix=prefix).first()
    if api_key is None:
        raise Http404("No such key")
    apikey_revoke(api_key=api_key, revoked_by=request.user)
    messages.success(request, f"Key {prefix} revoked; requests with it are refused from now on.")
    return redirect("partners:partner-detail", slug=partner.slug)


# --- the label's own webhook endpoints -------------------------------------------------------------


def _label_endpoint_or_404(request, pk: int) -> WebhookEndpoint:
    """One of the current label's own endpoints; a partner's endpoint or another label's is a 404."""
    if request.label is None:
        raise Http404("No label")
    endpoint = label_webhook_endpoint_list(label=request.label).filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint")
    return endpoint


@login_required
def label_webhooks(request):
    """The label's endpoints and their delivery log; admins add, pause and remove endpoints."""
    error_code = ""
    if request.method == "POST":
        require_role(request, Role.ADMIN)
        try:
            endpoint = label_webhook_endpoint_create(
                label=request.label,
                url=request.POST.get("url", "").strip(),
                event_types=request.POST.getlist("event_types"),
                description=request.POST.get("description", ""),
                actor=request.user,
            )
        except StemmaError as exc:
            messages.error(request, exc.message)
            error_code = exc.code
        else:
            # Shown once on the next page, then gone (as API keys): the session entry is popped when shown.
            request.session["new_webhook_secret"] = {"id": endpoint.pk, "secret": endpoint.secret}
            return redirect("webhooks:label-webhooks")
    label = request.label
    endpoints = label_webhook_endpoint_list(label=label) if label else WebhookEndpoint.objects.none()
    deliveries = (
        label_webhook_delivery_list(label=label)
        .select_related("endpoint")
        .order_by("-created_at", "-id")[:50]
        if label
        else WebhookDelivery.objects.none()
    )
    return render(
        request,
        "partner_api/label_webhooks.html",
        {
            "endpoints": endpoints,
            "deliveries": deliveries,
            "events": [(e, WebhookEvent(e).label) for e in LABEL_EVENTS],
            "new_secret": request.session.pop("new_webhook_secret", None),
            "is_admin": request.membership is not None and request.membership.allows(Role.ADMIN),
            "error_code": error_code,
            "form": request.POST if error_code else {},
        },
        status=400 if error_code else 200,
    )


@login_required
@require_POST
def label_webhook_toggle(request, pk: int):
    require_role(request, Role.ADMIN)
    endpoint = _label_endpoint_or_404(request, pk)
    label_webhook_endpoint_set_active(endpoint=endpoint, active=not endpoint.is_active, actor=request.user)
    messages.success(request, f"{endpoint.url} {'resumed' if endpoint.is_active else 'paused'}.")
    return redirect("webhooks:label-webhooks")


@login_required
@require_POST
def label_webhook_delete(request, pk: int):
    require_role(request, Role.ADMIN)
    endpoint = _label_endpoint_or_404(request, pk)
    label_webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
    messages.success(request, f"{endpoint.url} removed, with its delivery log.")
    return redirect("webhooks:label-webhooks")
