"""Request and task ids in every log line, and JSON logs for production.

A request id comes from the `X-Request-ID` header (when it looks sane) or is made up, is echoed in the
response, and is attached to every log record made while handling the request; Celery tasks do the same
with their task id. Handlers format records as JSON when `LOG_FORMAT=json`.
"""

import contextvars
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ContextFilter(logging.Filter):
    """Adds request_id and task_id to every record so formatters can use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        return True


def bind_task_id(task_id: str | None) -> contextvars.Token:
    return task_id_var.set(task_id or "-")


def unbind_task_id(token: contextvars.Token) -> None:
    task_id_var.reset(token)
