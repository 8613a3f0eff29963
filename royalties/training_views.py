"""The label's view of training: the manifest preview per partner, and who downloaded a recording."""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from catalog.consent import consent_resolve
from catalog.models import ConsentUse, Partner, Recording
from catalog.tenancy import scoped
from royalties.manifest import licensed_recordings
from royalties.models import Deal, TrainingDownload, TrainingManifest


@login_required
def training_preview(request):
    """What each partner with a deal would get in its manifest on a date (nothing is issued)."""
    try:
        on = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        on = timezone.localdate()
    partners = (
        Partner.objects.filter(deals__in=scoped(request, Deal.objects.all())).distinct().order_by("name")
        if request.label
        else Partner.objects.none()
    )
    previews = [
        (partner, licensed_recordings(label=request.label, partner=partner, on=on)) for partner in partners
    ]
    return render(
        request,
        "royalties/training_preview.html",
        {
            "on": on,
            "previews": previews,
            "manifests": scoped(request, TrainingManifest.objects.select_related("partner"))[:20],
        },
    )


def recording_training_panel(request, recording: Recording) -> dict:
    """Who downloaded the recording for training, and whether that was before its training consent was
    withdrawn (the opt-out version in force today, if any)."""
    answer = consent_resolve(recording=recording, use=ConsentUse.TRAINING, on=timezone.localdate())
    withdrawn_from = (
        min((c.effective_from for c in answer.deciding), default=None) if not answer.allowed else None
    )
    downloads = TrainingDownload.objects.filter(recording=recording).select_related("partner")[:100]
    return {
        "answer": answer,
        "withdrawn_from": withdrawn_from,
        "downloads": [
            (d, withdrawn_from is not None and d.downloaded_at.date() < withdrawn_from) for d in downloads
        ],
    }
