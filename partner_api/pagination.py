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
        if request.query_params.get(self.cursor_query_param) == "":
            raise InvalidInput(
                "The cursor is empty; leave it out for the first page.",
                fields={"cursor": ["Invalid cursor."]},
                code="invalid_cursor",
            )
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            raise InvalidInput(
                "The cursor is not valid.", fields={"cursor": ["Invalid cursor."]}, code="invalid_cursor"
            )

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and 0 < int(raw) <= self.max_page_size):
            raise InvalidInput(
                f"limit must be a whole number from 1 to {self.max_page_size}.",
                fields={"limit": [raw[:50]]},
                code="invalid_limit",
            )
        return super().get_page_size(request)

    def get_paginated_response_schema(self, schema):
        """DRF's, with all three keys required (they always are there) and a `next` example that is a
        URL (DRF's has a stray quote in it)."""

        def link(description: str) -> dict:
            return {
                "type": ["string", "null"],  # OpenAPI 3.1 (settings.SPECTACULAR_SETTINGS)
                "format": "uri",
                "description": description,
                "example": f"https://stemma.example.org/api/v1/clips?{self.cursor_query_param}=cD0yMDI2LTEw",
            }

        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": link("The next page, or null on the last."),
                "previous": link("The previous page, or null on the first."),
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        """The schema says what get_page_size enforces: 1 <= limit <= max_page_size."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size, default=self.page_size)
            elif parameter["name"] == self.cursor_query_param:
                parameter["schema"]["minLength"] = 1
                parameter["description"] = "An opaque cursor from a `next` or `previous` link."
        return parameters
