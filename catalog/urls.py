from django.urls import path

from catalog import consent_views, views

app_name = "catalog"
urlpatterns = [
    path("recordings/", views.recording_list, name="recording-list"),
    path("recordings/<int:pk>/", views.recording_detail, name="recording-detail"),
    path("recordings/<int:pk>/audio.bin", views.recording_audio, name="recording-audio"),
    path("recordings/<int:pk>/audio/", views.recording_audio_upload, name="recording-audio-upload"),
    path("recordings/<int:pk>/splits/", views.recording_split_add, name="recording-split-add"),
    path("recordings/<int:pk>/consent/", consent_views.recording_consent_add, name="recording-consent-add"),
    path("parties/<int:pk>/", consent_views.party_detail, name="party-detail"),
    path("consent/", consent_views.label_consent, name="label-consent"),
    path("imports/", views.import_start, name="import-start"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/rejects.csv", views.import_rejects, name="import-rejects"),
    path("audit/", views.audit_log, name="audit-log"),
    path("switch-label/", views.label_switch, name="label-switch"),
    path("members/", views.member_list, name="member-list"),
    path("members/<int:pk>/role/", views.member_role, name="member-role"),
    path("members/<int:pk>/remove/", views.member_remove_view, name="member-remove"),
    path("invite/<str:uidb64>/<str:token>/", views.invite_accept, name="invite-accept"),
]
