"""Incremental transfer decoding and the download type policy."""

from __future__ import annotations

import base64
import binascii
import quopri

from hypothesis import given, settings
from hypothesis import strategies as st

from webmail.mail.parts import (
    Base64Decoder,
    QuotedPrintableDecoder,
    download_type,
    stream_decoded,
    stream_text,
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_base64_decodes_across_any_chunk_boundary(payload: bytes, cuts: list[int]) -> None:
    encoded = base64.encodebytes(payload)  # 76-character lines, as mail has them
    decoder = Base64Decoder()
    out = b"".join(decoder.feed(piece) for piece in _split(encoded, cuts)) + decoder.flush()
    assert out == payload


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_quoted_printable_decodes_across_any_chunk_boundary(payload: bytes,
                                                            cuts: list[int]) -> None:
    encoded = quopri.encodestring(payload)
    decoder = QuotedPrintableDecoder()
    out = b"".join(decoder.feed(piece) for piece in _split(encoded, cuts)) + decoder.flush()
    assert out == binascii.a2b_qp(encoded)


def test_base64_with_noise_and_glued_parts() -> None:
    decoder = Base64Decoder()
    out = decoder.feed(b"QU\r\nJD\n*QQ=") + decoder.feed(b"=Qk") + decoder.feed(b"M=\n")
    assert out + decoder.flush() == b"ABC" + b"A" + b"BC"


def test_base64_unpadded_tail_is_kept() -> None:
    decoder = Base64Decoder()
    assert decoder.feed(b"QUJDRA") + decoder.flush() == b"ABCD"


def test_stream_decoded_fetches_in_ranges() -> None:
    payload = bytes(range(256)) * 50
    encoded = base64.encodebytes(payload)
    asked: list[tuple[int, int]] = []

    def fetch(offset: int, length: int) -> bytes:
        asked.append((offset, length))
        return encoded[offset:offset + length]

    out = b"".join(stream_decoded(fetch, "base64", chunk_size=1000))
    assert out == payload
    assert len(asked) == len(encoded) // 1000 + 1
    assert all(length == 1000 for _, length in asked)


def test_stream_text_never_splits_characters() -> None:
    text = "Grüße \u2013 日本語 ✓" * 10
    data = text.encode()
    pieces = [data[i:i + 3] for i in range(0, len(data), 3)]
    assert "".join(stream_text(iter(pieces))) == text
    assert "".join(stream_text(iter([b"ok \xff\xfe end"]))) == "ok \ufffd\ufffd end"


def test_download_types() -> None:
    assert download_type("application/pdf") == "application/pdf"
    assert download_type("image/png") == "image/png"
    assert download_type("IMAGE/JPEG") == "image/jpeg"
    for active in ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                   "application/xml", "application/rss+xml", "text/javascript",
                   "application/javascript", "application/x-javascript", "text/css",
                   "multipart/mixed", "", "text/html; charset=utf-8", "weird type",
                   "text/plain\r\nX-Evil: 1"):
        assert download_type(active) == "application/octet-stream", active
