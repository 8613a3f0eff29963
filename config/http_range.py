"""Byte ranges for the audio endpoints (RFC 9110, section 14), so a player can seek to the matched second.

Django's FileResponse answers whole files only (Django ticket #22479), and the packages that add ranges
(django-ranged-response, django-ranged-fileresponse) were last released in 2017. Browsers' <audio> ask
for one range at a time, so this serves one: `bytes=a-b`, `bytes=a-` and `bytes=-n`. A request for
several ranges, or with If-Range (we keep no validator to compare it with), gets the whole file (200),
which the RFC allows; a range that starts past the end gets 416 with the file's size.
"""

import re
from collections.abc import Iterator
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_BYTES = (
    64 * 1024
)  # what FileResponse streams in (its block_size): small enough for many players at once


def _size(handle: BinaryIO) -> int:
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(0)
    return size


class RangeNotSatisfiable(Exception):
    pass


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a satisfiable single range, or None to serve the whole file; raises
    RangeNotSatisfiable (416) for a range that selects nothing of the file."""
    match = SINGLE_RANGE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None  # not a single byte range we read: the whole file
    first, last = match.group(1), match.group(2)
    if first == "":  # the last n bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable
    return start, end


def _slice(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        left = length
        while left > 0:
            block = handle.read(min(CHUNK_BYTES, left))
            if not block:
                break
            left -= len(block)
            yield block
    finally:
        handle.close()


def ranged_file_response(
    request: HttpRequest, handle: BinaryIO, *, content_type: str, filename: str, as_attachment: bool = False
) -> HttpResponse:
    """The file whole (200) or the one range asked for (206), with Accept-Ranges either way."""
    size = _size(handle)
    header = request.headers.get("Range", "")
    response: HttpResponse
    try:
        wanted = byte_range(header, size) if header and "If-Range" not in request.headers else None
    except RangeNotSatisfiable:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if wanted is None:
        response = FileResponse(
            handle, as_attachment=as_attachment, filename=filename, content_type=content_type
        )
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _slice(handle, start, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        response["Content-Disposition"] = content_disposition_header(as_attachment, filename)
    response["Accept-Ranges"] = "bytes"
    return response
