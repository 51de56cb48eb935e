"""Turning message bodies into display pieces: plain text to safe HTML, HTML to plain text,
reply quoting, the forward header block, format=flowed and text/enriched.

This is not the HTML sanitizer (``webmail/sanitize.py``): ``text_to_html`` escapes everything
itself, and HTML bodies are still sanitized by that module before anyone sees them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime

from webmail.mime.addresses import Address, format_address
from webmail.mime.htmltext import html_to_text

__all__ = [
    "enriched_to_text",
    "forward_header_block",
    "html_to_text",
    "quote_for_reply",
    "text_to_html",
    "unflow",
]

_URL = re.compile(r"(?i)\b(?:https?://|mailto:)[^\s<>\"\x00-\x1f\x7f]+")
_TRAILING_PUNCT = ".,;:!?'*"
_QUOTE_PREFIX = re.compile(r"^((?:>[ \t]?)+)")


def _linkify_escaped(text: str) -> str:
    """Escape ``text`` for HTML and turn http(s)/mailto URLs into safe links."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        # trailing punctuation and unbalanced closing brackets belong to the sentence
        while url and (
            url[-1] in _TRAILING_PUNCT
            or (url[-1] == ")" and url.count(")") > url.count("("))
            or (url[-1] == "]" and url.count("]") > url.count("["))
        ):
            url = url[:-1]
        if url.lower() in ("http://", "https://", "mailto:") or len(url) < 8:
            continue
        out.append(html.escape(text[pos : match.start()]))
        href = html.escape(url, quote=True)
        out.append(
            f'<a href="{href}" rel="noopener noreferrer" target="_blank">{html.escape(url)}</a>'
        )
        pos = match.start() + len(url)
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _keep_spaces(escaped: str) -> str:
    """Keep runs of spaces and tabs visible without relying on CSS white-space."""
    escaped = escaped.replace("\t", "    ")
    return re.sub(r"(?<= ) |^ ", "&nbsp;", escaped)


def _quote_depth(line: str) -> tuple[int, str]:
    match = _QUOTE_PREFIX.match(line)
    if not match:
        return 0, line
    return match.group(1).count(">"), line[match.end() :]


def text_to_html(text: str, *, flowed: bool = False, delsp: bool = False) -> str:
    """Plain text as HTML: everything escaped, http(s)/mailto URLs linked with
    ``rel="noopener noreferrer" target="_blank"``, ``>`` quoted lines as nested
    ``<blockquote class="mail-quote">``, the signature after ``-- `` in
    ``<div class="mail-signature">``. ``flowed`` joins RFC 3676 soft line breaks first. Never
    raises."""
    if flowed:
        text = unflow(text, delsp=delsp)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = ['<div class="mail-text">']
    depth = 0
    in_signature = False
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append("<br>".join(pending))
            pending.clear()

    for line in lines:
        level, content = _quote_depth(line)
        if level != depth:
            flush()
            while depth < level:
                out.append('<blockquote class="mail-quote">')
                depth += 1
            while depth > level:
                out.append("</blockquote>")
                depth -= 1
        if level == 0 and content == "-- " and not in_signature:
            flush()
            out.append('<div class="mail-signature">')
            in_signature = True
        pending.append(_keep_spaces(_linkify_escaped(content)))
    flush()
    out.extend("</blockquote>" for _ in range(depth))
    if in_signature:
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join the soft line breaks of RFC 3676 format=flowed text; quote depth kept as ``> ``."""
    out: list[str] = []
    current: str | None = None
    current_depth = 0
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:]
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        soft = line.endswith(" ") and line != "-- "
        if delsp and soft:
            line = line[:-1]
        if current is not None and depth == current_depth:
            current += line
        else:
            if current is not None:
                out.append((">" * current_depth + " " if current_depth else "") + current)
            current, current_depth = line, depth
        if not soft:
            out.append((">" * current_depth + " " if current_depth else "") + current)
            current = None
    if current is not None:
        out.append((">" * current_depth + " " if current_depth else "") + current)
    return "\n".join(out)


_ENRICHED_TOKEN = re.compile(r"<<|<(/?)([A-Za-z0-9-]{1,60})>|\r?\n")


def enriched_to_text(text: str) -> str:
    """text/enriched (RFC 1896) as plain text: formatting dropped, ``<param>`` content removed,
    line breaks per the RFC (n newlines mean n-1, one newline is a space, except in nofill)."""
    out: list[str] = []
    pos = 0
    param_depth = nofill = 0
    newlines = 0
    for match in _ENRICHED_TOKEN.finditer(text):
        chunk = text[pos : match.start()]
        pos = match.end()
        if chunk:
            if newlines:
                out.append("\n" * (newlines - 1) if newlines > 1 else " ")
                newlines = 0
            if not param_depth:
                out.append(chunk)
        piece = match.group(0)
        if piece in ("\n", "\r\n"):
            if nofill and not param_depth:
                out.append("\n")
            elif not param_depth:
                newlines += 1
            continue
        if newlines:
            out.append("\n" * (newlines - 1) if newlines > 1 else " ")
            newlines = 0
        if piece == "<<":
            if not param_depth:
                out.append("<")
            continue
        name, closing = match.group(2).lower(), bool(match.group(1))
        if name == "param":
            param_depth = max(0, param_depth - 1) if closing else param_depth + 1
        elif name == "nofill":
            nofill = max(0, nofill - 1) if closing else nofill + 1
    tail = text[pos:]
    if tail and not param_depth:
        if newlines:
            out.append("\n" * (newlines - 1) if newlines > 1 else " ")
        out.append(tail)
    return "".join(out)


def _format_date(date: datetime | str | None) -> str:
    if isinstance(date, datetime):
        return date.strftime("%a, %d %b %Y at %H:%M")
    return date or ""


def quote_for_reply(text: str, author: str, date: datetime | str | None) -> str:
    """``On <date>, <author> wrote:`` followed by the text with every line quoted (``> ``;
    already quoted lines get one more ``>``)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")
    quoted = [
        ">" + line if line.startswith(">") else "> " + line if line else ">" for line in lines
    ]
    when = _format_date(date)
    intro = f"On {when}, {author} wrote:" if when else f"{author} wrote:"
    return intro + "\n" + "\n".join(quoted) + "\n"


def _addresses(addresses: Sequence[Address]) -> str:
    return ", ".join(format_address(Address(*a)) for a in addresses)


def forward_header_block(
    *,
    subject: str,
    from_: Sequence[Address],
    to: Sequence[Address] = (),
    cc: Sequence[Address] = (),
    date: datetime | str | None = None,
) -> str:
    """The plain-text block put above a forwarded message's text."""
    rows = [
        ("From", _addresses(from_)),
        ("Date", _format_date(date)),
        ("Subject", subject),
        ("To", _addresses(to)),
        ("Cc", _addresses(cc)),
    ]
    lines = ["---------- Forwarded message ----------"]
    lines += [f"{name}: {value}" for name, value in rows if value]
    return "\n".join(lines) + "\n"
