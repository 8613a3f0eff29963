import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """JSON without lone UTF-16 surrogates ("\\ud800"): json accepts them, but they are not text and
    PostgreSQL refuses to store them, which would turn a bad request into a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - the body contains an unpaired surrogate (\\ud800-\\udfff).")
        return data
