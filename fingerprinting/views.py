"""Clips pages for label staff: list, clip page with the attribution and its evidence, review queue and actions."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.models import Partner, Recording, Role, Work
from catalog.tenancy import get_scoped_or_404, require_role, scoped
from config.errors import StemmaError
from config.http_range import ranged_file_response
from config.input_checks import text_problem
from config.pagination import ids_first_page
from fingerprinting import review
from fingerprinting.audio import sniff_format
from fingerprinting.models import Attribution, AttributionShare, Clip, ClipStatus, ReviewState, ShareRight
from fingerprinting.services import attribution_revise

REVIEW_STATES = (ReviewState.NEEDS_REVIEW, ReviewState.DISPUTED)
SHARE_COLOURS = [
    "#3856d6",
    "#1f8a4c",
    "#b86e00",
    "#8e44ad",
    "#c23b3b",
    "#16a2b8",
    "#6b7a00",
    "#d35400",
    "#2c3e50",
    "#7f8c8d",
]


def _clips(request):
    top_shares = Prefetch(
        "current_attribution__shares", queryset=AttributionShare.objects.select_related("recording")
    )
    return scoped(
        request, Clip.objects.select_related("partner", "current_attribution").prefetch_related(top_shares)
    )


@login_required
def clip_list(request):
    clips = _clips(request)
    filters = {k: request.GET.get(k, "") for k in ("status", "partner", "since", "until", "review")}
    if filters["status"] in ClipStatus.values:
        clips = clips.filter(status=filters["status"])
    if filters["partner"]:
        clips = clips.filter(partner__slug=filters["partner"])
    for key, lookup in (("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        try:
            if filters[key]:
                clips = clips.filter(**{lookup: date.fromisoformat(filters[key])})
        except ValueError:
            messages.error(request, f"{key} must be a date (YYYY-MM-DD)")
    if filters["review"] == "yes":
        clips = clips.filter(current_attribution__review_state__in=REVIEW_STATES)
    page = ids_first_page(clips, 50, request.GET.get("page"))
    # EXISTS per partner (few) rather than DISTINCT over the label's clips (many).
    partners = (
        Partner.objects.filter(Exists(Clip.objects.filter(partner=OuterRef("pk"), label=request.label)))
        if request.label
        else []
    )
    return render(
        request,
        "fingerprinting/clip_list.html",
        {"page": page, "filters": filters, "statuses": ClipStatus.choices, "partners": partners},
    )


@login_required
def review_queue(request):
    sort = request.GET.get("sort") if request.GET.get("sort") in review.SORTS else review.DEFAULT_SORT
    clips = review.review_queue(clips=_clips(request), sort=sort)
    page = Paginator(clips, 50).get_page(request.GET.get("page"))
    items = [
        {"clip": c, "reasons": review.review_reasons(c.current_attribution),
         "age_days": review.waiting_since(c.current_attribution)}
        for c in page
    ]  # fmt: skip
    can_review = request.membership is not None and request.membership.allows(Role.RIGHTS_MANAGER)
    return render(
        request,
        "fingerprinting/review_queue.html",
        {"page": page, "items": items, "sort": sort, "can_review": can_review},
    )


@login_required
@require_POST
def review_bulk_confirm(request):
    require_role(request, Role.RIGHTS_MANAGER)
    try:
        ids = sorted({int(v) for v in request.POST.getlist("clip")})
    except ValueError:
        ids = []
    if not ids or len(ids) > review.BULK_CONFIRM_MAX:
        messages.error(request, f"Select between 1 and {review.BULK_CONFIRM_MAX} clips to confirm.")
        return _back_to_queue(request)
    reason = (request.POST.get("reason") or "").strip() or "confirmed from the review queue"
    problem = text_problem(reason)
    if problem:
        messages.error(request, problem)
        return _back_to_queue(request)
    clips = list(_clips(request).filter(pk__in=ids))  # another label's ids are simply not found
    confirmed = review.attributions_confirm(clips=clips, created_by=request.user, reason=reason)
    skipped = len(ids) - len(confirmed)
    note = f"; {skipped} not confirmed (disputed, already decided or not found)" if skipped else ""
    messages.success(
        request, f"{len(confirmed)} attribution{'s' if len(confirmed) != 1 else ''} confirmed{note}."
    )
    return _back_to_queue(request)


def _back_to_queue(request):
    sort = request.POST.get("sort") if request.POST.get("sort") in review.SORTS else review.DEFAULT_SORT
    return redirect(f"{reverse('fingerprinting:review-queue')}?sort={sort}")


def _run_label(run: dict) -> str:
    if run.get("ber") is not None:
        how = f"bit error rate {run['ber']:.2f}"
    elif run.get("method") == "composition":
        transform = _transform_text(run)
        how = _composition_text(run) + (f", {transform}" if transform != "as is" else "")
    elif run.get("method") in ("spectral", "spectral_grid"):
        how = f"{run.get('peaks_present', 0)} recording peaks present (kappa {run.get('kappa', 0):.2f})"
        if run.get("semitones"):
            how += f", transposed {run['semitones']:+g} semitones"
        if run.get("tempo", 1.0) != 1.0:
            how += f", tempo x{run['tempo']:g}"
    else:
        how = f"{run.get('matches', 0)} landmark matches"
    if run.get("false_alarm") is not None:
        how += f"; chance in unrelated music {run['false_alarm']:.2g}"
    return f"{run['clip_start']:.1f}-{run['clip_end']:.1f} s = recording {run['rec_start']:.1f}-{run['rec_end']:.1f} s, {how}"


def _transform_text(run: dict) -> str:
    """The transform the run was found under, in words ("tempo x0.9, +1 semitone"), or "as is"."""
    parts = []
    if run.get("tempo", 1.0) not in (None, 1.0):
        parts.append(f"tempo x{run['tempo']:g}")
    if run.get("semitones"):
        parts.append(f"{run['semitones']:+g} semitone{'s' if abs(run['semitones']) != 1 else ''}")
    return ", ".join(parts) or "as is"


def _composition_text(run: dict) -> str:
    """A re-performance run: how well the notes follow the recording, which line matched, and how many of
    the clip's phrases follow it."""
    text = f"notes aligned (cosine {run.get('alignment', 0):.2f}, z {run.get('z', 0):.1f}, lead {run.get('lead', 0):.1f})"
    if run.get("matched"):
        text += f"; matched {run['matched']}"
    if run.get("upper_line"):
        text += f" ({run['upper_voices']:.1f} pitch classes at once)"
    if run.get("phrases"):
        text += f"; {run.get('phrases_agreeing', 0)} of {run['phrases']} phrases follow it"
    return text


def _strength_text(run: dict) -> str:
    """How strong the run is, in the lane's own terms and as the chance unrelated music matches so well."""
    if run.get("ber") is not None:
        strength = f"bit error rate {run['ber']:.2f}"
    elif run.get("method") == "composition":
        strength = _composition_text(run)
    elif run.get("kappa") is not None:
        strength = f"kappa {run['kappa']:.2f}" + (f", z {run['z']:.1f}" if run.get("z") is not None else "")
    else:
        strength = f"{run.get('matches', 0)} landmark matches"
    if run.get("false_alarm") is not None:
        strength += f"; chance in unrelated music {run['false_alarm']:.2g}"
    return strength


def _run_text(run: dict) -> dict:
    """A run as visible text and the seconds the players seek to (clip and recording)."""
    return {
        "label": _run_label(run),
        "method": run.get("method", "fingerprint"),
        "clip_start": float(run["clip_start"]),
        "clip_end": float(run["clip_end"]),
        "rec_start": float(run["rec_start"]),
        "rec_end": float(run["rec_end"]),
        "transform": _transform_text(run),
        "strength": _strength_text(run),
    }


def _window_label(window: dict) -> str:
    return (
        f"{window['clip_start']:.1f}-{window['clip_end']:.1f} s: z {window.get('z', 0):.1f} above the null, "
        f"similarity {window.get('similarity', 0):.2f}"
    )


def _evidence(share: AttributionShare) -> dict:
    """The engine's evidence for a share; a person's revision keeps it under "previous"."""
    evidence = share.evidence or {}
    if "verbatim" not in evidence and "style" not in evidence:
        evidence = evidence.get("previous") or {}
    return evidence


def _timeline(attribution: Attribution, shares: list[AttributionShare]) -> dict:
    """Rows of rectangles in percent of the clip's length: verbatim runs and style windows per recording."""
    duration = float(attribution.evidence.get("duration_seconds") or 0) or 1.0

    def span(item: dict) -> dict:
        return {
            "x": 100 * item["clip_start"] / duration,
            "w": 100 * (item["clip_end"] - item["clip_start"]) / duration,
        }

    rows = []
    for i, share in enumerate(shares):
        evidence = _evidence(share)
        runs = [span(r) | _run_text(r) for r in evidence.get("verbatim", {}).get("runs", [])]
        # Darker is further above the null: a z of 8 or more is full colour.
        windows = [
            span(w) | {"label": _window_label(w), "opacity": min(1.0, max(0.08, (w.get("z") or 0) / 8))}
            for w in evidence.get("style", {}).get("windows", [])
        ]
        rows.append(
            {
                "share": share,
                "colour": SHARE_COLOURS[i % len(SHARE_COLOURS)],
                "runs": runs,
                "windows": windows,
            }
        )
    step = max(1, int(duration) // 6)
    ticks = [{"x": 100 * t / duration, "t": t} for t in range(0, int(duration) + 1, step)]
    return {"rows": rows, "duration": duration, "ticks": ticks}


@login_required
def clip_detail(request, pk: int):
    clip = get_scoped_or_404(request, Clip.objects.select_related("partner", "current_attribution"), pk=pk)
    versions = clip.attributions.select_related("created_by").prefetch_related(
        Prefetch("shares", queryset=AttributionShare.objects.select_related("recording"))
    )
    current = clip.current_attribution
    shares = list(current.shares.select_related("recording")) if current else []
    # A composition share pays its recording's work (publishing); say when the catalog knows none.
    with_work = set(
        Work.recordings.through.objects.filter(recording_id__in=[s.recording_id for s in shares]).values_list(
            "recording_id", flat=True
        )
    )
    bar = [
        {
            "share": s,
            "evidence": _evidence(s),
            "percent": float(s.share) * 100,
            "colour": SHARE_COLOURS[i % len(SHARE_COLOURS)],
            "work_known": s.recording_id in with_work,
        }
        for i, s in enumerate(shares)
    ]
    return render(
        request,
        "fingerprinting/clip_detail.html",
        {
            "clip": clip,
            "current": current,
            "bar": bar,
            "remainder_percent": float(current.unattributed) * 100 if current else 100,
            "timeline": _timeline(current, shares) if current else None,
            "versions": versions,
            "can_review": request.membership.allows(Role.RIGHTS_MANAGER),
            "rights": ShareRight.choices,
        },
    )


# What a browser is told a stored clip is. The type comes from the bytes, sniffed again at serving time,
# never from a file name: a WAV/HTML polyglot uploaded as x.html is audio/wav here, and with nosniff the
# browser will not second-guess it into a page.
AUDIO_MIME_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "mp3": "audio/mpeg",
    "aiff": "audio/aiff",
    "mp4": "audio/mp4",
    "webm": "audio/webm",
}


@login_required
def clip_audio(request, pk: int):
    """The clip's audio: inline only as a verified audio type, anything else as an opaque download."""
    clip = get_scoped_or_404(request, Clip.objects.all(), pk=pk)
    if not clip.audio:
        raise Http404("This clip has no audio.")
    try:
        handle = clip.audio.open("rb")
    except FileNotFoundError:
        raise Http404("This clip's audio file is missing.")
    audio_format = sniff_format(handle.read(256))
    handle.seek(0)
    mime = AUDIO_MIME_TYPES.get(audio_format or "")
    download_name = f"clip-{clip.pk}.{audio_format or 'bin'}"
    response = ranged_file_response(
        request,
        handle,
        as_attachment=mime is None,
        filename=download_name,
        content_type=mime or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _posted_shares(request, clip: Clip) -> tuple[dict[Recording, str], dict[Recording, str]]:
    """The adjust form's shares and their rights by recording (a cleared field drops the recording).
    Numbers, their range, the sum and the rights are checked by `attribution_revise`, the one place
    those rules live."""
    recordings = Recording.objects.for_label(clip.label)
    wanted = [
        (key.removeprefix("share_"), value, request.POST.get(f"right_{key.removeprefix('share_')}", ""))
        for key, value in request.POST.items()
        if key.startswith("share_")
    ]
    isrc = (request.POST.get("new_isrc") or "").replace("-", "").strip().upper()
    if isrc:
        recording = recordings.filter(isrc=isrc).first()
        if recording is None:
            raise StemmaError(f"No recording with ISRC {isrc} in {clip.label}.", code="unknown_recording")
        wanted.append(
            (str(recording.pk), request.POST.get("new_share", ""), request.POST.get("new_right", ""))
        )
    by_id = {str(r.pk): r for r in recordings.filter(pk__in=[i for i, _, _ in wanted if i.isdigit()])}
    shares: dict[Recording, str] = {}
    rights: dict[Recording, str] = {}
    for recording_id, raw, right in wanted:
        if not raw.strip():
            continue
        if recording_id not in by_id:
            raise StemmaError(
                "A share names a recording that is not in this label's catalog.", code="unknown_recording"
            )
        shares[by_id[recording_id]] = raw.strip()
        if right:
            rights[by_id[recording_id]] = right
    return shares, rights


@login_required
@require_POST
def clip_review(request, pk: int):
    require_role(request, Role.RIGHTS_MANAGER)
    clip = get_scoped_or_404(request, Clip.objects.select_related("current_attribution"), pk=pk)
    current = clip.current_attribution
    if current is None:
        messages.error(request, "This clip has no attribution to review yet.")
        return redirect("fingerprinting:clip-detail", pk=clip.pk)
    action, reason = request.POST.get("action"), (request.POST.get("reason") or "").strip()
    try:
        for value in (reason, request.POST.get("new_isrc") or ""):
            problem = text_problem(value)
            if problem:
                raise StemmaError(problem, code="invalid")
        rights: dict[Recording, str] = {}  # confirm and dispute keep each share's right
        if action == "confirm":
            shares = {s.recording: s.share for s in current.shares.select_related("recording")}
            state, note = ReviewState.CONFIRMED, reason or "confirmed"
        elif action == "adjust":
            (shares, rights), state, note = _posted_shares(request, clip), ReviewState.ADJUSTED, reason
        elif action == "dispute":
            shares = {s.recording: s.share for s in current.shares.select_related("recording")}
            state, note = ReviewState.DISPUTED, reason
        else:
            raise StemmaError("Unknown review action.", code="invalid_action")
        revised = attribution_revise(
            clip=clip, shares=shares, rights=rights, review_state=state, created_by=request.user, reason=note
        )
        messages.success(
            request, f"Version {revised.version} saved ({revised.get_review_state_display().lower()})."
        )
    except StemmaError as exc:
        messages.error(request, exc.message)
    return redirect("fingerprinting:clip-detail", pk=clip.pk)
