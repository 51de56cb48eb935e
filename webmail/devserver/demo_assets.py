"""Small binary files for the demo mail, generated in code: a PNG logo and a one-page PDF."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

__all__ = ["logo_png", "pixel_png", "simple_pdf"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _png(width: int, height: int, rows: Sequence[bytes]) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``3 * width`` bytes."""
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def logo_png(size: int = 48) -> bytes:
    """A square logo: a white envelope on a teal-to-blue gradient."""
    rows = []
    margin, top, bottom = size // 6, size // 4, size - size // 4
    middle = size // 2
    for y in range(size):
        row = bytearray()
        for x in range(size):
            r, g, b = 20, 120 + (100 * x) // size, 160 + (80 * y) // size
            inside = margin <= x < size - margin and top <= y < bottom
            if inside:
                r, g, b = 250, 250, 250
                # the flap: two diagonals meeting in the middle of the envelope
                rise = (middle - margin - abs(x - middle)) * (bottom - top)
                flap_y = top + rise // (size - 2 * margin)
                on_edge = x in (margin, size - margin - 1) or y in (top, bottom - 1)
                if abs(y - flap_y) <= 1 or on_edge:
                    r, g, b = 30, 90, 130
            row += bytes((r, g, b))
        rows.append(bytes(row))
    return _png(size, size, rows)


def pixel_png() -> bytes:
    """A 1x1 white PNG (what a tracking pixel looks like)."""
    return _png(1, 1, [b"\xff\xff\xff"])


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def simple_pdf(title: str, lines: Sequence[str]) -> bytes:
    """A valid one-page PDF 1.4 showing ``title`` and ``lines`` in Helvetica (ASCII only)."""
    ops = ["BT", "/F1 18 Tf", "72 760 Td", f"({_pdf_text(title)}) Tj", "/F1 11 Tf", "0 -28 Td"]
    for line in lines:
        ops += [f"({_pdf_text(line)}) Tj", "0 -16 Td"]
    ops.append("ET")
    stream = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref_at,
    )
    return bytes(out)
