"""Pages name their icon, so browsers do not ask for /favicon.ico (a 404 in every log)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_pages_link_an_icon_that_is_served() -> None:
    client = Client()
    html = client.get("/login/").content.decode()
    found = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert found, "no icon link on the sign-in page"
    icon = client.get(found.group(1))
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body.startswith(b"<svg") and b"<script" not in body
