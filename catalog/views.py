import mimetypes
from datetime import date

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.views.decorators.http import require_POST

from catalog import selectors, ui
from catalog.errors import AudioInvalid, ImportInvalid, SplitInvalid, SplitNewPartyUnconfirmed
from catalog.models import (
    AuditEvent,
    ImportJob,
    ImportKind,
    Membership,
    Party,
    Recording,
    RecordingStatus,
    RightType,
    Role,
)
from catalog.services import (
    SplitFormRow,
    import_job_create,
    member_invite,
    member_remove,
    member_role_set,
    recording_upload_audio,
    split_version_add,
)
from catalog.tenancy import get_scoped_or_404, require_role, scoped, switch_label
from config.errors import StemmaError
from config.http_range import ranged_file_response


@login_required
def recording_list(request):
    search, status = request.GET.get("q", ""), request.GET.get("status", "")
    recordings = (
        selectors.recording_list(label=request.label, search=search, status=status)
        if request.label
        else Recording.objects.none()
    )
    page = Paginator(recordings, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/recording_list.html",
        {"page": page, "q": search, "status": status, "statuses": RecordingStatus.choices},
    )


@login_required
def recording_detail(request, pk: int):
    recording = get_scoped_or_404(request, Recording.objects.all(), pk=pk)
    panels = [(panel, panel.context(request, recording)) for panel in ui.recording_panels]
    return render(
        request,
        "catalog/recording_detail.html",
        {
            "recording": recording,
            "history": selectors.recording_split_history(recording=recording),
            "in_force": selectors.splits_in_force(recording=recording, on=timezone.localdate()),
            "works": recording.works.all(),
            "panels": panels,
            "can_edit": request.membership.allows(Role.RIGHTS_MANAGER),
            "parties": Party.objects.for_label(request.label).order_by("name").only("name"),
            "form_rows": range(SPLIT_FORM_ROWS),
            "right_types": RightType.choices,
            "today": timezone.localdate(),
        },
    )


@login_required
def recording_audio(request, pk: int):
    """The recording's audio, streamed after the tenancy check (media is never served unauthenticated)."""
    recording = get_scoped_or_404(request, Recording.objects.all(), pk=pk)
    if not recording.audio:
        raise Http404("This recording has no audio.")
    name = recording.audio.name.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"  # a label's own upload
    try:
        handle = recording.audio.open("rb")
    except FileNotFoundError:
        raise Http404("This recording's audio file is missing.")
    return ranged_file_response(request, handle, content_type=content_type, filename=name)


@login_required
@require_POST
def recording_audio_upload(request, pk: int):
    require_role(request, Role.RIGHTS_MANAGER)
    recording = get_scoped_or_404(request, Recording.objects.all(), pk=pk)
    uploaded = request.FILES.get("audio")
    if uploaded is None:
        messages.error(request, "Choose an audio file to upload.")
    else:
        try:
            recording_upload_audio(recording=recording, uploaded=uploaded, actor=request.user)
            messages.success(request, f"Audio stored; {recording.isrc} is queued for fingerprinting.")
        except AudioInvalid as exc:
            messages.error(request, exc.message)
    return redirect("catalog:recording-detail", pk=recording.pk)


SPLIT_FORM_ROWS = 6


NEW_PARTY = "__new__"  # the split confirmation's choice "create a new party with the typed name"


def _split_form_rows(request) -> tuple[list[SplitFormRow], list[str]]:
    """The form's rows, with the confirmation step's choices applied: a near match picked instead of the
    typed name, or the typed name confirmed as a new party."""
    rows, new_parties = [], []
    for i in range(SPLIT_FORM_ROWS):
        name, share = request.POST.get(f"party_{i}", ""), request.POST.get(f"share_{i}", "")
        choice = request.POST.get(f"resolve_{i}", "")
        if choice == NEW_PARTY:
            new_parties.append(name.strip())
        elif choice:
            name = choice
        rows.append(SplitFormRow(party_name=name, share=share))
    return rows, new_parties


@login_required
@require_POST
def recording_split_add(request, pk: int):
    require_role(request, Role.RIGHTS_MANAGER)
    recording = get_scoped_or_404(request, Recording.objects.all(), pk=pk)
    rows, new_parties = _split_form_rows(request)
    try:
        effective_from = date.fromisoformat(request.POST.get("effective_from", ""))
        if request.POST.get("right_type") not in RightType.values:
            raise SplitInvalid("Choose master or publishing.")
        split_version_add(
            recording=recording,
            right_type=request.POST["right_type"],
            effective_from=effective_from,
            rows=rows,
            created_by=request.user,
            new_parties=new_parties,
        )
        created = (
            f"; new part{'ies' if len(new_parties) > 1 else 'y'} {', '.join(new_parties)}"
            if new_parties
            else ""
        )
        messages.success(
            request, f"New {request.POST['right_type']} split from {effective_from} saved{created}."
        )
    except ValueError:
        messages.error(request, "The effective date must be a date (YYYY-MM-DD).")
    except SplitNewPartyUnconfirmed as exc:
        unconfirmed = exc.fields["new_parties"]
        pending = [
            {"index": i, "name": row.party_name.strip(), "near": unconfirmed[row.party_name.strip()[:200]]}
            for i, row in enumerate(rows)
            if row.party_name.strip()[:200] in unconfirmed
        ]
        context = {
            "recording": recording,
            "rows": list(enumerate(rows)),
            "pending": pending,
            "right_type": request.POST.get("right_type", ""),
            "effective_from": request.POST.get("effective_from", ""),
            "new_party": NEW_PARTY,
        }
        return render(request, "catalog/split_confirm.html", context, status=409)
    except StemmaError as exc:
        messages.error(request, exc.message)
    return redirect("catalog:recording-detail", pk=recording.pk)


@login_required
def import_start(request):
    if request.method == "POST":
        require_role(request, Role.RIGHTS_MANAGER)
        kind = ImportKind.DDEX if "ddex_zip" in request.FILES else ImportKind.CSV
        uploaded = request.FILES.get("ddex_zip") or request.FILES.get("csv_file")
        if uploaded is None:
            messages.error(request, "Choose a CSV file, or a zip of a DDEX batch, to import.")
        else:
            try:
                job = import_job_create(
                    label=request.label,
                    created_by=request.user,
                    uploaded=uploaded,
                    skip_invalid=bool(request.POST.get("skip_invalid")),
                    kind=kind,
                )
                return redirect("catalog:import-detail", pk=job.pk)
            except ImportInvalid as exc:
                messages.error(request, exc.message)
    jobs = scoped(request, ImportJob.objects.select_related("created_by"))[:20]
    return render(request, "catalog/import_start.html", {"jobs": jobs})


@login_required
def import_detail(request, pk: int):
    job = get_scoped_or_404(request, ImportJob.objects.all(), pk=pk)
    template = (
        "catalog/_import_progress.html" if request.headers.get("HX-Request") else "catalog/import_detail.html"
    )
    return render(request, template, {"job": job})


@login_required
def import_rejects(request, pk: int):
    job = get_scoped_or_404(request, ImportJob.objects.all(), pk=pk)
    response = HttpResponse(job.rejects_csv, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejects.csv"'
    return response


@login_required
def audit_log(request):
    events = scoped(request, AuditEvent.objects.select_related("actor"))
    action, object_type, actor = (request.GET.get(k, "") for k in ("action", "object_type", "actor"))
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if actor:
        events = events.filter(actor__username=actor)
    choices = scoped(request, AuditEvent.objects.all())
    return render(
        request,
        "catalog/audit_log.html",
        {
            "page": Paginator(events, 50).get_page(request.GET.get("page")),
            "actions": choices.order_by("action").values_list("action", flat=True).distinct(),
            "object_types": choices.order_by("object_type").values_list("object_type", flat=True).distinct(),
            "filters": {"action": action, "object_type": object_type, "actor": actor},
        },
    )


@login_required
@require_POST
def label_switch(request):
    try:
        label_id = int(request.POST.get("label", ""))
    except ValueError:
        label_id = -1
    switch_label(request, label_id)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "catalog:recording-list"
    return redirect(target)


# --- members and invitations ------------------------------------------------------------------------


def _membership_or_404(request, pk: int) -> Membership:
    membership = Membership.objects.filter(label=request.label, pk=pk).select_related("user", "label").first()
    if membership is None:
        raise Http404("No such member")
    return membership


@login_required
def member_list(request):
    """The label's members and roles; admins invite, change roles and remove (catalog.services)."""
    require_role(request, Role.ADMIN)
    invitation_link = None
    if request.method == "POST":
        try:
            invitation = member_invite(
                label=request.label,
                email=request.POST.get("email", ""),
                role=request.POST.get("role", ""),
                invited_by=request.user,
            )
            user = invitation.membership.user
            if invitation.created_user or not user.has_usable_password():
                invitation_link = request.build_absolute_uri(
                    reverse("catalog:invite-accept", args=[invitation.uidb64, invitation.token])
                )
            messages.success(
                request, f"{user.username} is now {invitation.membership.get_role_display().lower()}."
            )
        except StemmaError as exc:
            messages.error(request, exc.message)
    members = Membership.objects.filter(label=request.label).select_related("user").order_by("user__username")
    return render(
        request,
        "catalog/members.html",
        {"members": members, "roles": Role.choices, "invitation_link": invitation_link},
    )


@login_required
@require_POST
def member_role(request, pk: int):
    require_role(request, Role.ADMIN)
    membership = _membership_or_404(request, pk)
    try:
        member_role_set(membership=membership, role=request.POST.get("role", ""), actor=request.user)
        messages.success(request, f"{membership.user.username}'s role changed.")
    except StemmaError as exc:
        messages.error(request, exc.message)
    return redirect("catalog:member-list")


@login_required
@require_POST
def member_remove_view(request, pk: int):
    require_role(request, Role.ADMIN)
    membership = _membership_or_404(request, pk)
    try:
        member_remove(membership=membership, actor=request.user)
        messages.success(request, f"{membership.user.username} removed from {membership.label.name}.")
    except StemmaError as exc:
        messages.error(request, exc.message)
    return redirect("catalog:member-list")


def invite_accept(request, uidb64: str, token: str):
    """An invitation link: the invited person sets a password, then signs in. The link is a password-reset
    token, so it stops working once a password is set."""
    User = get_user_model()
    try:
        user = User.objects.filter(pk=int(urlsafe_base64_decode(uidb64).decode())).first()
    except (ValueError, UnicodeDecodeError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "catalog/invite_accept.html", {"invalid": True}, status=400)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Password set. Sign in to continue.")
        return redirect("login")
    return render(request, "catalog/invite_accept.html", {"form": form, "invited": user})
