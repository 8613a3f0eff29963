"""Web pages (label staff); the partner-facing REST API is in urls.py."""

from django.urls import path

from partner_api import views

app_name = "partners"
urlpatterns = [
    path("", views.partner_list, name="partner-list"),
    path("keys/new/", views.apikey_new, name="apikey-new"),
    path("<slug:slug>/", views.partner_detail, name="partner-detail"),
    path("<slug:slug>/keys/<str:prefix>/revoke/", views.apikey_revoke_view, name="apikey-revoke"),
]
