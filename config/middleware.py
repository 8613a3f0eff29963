"""Request checks that hold for every web page (the partner API checks its own input: config.input_checks)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from config.input_checks import text_problem

API_PREFIX = "/api/"


class RejectUnstorableTextMiddleware:
    """A query or form value holding NUL is a 400 before any view runs.

    Pages read request.GET and request.POST directly (search boxes, the split and key forms), and
    PostgreSQL refuses NUL in any text it is asked to compare or store, which would surface as a 500.
    The API is left to its parsers and serializers, which answer in its error envelope; its multipart
    bodies must not be parsed here before DRF reads them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            for values in (request.GET, request.POST if request.method == "POST" else {}):
                for key, value in values.items():
                    if text_problem(key) or (isinstance(value, str) and text_problem(value)):
                        return HttpResponseBadRequest(
                            "A form or query value holds characters that are not text."
                        )
        return self.get_response(request)
