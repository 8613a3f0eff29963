from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.input_checks import UntrustedInputError, json_value_check


class StrictJSONParser(JSONParser):
    """JSON that can be stored: no NUL, no lone UTF-16 surrogates, no runaway nesting
    (config.input_checks). json accepts all three, and each would otherwise surface as a server error
    (PostgreSQL refusing the text, the renderer failing to encode it, or RecursionError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.")
        try:
            return json_value_check(data)
        except UntrustedInputError as exc:
            raise ParseError(f"JSON parse error - {exc}")
