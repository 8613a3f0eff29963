"""The label's own webhook endpoints (web UI, label admins): mounted apart from /partners/ so that no
partner slug can shadow them."""

from django.urls import path

from partner_api import views

app_name = "webhooks"
urlpatterns = [
    path("", views.label_webhooks, name="label-webhooks"),
    path("<int:pk>/toggle/", views.label_webhook_toggle, name="label-webhook-toggle"),
    path("<int:pk>/delete/", views.label_webhook_delete, name="label-webhook-delete"),
]
