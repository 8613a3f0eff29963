"""OpenAPI pieces: the Bearer scheme and the error answers every operation documents."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse

from partner_api.serializers import ErrorSerializer


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "partner_api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer stm_...`"}


_DESCRIPTIONS = {
    400: "Invalid input (`invalid`, `parse_error`, or a specific code).",
    401: "Missing, unknown or revoked API key.",
    404: "No such object for this key.",
    405: "Method not allowed.",
    409: "Conflict (`idempotency_conflict`, `external_id_conflict`, `usage_report_conflict`).",
    413: "Body too large.",
    415: "Unsupported media type or audio format.",
    422: "Audio that cannot be decoded.",
    429: "Rate limited; see `Retry-After`.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error answers for extend_schema(responses=...); 400, 401, 404, 405 and 429 are always listed."""
    wanted = sorted({400, 401, 404, 405, 429, *codes})
    return {code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]) for code in wanted}
