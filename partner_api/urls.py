from django.urls import path, re_path

from partner_api import apis

app_name = "partner_api"
urlpatterns = [
    path("clips", apis.ClipCollectionApi.as_view(), name="clip-list"),
    path("clips/<int:clip_id>", apis.ClipDetailApi.as_view(), name="clip-detail"),
    path("clips/<int:clip_id>/attribution", apis.ClipAttributionApi.as_view(), name="clip-attribution"),
    path("clips/<int:clip_id>/attributions", apis.ClipAttributionListApi.as_view(), name="clip-attributions"),
    path("usage", apis.UsageBatchApi.as_view(), name="usage-batch"),
    path("usage/reports", apis.UsageReportCreateApi.as_view(), name="usage-report-create"),
    path("usage/reports/<int:report_id>", apis.UsageReportDetailApi.as_view(), name="usage-report-detail"),
    path("settlements", apis.SettlementListApi.as_view(), name="settlement-list"),
    path("consent", apis.RecordingConsentApi.as_view(), name="consent"),
    path("training-manifest", apis.TrainingManifestApi.as_view(), name="training-manifest"),
    path(
        "training-manifest/<int:manifest_id>/recordings/<str:isrc>/audio",
        apis.TrainingDownloadApi.as_view(),
        name="training-download",
    ),
    path("webhooks", apis.WebhookEndpointCollectionApi.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>", apis.WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:endpoint_id>/deliveries",
        apis.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    # Anything else under /api/v1/ (an unknown path, a non-numeric id) is a 404 in the error shape too.
    re_path(r"^[\s\S]*$", apis.unknown_path, name="unknown"),
]
