from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from catalog import selectors
from catalog.models import Recording, RecordingStatus
from catalog.tenancy import get_scoped_or_404, switch_label


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
    return render(
        request,
        "catalog/recording_detail.html",
        {
            "recording": recording,
            "history": selectors.recording_split_history(recording=recording),
            "in_force": selectors.splits_in_force(recording=recording, on=timezone.localdate()),
            "works": recording.works.all(),
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
