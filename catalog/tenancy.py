"""Tenant scoping for web requests, written once.

`request.label` is the label the user is working in (chosen with the label switcher, kept in the
session); `request.labels` all of theirs. Views get objects through `scoped()` / `get_scoped_or_404()`,
so an object of another label is a 404, never a leak; role checks go through `require_role()`.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from catalog.models import Label, Membership, Role

SESSION_KEY = "current_label_id"


def user_memberships(user) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("label").order_by("label__name"))


class CurrentLabelMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        request.label = None
        request.membership = None
        request.memberships = []
        if request.user.is_authenticated:
            memberships = user_memberships(request.user)
            request.memberships = memberships
            wanted = request.session.get(SESSION_KEY)
            chosen = next((m for m in memberships if m.label_id == wanted), None) or (
                memberships[0] if memberships else None
            )
            if chosen:
                request.label = chosen.label
                request.membership = chosen
        return self.get_response(request)


def current_label_context(request: HttpRequest) -> dict:
    from catalog.ui import nav_links

    return {
        "nav_links": nav_links,
        "current_label": getattr(request, "label", None),
        "current_membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
    }


def switch_label(request: HttpRequest, label_id: int) -> Label:
    membership = next((m for m in request.memberships if m.label_id == label_id), None)
    if membership is None:
        raise Http404("No such label")
    request.session[SESSION_KEY] = membership.label_id
    return membership.label


def scoped(request: HttpRequest, queryset: QuerySet) -> QuerySet:
    """Rows of the request's current label only. Views never query a label-owned model otherwise."""
    if request.label is None:
        return queryset.none()
    return queryset.for_label(request.label)


def get_scoped_or_404(request: HttpRequest, queryset: QuerySet, **lookup):
    try:
        return scoped(request, queryset).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")


def require_role(request: HttpRequest, role: Role) -> None:
    if request.membership is None or not request.membership.allows(role):
        raise PermissionDenied(f"This needs the {Role(role).label} role in {request.label}.")
