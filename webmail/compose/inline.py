"""Images of the HTML body in a compose session: stored like attachments (``uploads.py``, with
a Content-ID), shown in the editor from our own URL, sent as ``cid:`` related parts.

The body HTML the server keeps and sanitizes says ``cid:<content id>``; the editor cannot show
that, so the page gets ``/compose/inline/<token>/<upload id>/`` in its place (same origin: the
CSP's ``img-src 'self'`` and the session cookie apply) and a post turns those URLs back into
``cid:`` references *before* sanitizing (the sanitizer keeps ``cid:`` and drops the rest). The
swap after sanitizing only replaces ``cid:<id>`` by a URL, both of our own making, from an
alphabet with no markup characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from webmail.compose import uploads
from webmail.mime.compose import InlinePart

_SAFE = re.compile(r"[0-9A-Za-z.@-]+")


def image_url(token: str, upload_id: str) -> str:
    return f"/compose/inline/{token}/{upload_id}/"


def _images(items: Sequence[uploads.Upload]) -> list[uploads.Upload]:
    return [u for u in items if u.is_inline and _SAFE.fullmatch(u.content_id)]


def to_cids(html: str, *, token: str, items: Sequence[uploads.Upload]) -> str:
    """The editor's HTML with our image URLs turned back into ``cid:`` references."""
    for up in _images(items):
        html = html.replace(image_url(token, up.id), f"cid:{up.content_id}")
    return html


def to_urls(html: str, *, token: str, items: Sequence[uploads.Upload]) -> str:
    """Sanitized HTML with the session's ``cid:`` references turned into our image URLs."""
    for up in _images(items):
        html = re.sub(rf"(?<=[\";(])cid:{re.escape(up.content_id)}(?![\w.@%+=$-])",
                      image_url(token, up.id), html)
    return html


def session_parts(*, user_id: int, token: str,
                  items: Sequence[uploads.Upload]) -> list[InlinePart]:
    """The session's images, as parts of the message (``compose_spec`` keeps those the body
    refers to)."""
    return [InlinePart(content_id=up.content_id, filename=up.filename,
                       content_type=up.content_type,
                       data=uploads.upload_read(user_id=user_id, token=token, upload_id=up.id))
            for up in _images(items)]


def used(html: str | None, parts: Sequence[InlinePart]) -> list[InlinePart]:
    """The parts sanitized ``html`` refers to (each once)."""
    if not html:
        return []
    return [p for p in {p.content_id: p for p in parts}.values()
            if re.search(rf"cid:{re.escape(p.content_id)}(?![\w.@%+=$-])", html)]
