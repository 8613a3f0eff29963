from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from config.errors import InvalidInput


class CreatedCursorPagination(CursorPagination):
    """Newest first; stable under inserts (a cursor, not an offset)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            raise InvalidInput(
                "The cursor is not valid.", fields={"cursor": ["Invalid cursor."]}, code="invalid_cursor"
            )

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and int(raw) > 0):
            raise InvalidInput(
                "limit must be a positive integer.", fields={"limit": [raw]}, code="invalid_limit"
            )
        return super().get_page_size(request)
