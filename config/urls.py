from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import health, metrics  # noqa: F401  (metrics registers the queue collector)
from config.metrics_view import metrics as metrics_view

urlpatterns = [
    # The partner API first: it takes the most requests, and Django tries patterns in order.
    path("api/v1/", include("partner_api.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("", RedirectView.as_view(pattern_name="royalties:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    # Throttled by django-axes (settings.AUTHENTICATION_BACKENDS), as /admin/login/ is.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("catalog/", include("catalog.urls")),
    path("clips/", include("fingerprinting.urls")),
    path("royalties/", include("royalties.urls")),
    path("partners/", include("partner_api.web_urls")),
    path("webhooks/", include("partner_api.label_webhook_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up code as a script file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
