"""Web pages for consent: the recording page's panel, the party page and the label's default policy.

Kept apart from catalog/views.py so the consent pages read as one piece; thin views over
`catalog.consent` (the rule and the writer)."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from catalog.consent import consent_history, consent_resolve, consent_resolve_party, consent_set
from catalog.models import ConsentState, ConsentUse, Partner, Party, Recording, Role, Split, SplitShare
from catalog.tenancy import get_scoped_or_404, require_role
from catalog.voice import voice_model_register
from config.errors import StemmaError

RECORDING_USES = [ConsentUse.TRAINING, ConsentUse.CONDITIONING]  # voice is a party's, not a recording's


def _form_context(request: HttpRequest, uses) -> dict:
    return {
        "uses": [(u, ConsentUse(u).label) for u in uses],
        "states": ConsentState.choices,
        "today": timezone.localdate(),
        "can_edit": request.membership is not None and request.membership.allows(Role.RIGHTS_MANAGER),
    }


def recording_consent_panel(request: HttpRequest, recording: Recording) -> dict:
    today = timezone.localdate()
    parties = Party.objects.filter(
        split_shares__in=SplitShare.objects.filter(
            split__in=Split.objects.filter(recording=recording).in_force(on=today)
        )
    ).distinct()
    return {
        "answers": [
            (ConsentUse(u).label, consent_resolve(recording=recording, use=u, on=today))
            for u in RECORDING_USES
        ],
        "history": consent_history(label=recording.label, recording=recording),
        "parties": parties,
        **_form_context(request, RECORDING_USES),
    }


def _consent_from_post(request: HttpRequest, **subject) -> None:
    require_role(request, Role.RIGHTS_MANAGER)
    try:
        effective_from = date.fromisoformat(request.POST.get("effective_from", ""))
    except ValueError:
        messages.error(request, "The effective date must be a date (YYYY-MM-DD).")
        return
    try:
        consent = consent_set(
            label=request.label,
            use=request.POST.get("use", ""),
            state=request.POST.get("state", ""),
            effective_from=effective_from,
            reason=request.POST.get("reason", "").strip(),
            actor=request.user,
            **subject,
        )
        messages.success(request, f"Saved: {consent}.")
    except StemmaError as exc:
        messages.error(request, exc.message)


@login_required
@require_POST
def recording_consent_add(request, pk: int):
    recording = get_scoped_or_404(request, Recording.objects.all(), pk=pk)
    _consent_from_post(request, recording=recording)
    return redirect("catalog:recording-detail", pk=recording.pk)


@login_required
def party_detail(request, pk: int):
    party = get_scoped_or_404(request, Party.objects.all(), pk=pk)
    error_code = ""
    if request.method == "POST":
        if request.POST.get("form") != "voice_model":
            _consent_from_post(request, party=party)
            return redirect("catalog:party-detail", pk=party.pk)
        error_code = _voice_model_from_post(request, party)
        if not error_code:
            return redirect("catalog:party-detail", pk=party.pk)
    today = timezone.localdate()
    recordings = Recording.objects.filter(splits__shares__party=party).distinct().order_by("title")
    return render(
        request,
        "catalog/party_detail.html",
        {
            "party": party,
            "answers": [
                (ConsentUse(u).label, consent_resolve_party(party=party, use=u, on=today)) for u in ConsentUse
            ],
            "history": consent_history(label=party.label, party=party),
            "recordings": recordings[:200],
            "voice_models": party.voice_models.select_related("partner"),
            "partners": Partner.objects.order_by("name"),
            "error_code": error_code,
            **_form_context(request, ConsentUse.values),
        },
        # Bad voice model terms answer 400 with the form and the error's code (data-error-code).
        status=400 if error_code else 200,
    )


def _voice_model_from_post(request: HttpRequest, party: Party) -> str:
    """Register a voice model from the party page's form: "" when registered, else the error's code."""
    require_role(request, Role.RIGHTS_MANAGER)
    partner = Partner.objects.filter(pk=request.POST.get("partner") or 0).first()
    try:
        effective_from = date.fromisoformat(request.POST.get("effective_from", ""))
    except ValueError:
        messages.error(request, "The effective date must be a date (YYYY-MM-DD).")
        return "invalid_date"
    if partner is None:
        messages.error(request, "Choose the partner that runs the voice model.")
        return "partner_required"
    terms = request.POST.get("terms", "pool_share")
    try:
        model = voice_model_register(
            label=request.label, party=party, partner=partner, name=request.POST.get("name", ""),
            pool_share=request.POST.get("pool_share", "") if terms == "pool_share" else None,
            rate_per_use=request.POST.get("rate_per_use", "") if terms == "rate_per_use" else None,
            rate_currency=request.POST.get("rate_currency", ""), effective_from=effective_from, actor=request.user,
        )  # fmt: skip
    except StemmaError as exc:
        messages.error(request, exc.message)
        return exc.code
    messages.success(request, f"Voice model {model.name} registered (id {model.pk}): {model.terms}.")
    return ""


@login_required
def label_consent(request):
    """The label's default policy per use: what a party or recording without its own choice answers."""
    if request.method == "POST":
        _consent_from_post(request)
        return redirect("catalog:label-consent")
    return render(
        request,
        "catalog/label_consent.html",
        {
            "history": consent_history(label=request.label) if request.label else [],
            **_form_context(request, ConsentUse.values),
        },
    )
