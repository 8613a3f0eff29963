from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("recordings/", views.recording_list, name="recording-list"),
    path("recordings/<int:pk>/", views.recording_detail, name="recording-detail"),
    path("switch-label/", views.label_switch, name="label-switch"),
]
