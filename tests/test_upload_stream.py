"""The streaming multipart reader of the upload service (goldenvision.service.uploads)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from goldenvision.service.uploads import MalformedUpload, PhotoStream, boundary_of

B = b"gvboundary42"


def part(name: str, data: bytes, field: str = "files") -> bytes:
    return (b"--" + B + b"\r\nContent-Disposition: form-data; name=\"" + field.encode() + b"\"; filename=\""
            + name.encode() + b"\"\r\nContent-Type: image/png\r\n\r\n" + data + b"\r\n")


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + B + b"--\r\n"


def stream(tmp_path: Path, got: list, **kw) -> PhotoStream:
    def on_file(name: str, tmp: Path, sha: str) -> None:
        got.append((name, tmp.read_bytes(), sha))
    kw = {"max_files": 10, "max_file_bytes": 10_000, **kw}
    return PhotoStream(B, tmp_path, on_file=on_file, **kw)


def test_each_file_is_handed_on_as_soon_as_its_part_ends(tmp_path):
    a, b = bytes(range(256)) * 7, b"second file \r\n--not-the-boundary\r\n" * 30
    raw = body(part("a.png", a), part("b.png", b))
    got: list = []
    s = stream(tmp_path, got)
    cut = raw.index(b"--" + B, 10) + len(B) + 40  # into the second part
    for i in range(0, cut, 7):  # odd chunk sizes split boundaries and headers
        s.feed(raw[i:min(i + 7, cut)])
    assert [g[0] for g in got] == ["a.png"]  # the first photo is out before the body ends
    s.feed(raw[cut:])
    s.finish()
    assert [(n, d, h) for n, d, h in got] == [("a.png", a, hashlib.sha256(a).hexdigest()),
                                               ("b.png", b, hashlib.sha256(b).hexdigest())]
    assert list(tmp_path.iterdir()) == []  # nothing left behind that on_file did not take


def test_limits_other_fields_and_malformed_bodies(tmp_path):
    got: list = []
    s = stream(tmp_path, got, max_files=2, max_file_bytes=100)
    s.feed(body(part("big.png", b"x" * 101), part("note", b"ignored", field="comment"),
                part("ok.png", b"y" * 100), part("two.png", b"z"), part("three.png", b"w")))
    s.finish()
    assert [g[0] for g in got] == ["ok.png"]
    assert [(r["file"], r["reason"]) for r in s.rejected] == [
        ("big.png", "file over 100 bytes"),
        *[(n, "over the limit of 2 files per request: not stored (send it in another request)")
          for n in ("two.png", "three.png")]]  # a refused file counts towards the limit too
    assert s.files_seen == 4 and list(tmp_path.iterdir()) == []
    # a body cut short inside a part, and one that is not multipart at all
    s = stream(tmp_path, got := [])
    s.feed(body(part("a.png", b"a" * 50))[:-30])
    with pytest.raises(MalformedUpload):
        s.finish()
    assert got == [] and list(tmp_path.iterdir()) == []
    s = stream(tmp_path, [])
    with pytest.raises(MalformedUpload):
        s.feed(b"this is not a multipart body at all" * 10)
    for bad in (None, "application/json", "multipart/form-data", "multipart/form-data; boundary=" + "x" * 300):
        with pytest.raises(MalformedUpload):
            boundary_of(bad)
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
