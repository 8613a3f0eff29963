from django.urls import path

from fingerprinting import licence_views, views

app_name = "fingerprinting"
urlpatterns = [
    path("", views.clip_list, name="clip-list"),
    path("review/", views.review_queue, name="review-queue"),
    path("outside-licence/", licence_views.unlicensed_list, name="unlicensed-list"),
    path("review/confirm/", views.review_bulk_confirm, name="review-bulk-confirm"),
    path("<int:pk>/", views.clip_detail, name="clip-detail"),
    path("<int:pk>/audio.bin", views.clip_audio, name="clip-audio"),
    path("<int:pk>/review/", views.clip_review, name="clip-review"),
]
