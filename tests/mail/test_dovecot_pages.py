"""The mail pages end to end: signed-in Django test clients against the real Dovecot."""

from __future__ import annotations

import csv
import os
import re
import socket
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import Domain, ServerProfile
from tests.conftest import Persona, make_message
from webmail.imap.gateway import ImapStore
from webmail.imap.types import Credentials, ServerAddress

pytestmark = [pytest.mark.django_db, pytest.mark.dovecot]

REPO = Path(__file__).resolve().parents[2]
CORPORA = Path(os.environ.get("WEBMAIL_CORPORA") or REPO.parent / "shared" / "corpora")


def _content(response: object) -> bytes:
    streaming = getattr(response, "streaming_content", None)
    if streaming is not None:
        return b"".join(streaming)
    return bytes(getattr(response, "content", b""))


def _subjects(html: str) -> list[str]:
    return re.findall(r'<td class="col-subject"><a href="[^"]*">([^<]*)</a>', html)


def test_read_a_message_end_to_end(alice_client: Client, alice: Persona) -> None:
    payload = bytes(range(256)) * 9000  # 2.3 MB: streamed in several 1 MiB ranges
    uid = alice.append(make_message(subject="Quarterly report", sender="Bo <bo@example.org>",
                                    text="Numbers inside.",
                                    attachments=[("report.bin", "application/octet-stream",
                                                  payload)]))
    alice.append(make_message(subject="Older note"))
    listing = alice_client.get("/mail/INBOX/")
    assert listing.status_code == 200
    assert _subjects(listing.content.decode()) == ["Older note", "Quarterly report"]
    assert "\\Seen" not in alice.flags(uid)
    view = alice_client.get(f"/mail/INBOX/{uid}/")
    assert view.status_code == 200
    html = view.content.decode()
    assert "Bo &lt;bo@example.org&gt;" in html and "report.bin" in html
    assert "\\Seen" in alice.flags(uid)
    body = alice_client.get(f"/mail/INBOX/{uid}/body/")
    assert body.status_code == 200 and "Numbers inside." in body.content.decode()
    part = alice_client.get(f"/mail/INBOX/{uid}/part/2/")
    assert part.status_code == 200 and _content(part) == payload
    raw = alice_client.get(f"/mail/INBOX/{uid}/raw/")
    assert b"Subject: Quarterly report" in _content(raw)


def test_actions_reach_the_server(alice_client: Client, alice: Persona) -> None:
    first = alice.append(make_message(subject="one"))
    second = alice.append(make_message(subject="two"))
    alice_client.get("/mail/INBOX/")
    alice_client.post("/mail/INBOX/", {"action": "flag", "uid": [first]})
    assert "\\Flagged" in alice.flags(first)
    alice_client.post("/mail/INBOX/", {"action": "delete", "uid": [second]})
    assert alice.uids("INBOX") == [first] and len(alice.uids("Trash")) == 1
    trash_uid = alice.uids("Trash")[0]
    ask = alice_client.post("/mail/Trash/", {"action": "delete", "uid": [trash_uid]})
    assert ask.status_code == 200 and alice.uids("Trash") == [trash_uid]
    alice_client.post("/mail/Trash/", {"action": "delete", "uid": [trash_uid], "confirm": "1"})
    assert alice.uids("Trash") == []
    assert _subjects(alice_client.get("/mail/INBOX/").content.decode()) == ["one"]


def test_search_is_never_command_injection(alice_client: Client, alice: Persona) -> None:
    alice.append(make_message(subject="plain one"))
    alice.append(make_message(subject="plain two"))
    tricky = '") OR ALL ("'
    alice.append(make_message(subject=f"literally {tricky} here"))
    for field in ("all", "subject", "from", "body"):
        response = alice_client.get("/mail/INBOX/", {"q": tricky, "field": field})
        assert response.status_code == 200
        expected = [f"literally {tricky} here"] if field in ("all", "subject") else []
        assert [s.replace("&quot;", '"') for s in _subjects(response.content.decode())] \
            == expected, field
    for bad in ("x\r\nA1 LOGOUT", "y" * 300):
        assert alice_client.get("/mail/INBOX/", {"q": bad}).status_code == 400


def test_folders_on_the_server(alice_client: Client, alice: Persona) -> None:
    response = alice_client.post("/mail/INBOX/", {"action": "folder_create", "name": "Année 2024",
                                                  "parent": ""})
    assert response.status_code == 302
    location = response["Location"]
    assert location == "/mail/Ann%C3%A9e%202024/"
    page = alice_client.get(location)
    assert page.status_code == 200 and "Année 2024" in page.content.decode()
    alice_client.post(location, {"action": "folder_delete", "confirm": "1"})
    html = alice_client.get("/mail/INBOX/").content.decode()
    assert "Année 2024" not in html.split('<nav class="folders"')[1]


def test_mallory_cannot_read_alices_mail(alice_client: Client, mallory_client: Client,
                                         alice: Persona) -> None:
    uid = alice.append(make_message(subject="for alice only", text="the secret plan",
                                    attachments=[("plan.txt", "text/plain", b"secret plan")]))
    assert alice_client.get(f"/mail/INBOX/{uid}/").status_code == 200
    for suffix in ("", "body/", "raw/", "part/2/"):
        response = mallory_client.get(f"/mail/INBOX/{uid}/{suffix}")
        assert response.status_code == 404, suffix
        assert b"secret" not in _content(response)
    assert b"for alice only" not in mallory_client.get("/mail/INBOX/").content
    mallory_client.post("/mail/INBOX/", {"action": "delete", "uid": [uid]})
    assert alice.uids() == [uid]


def test_csrf_is_required_with_real_sessions(alice: Persona) -> None:
    client = Client(enforce_csrf_checks=True)
    login = client.get("/login/")
    token = login.cookies["csrftoken"].value
    client.post("/login/", {"username": alice.address, "password": alice.password,
                            "csrfmiddlewaretoken": token})
    uid = alice.append(make_message(subject="keep me"))
    assert client.post("/mail/INBOX/", {"action": "delete", "uid": [uid]}).status_code == 403
    assert alice.uids() == [uid]
    page = client.get("/mail/INBOX/")
    token = client.cookies["csrftoken"].value
    assert page.status_code == 200
    ok = client.post("/mail/INBOX/", {"action": "delete", "uid": [uid],
                                      "csrfmiddlewaretoken": token})
    assert ok.status_code == 302 and alice.uids() == []


def test_a_server_that_is_down_gives_the_friendly_503(alice_client: Client) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    profile = ServerProfile.objects.create(name="down", imap_host="127.0.0.1",
                                           imap_port=closed_port, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=closed_port,
                                           timeout=3)
    Domain.objects.create(name="example.test", profile=profile)
    response = alice_client.get("/mail/INBOX/")
    assert response.status_code == 503
    assert "The mail server is not answering" in response.content.decode()


def test_every_corpus_message_opens_without_a_server_error(alice_client: Client,
                                                           alice: Persona) -> None:
    """Malformed mail never produces a 500: view, body and source of the whole MIME corpus."""
    with (CORPORA / "mime" / "INDEX.tsv").open(newline="") as index:
        files = [row["file"] for row in csv.DictReader(index, delimiter="\t")]
    assert len(files) > 100
    server = ServerAddress("127.0.0.1", 10143)
    failures: list[str] = []
    for start in range(0, len(files), 40):
        batch = files[start:start + 40]
        with ImapStore.open(server, Credentials(alice.address, alice.password)) as store:
            uids = [store.append("INBOX", (CORPORA / "mime" / name).read_bytes())
                    for name in batch]
        for name, uid in zip(batch, uids, strict=True):
            assert uid is not None
            html = ""
            for suffix in ("", "body/", "raw/"):
                response = alice_client.get(f"/mail/INBOX/{uid}/{suffix}")
                content = _content(response)
                html = html or content.decode()
                if response.status_code != 200:
                    failures.append(f"{name} {suffix or 'view'}: {response.status_code}")
            for url in re.findall(r'<a href="(/mail/INBOX/\d+/part/[0-9.]+/)" download>',
                                  html)[:3]:
                response = alice_client.get(url)
                _content(response)
                if response.status_code != 200:
                    failures.append(f"{name} {url}: {response.status_code}")
    assert failures == []
    listing = alice_client.get("/mail/INBOX/?page=2")
    assert listing.status_code == 200
