"""Request ids: taken from `X-Request-ID` (when sane) or made up, echoed back, and put on log records.

`PartnerAPIView` sets the id for API requests without any middleware; `RequestIdMiddleware` does the
same for every request once it is listed in MIDDLEWARE, and `RequestIdLogFilter` puts
`%(request_id)s` on log records (docs/api.md, "Operations").
"""

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


def request_id_from(request) -> str:
    """The id of a Django request, chosen once per request."""
    existing = getattr(request, "request_id", None)
    if existing:
        return existing
    offered = request.META.get("HTTP_X_REQUEST_ID", "")
    request_id = offered if _SANE.match(offered) else uuid.uuid4().hex
    request.request_id = request_id
    current_request_id.set(request_id)
    return request_id


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request_id.set(request_id_from(request))
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[HEADER] = request.request_id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True
