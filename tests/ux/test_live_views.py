"""The server side of the live page (``views.live``) and what the pages promise without a
browser: the ``?state=1`` fingerprint changes exactly when the folder does, the partial lists
carry the rows, a page renders without waiting for any script, the scripts and styles of a page
stay under 150 KB compressed, and dates follow the user's time zone. FakeStore behind
``mailconn.mail_store`` (each user their own store, as with real servers)."""

from __future__ import annotations

import contextlib
import gzip
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpRequest
from django.test import Client

# webmail.compose.views binds ``mail_store`` by name at import: imported lazily (by the URL
# resolver) while the fixture below has patched it, it would keep the fake for the rest of the
# process. Import it now, at collection, so it binds the real one.
import webmail.compose.views  # noqa: F401
from accounts.models import User
from accounts.selectors import user_settings
from tests.conftest import make_message
from webmail import mailconn
from webmail.imap.fake import FakeStore

pytestmark = pytest.mark.django_db
BUDGET = 150 * 1024
STATIC = Path(settings.BASE_DIR) / "static"


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeStore]:
    found: dict[str, FakeStore] = {}

    @contextlib.contextmanager
    def mail_store(request: HttpRequest) -> Iterator[FakeStore]:
        if not request.user.is_authenticated:
            raise mailconn.NotSignedIn()
        name = request.user.get_username()
        yield found.setdefault(name, FakeStore(name))

    monkeypatch.setattr(mailconn, "mail_store", mail_store)
    return found


def _client(address: str) -> Client:
    client = Client()
    client.force_login(User.objects.create(username=address, email=address))
    return client


@pytest.fixture
def alice(stores: dict[str, FakeStore]) -> tuple[Client, FakeStore]:
    client = _client("alice@example.test")
    client.get("/mail/INBOX/")
    return client, stores["alice@example.test"]


def test_the_fingerprint_changes_only_when_the_folder_does(alice: tuple[Client, FakeStore]
                                                           ) -> None:
    client, store = alice
    first = client.get("/mail/INBOX/?state=1")
    assert first.status_code == 200 and "no-store" in first["Cache-Control"]
    data = first.json()
    assert data["folder"] == "INBOX" and data["unread"]["INBOX"] == 0
    page = client.get("/mail/INBOX/").content.decode()
    assert f'data-state="{data["state"]}"' in page  # the page starts from the same point
    assert client.get("/mail/INBOX/?state=1").json()["state"] == data["state"]

    uid = store.append("INBOX", make_message(subject="new"))
    assert uid is not None
    second = client.get(f"/mail/INBOX/?state=1&since={data['inbox_uidnext']}").json()
    assert second["state"] != data["state"]
    assert second["unread"]["INBOX"] == 1 and second["unseen"] == 1
    assert second["newest"] == [{"uid": uid, "url": f"/mail/INBOX/{uid}/", "from":
                                 "sender@example.org", "subject": "new"}]
    store.set_flags("INBOX", [uid], ["\\Seen"], add=True)
    third = client.get("/mail/INBOX/?state=1").json()
    assert third["state"] != second["state"] and third["unread"]["INBOX"] == 0
    # Another folder's poll still reports the INBOX's arrivals (for notifications).
    other = client.get(f"/mail/Archive/?state=1&since={data['inbox_uidnext']}").json()
    assert other["folder"] == "Archive" and other["newest"] == []  # already read


def test_partials_carry_the_rows(alice: tuple[Client, FakeStore]) -> None:
    client, store = alice
    store.append("INBOX", make_message(subject="first"))
    listing = client.get("/mail/INBOX/?partial=list").content.decode()
    assert "<html" not in listing and "first" in listing
    assert 'name="uid"' in listing and 'class="pager"' in listing
    rows = client.get("/mail/INBOX/?partial=rows").content.decode()
    assert "first" in rows and 'name="uid"' not in rows


def test_another_user_never_sees_the_state_of_my_folders(alice: tuple[Client, FakeStore],
                                                         stores: dict[str, FakeStore]) -> None:
    _client_alice, store = alice
    store.append("INBOX", make_message(subject="private subject"))
    mallory = _client("mallory@example.test")
    data = mallory.get("/mail/INBOX/?state=1&since=1").json()
    assert data["unseen"] == 0 and data["newest"] == []
    assert "private subject" not in mallory.get("/mail/INBOX/?partial=list").content.decode()
    assert Client().get("/mail/INBOX/?state=1").status_code == 302  # signed out: to /login/


def _assets(html: str) -> list[str]:
    return re.findall(r'<script[^>]*\bsrc="/static/([^"]+)"', html) + re.findall(
        r'<link rel="stylesheet" href="/static/([^"]+)"', html)


def test_pages_render_without_waiting_for_scripts_and_stay_in_budget(
        alice: tuple[Client, FakeStore]) -> None:
    client, store = alice
    uid = store.append("INBOX", make_message(subject="budget"))
    pages = ["/mail/INBOX/", f"/mail/INBOX/{uid}/", "/compose/", "/outbox/", "/settings/",
             "/contacts/"]
    anonymous = Client().get("/login/").content.decode()
    for path, html in [("/login/", anonymous),
                       *((p, client.get(p).content.decode()) for p in pages)]:
        head = html.split("</head>", 1)[0]
        assert "<script" not in head, f"{path}: a script in <head> blocks rendering"
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert " defer" in tag and "src=" in tag, (path, tag)  # no inline scripts
        assert " on" not in " ".join(re.findall(r"<[a-z]+\b[^>]*\son\w+=", html)), path
        total = 0
        for asset in _assets(html):
            data = (STATIC / asset).read_bytes()
            total += len(gzip.compress(data, 9))
        assert 0 < total < BUDGET, (path, total)


def test_dates_follow_the_users_time_zone(alice: tuple[Client, FakeStore]) -> None:
    client, store = alice
    late = datetime(2024, 1, 2, 23, 30, tzinfo=UTC)  # already the 3rd in Tokyo
    uid = store.append("INBOX", make_message(subject="late", date=late), when=late)
    prefs = user_settings(User.objects.get(username="alice@example.test"))
    prefs.time_zone = "Asia/Tokyo"
    prefs.save()
    listing = client.get("/mail/INBOX/").content.decode()
    assert 'datetime="2024-01-03T08:30:00+09:00"' in listing
    message = client.get(f"/mail/INBOX/{uid}/").content.decode()
    assert "8:30" in message and "Jan. 3, 2024" in message
