"""Sign-in with throttling: repeated failures for one username or from one address lock sign-in briefly."""

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render

MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60


def _keys(request) -> list[str]:
    username = (request.POST.get("username") or "").strip().lower()[:150]
    address = request.META.get("REMOTE_ADDR", "")
    return [f"stemma:login-failures:user:{username}", f"stemma:login-failures:addr:{address}"]


def _failures(request) -> int:
    return max((cache.get(key) or 0) for key in _keys(request))


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView; after MAX_FAILURES failed attempts for a username or from an address within
    LOCK_SECONDS, further attempts are refused (429) without checking the password."""

    def post(self, request, *args, **kwargs):
        if _failures(request) >= MAX_FAILURES:
            response = render(
                request,
                self.template_name,
                {"form": self.get_form(), "locked": True, "lock_minutes": LOCK_SECONDS // 60},
                status=429,
            )
            response["Retry-After"] = str(LOCK_SECONDS)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        for key in _keys(self.request):
            if not cache.add(key, 1, LOCK_SECONDS):
                cache.incr(key)
        return super().form_invalid(form)

    def form_valid(self, form) -> HttpResponse:
        cache.delete_many(_keys(self.request))
        return super().form_valid(form)
