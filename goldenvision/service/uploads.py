"""Streaming a multipart upload of photos to disk, one part at a time.

Starlette's ``request.form()`` parses the whole body (into spooled temporary files) before the
handler sees the first file; the service then copied each file again. :class:`PhotoStream`
instead writes each file part of the ``files`` field straight to a temporary file under the
lot's folder as its bytes arrive, hashing them on the way, and hands the finished file to a
callback the moment its part ends: a batch's first photo is being scored while the rest of the
batch is still arriving.

Limits are the service's own: a file over ``max_file_bytes`` stops being written and is
rejected with the reason; file parts past ``max_files`` are not written and are rejected with
the reason (the earlier ones are already stored and scoring, so the request is not refused as
a whole); other fields are read and discarded; headers are bounded by the parser. The total
request size is capped before any of this by the service's body-limit middleware.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = ["PhotoStream", "MalformedUpload", "boundary_of"]

#: Rejections listed one by one past the file limit; later ones are counted in one entry.
_LISTED_OVER_LIMIT = 100


class MalformedUpload(ValueError):
    """The body is not the multipart form it claims to be."""


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a ``Content-Type`` header, or :class:`MalformedUpload`."""
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise MalformedUpload("expected a multipart/form-data body")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MalformedUpload("the multipart body has no usable boundary")
    return boundary


class PhotoStream:
    """Feed a multipart body with :meth:`feed`, then :meth:`finish`.

    ``on_file(name, tmp_path, sha256)`` is called for every complete file part of ``field``
    within the limits (``name`` as the client sent it, unsanitised); it takes over
    ``tmp_path`` (moves or leaves it: the stream deletes whatever is left there after the
    call). Problems found here are collected in :attr:`rejected` as ``{"file", "reason"}``.
    """

    def __init__(self, boundary: bytes, folder: Path, *, field: str = "files", max_files: int,
                 max_file_bytes: int, on_file: Callable[[str, Path, str], None]) -> None:
        self.folder = folder
        self.field = field
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.on_file = on_file
        self.rejected: list[dict[str, Any]] = []
        self.files_seen = 0
        self._over_limit = 0
        self._hname = bytearray()
        self._hval = bytearray()
        self._disposition = b""
        self._out: BinaryIO | None = None
        self._tmp: Path | None = None
        self._name = ""
        self._hash: Any = None
        self._size = 0
        self._too_big = False
        self._ended = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_part_data": self._part_data, "on_part_end": self._part_end,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_finished,
            "on_end": self._end})

    # ---- feeding ----------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Parse the next bytes of the body (files that end in them are handed on at once)."""
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            self.close()
            raise MalformedUpload(f"malformed multipart body: {exc}") from None

    def finish(self) -> None:
        """The body ended: a body cut short inside a part is malformed."""
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            self.close()
            raise MalformedUpload(f"malformed multipart body: {exc}") from None
        if not self._ended:
            self.close()
            raise MalformedUpload("the multipart body ended before its closing boundary")

    def close(self) -> None:
        """Drop the part being written (an aborted or malformed request)."""
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    # ---- parser callbacks -------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._disposition = b""
        self._name = ""
        self._too_big = False
        self._size = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._hval += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._hname).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._hval)
        self._hname.clear()
        self._hval.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != self.field or b"filename" not in options:
            return  # another field: read and discarded
        self._name = options[b"filename"].decode("utf-8", "replace")
        self.files_seen += 1
        if self.files_seen > self.max_files:
            self._over_limit += 1
            if self._over_limit <= _LISTED_OVER_LIMIT:
                self.rejected.append({"file": self._name, "reason": f"over the limit of {self.max_files} files per "
                                      "request: not stored (send it in another request)"})
            return
        self._tmp = self.folder / f".incoming-{uuid.uuid4().hex}"
        self._out = open(self._tmp, "wb")  # noqa: SIM115 (closed at the part's end or by close())
        self._hash = hashlib.sha256()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is None or self._too_big:
            return
        self._size += end - start
        if self._size > self.max_file_bytes:
            self._too_big = True
            self.close()
            self.rejected.append({"file": self._name, "reason": f"file over {self.max_file_bytes} bytes"})
            return
        piece = memoryview(data)[start:end]
        self._hash.update(piece)
        self._out.write(piece)

    def _part_end(self) -> None:
        if self._out is None or self._tmp is None:
            return
        self._out.close()
        self._out = None
        tmp, self._tmp = self._tmp, None
        try:
            self.on_file(self._name, tmp, self._hash.hexdigest())
        finally:
            tmp.unlink(missing_ok=True)

    def _end(self) -> None:
        self._ended = True
        if self._over_limit > _LISTED_OVER_LIMIT:
            self.rejected.append({"file": None, "reason": f"{self._over_limit - _LISTED_OVER_LIMIT} more files over "
                                  f"the limit of {self.max_files} files per request: not stored"})
