from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from catalog.auth import ThrottledLoginView
from config import health, metrics  # noqa: F401  (metrics registers the queue collector)

urlpatterns = [
    # The partner API first: it takes the most requests, and Django tries patterns in order.
    path("api/v1/", include("partner_api.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
    path("", RedirectView.as_view(pattern_name="royalties:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("catalog/", include("catalog.urls")),
    path("clips/", include("fingerprinting.urls")),
    path("royalties/", include("royalties.urls")),
    path("partners/", include("partner_api.web_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
