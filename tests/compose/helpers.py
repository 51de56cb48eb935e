"""Small helpers shared by the compose HTTP tests."""

from __future__ import annotations

import html
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from django.test import Client


def start(client: Client, query: str = "") -> tuple[str, str]:
    """Open the compose page; returns (token, page HTML)."""
    response = client.get("/compose/" + query)
    assert response.status_code == 200, response.content[:300]
    page = response.content.decode()
    match = re.search(r'name="token" value="([0-9a-f]{32})"', page)
    assert match, "no compose token on the page"
    return match.group(1), page


def field_value(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no {name} field"
    return html.unescape(match.group(1))


def textarea(page: str, name: str) -> str:
    match = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, f"no {name} textarea"
    text = match.group(1)
    # HTML drops one newline right after <textarea>; the template writes one for that.
    return html.unescape(text[1:] if text.startswith("\n") else text)


def attachment_ids(page: str) -> list[str]:
    return re.findall(r'name="attachment" value="([0-9a-f]{16})"', page)


def form_data(token: str, sender: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"token": token, "from_email": sender, "to": "", "cc": "",
                            "bcc": "", "subject": "", "body": "", "format": "plain"}
    data.update(extra)
    return data


def parse(raw: bytes) -> EmailMessage:
    """The message as the email package reads it (line endings made LF for easy comparing)."""
    message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body_text(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no text/{kind} body"
    return str(part.get_content())
