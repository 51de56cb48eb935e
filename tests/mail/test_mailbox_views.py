"""The mailbox page, actions and folder management, with a FakeStore behind the views."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client

from tests.conftest import make_message
from tests.mail.conftest import T0, FakeMail
from webmail.imap.fake import FakeStore

pytestmark = pytest.mark.django_db


def _rows(html: str) -> list[str]:
    """Subjects of the listed messages, in page order."""
    return re.findall(r'<td class="col-subject"><a href="[^"]*">([^<]*)</a>', html)


def test_inbox_lists_newest_first_with_paging(client_alice: Client, alice_store: FakeStore,
                                              fill: Callable[..., list[int]]) -> None:
    fill(alice_store, 120)
    page1 = client_alice.get("/mail/INBOX/")
    assert page1.status_code == 200
    html = page1.content.decode()
    assert _rows(html)[:2] == ["Message 00119", "Message 00118"]
    assert len(_rows(html)) == 50
    assert "1\u201350 of 120" in html
    page2 = client_alice.get("/mail/INBOX/?page=2").content.decode()
    assert _rows(page2)[0] == "Message 00069" and "51\u2013100 of 120" in page2
    last = client_alice.get("/mail/INBOX/?page=999").content.decode()
    assert _rows(last)[-1] == "Message 00000" and "101\u2013120 of 120" in last
    assert 'href="/mail/INBOX/?page=2"' in page1.content.decode()  # next
    assert 'href="/mail/INBOX/?page=3"' in page1.content.decode()  # last


def test_a_page_fetches_only_its_own_messages(client_alice: Client, alice_store: FakeStore,
                                              fill: Callable[..., list[int]]) -> None:
    uids = fill(alice_store, 120)
    client_alice.get("/mail/INBOX/?page=2")
    fetched = [c for c in alice_store.calls if c[0] == "fetch_summaries"]
    assert fetched == [("fetch_summaries", "INBOX", tuple(uids[::-1][50:100]))]
    assert not [c for c in alice_store.calls if c[0] in ("fetch_message", "fetch_sort_values")]
    alice_store.calls.clear()
    client_alice.get("/mail/INBOX/?page=3")
    assert not [c for c in alice_store.calls if c[0] == "sorted_uids"]  # the index is cached


@pytest.mark.parametrize("sort_capability", [True, False])
@pytest.mark.parametrize(("query", "expected"), [
    ("?sort=subject&dir=asc", ["apple", "banana", "cherry"]),
    ("?sort=subject", ["cherry", "banana", "apple"]),
    ("?sort=from&dir=asc", ["cherry", "apple", "banana"]),  # Ann, Bea, Cid
    ("?sort=size", ["banana", "cherry", "apple"]),
    ("?sort=date&dir=asc", ["apple", "banana", "cherry"]),
    ("?sort=nonsense", ["cherry", "banana", "apple"]),  # unknown: newest first
])
def test_sorting(fake_mail: FakeMail, client_alice: Client, sort_capability: bool, query: str,
                 expected: list[str]) -> None:
    store = fake_mail.store("alice@example.test", sort_capability=sort_capability)
    for i, (subject, sender, size) in enumerate([("apple", "Bea <b@x.org>", 10),
                                                 ("banana", "Cid <c@x.org>", 900),
                                                 ("cherry", "Ann <a@x.org>", 300)]):
        store.append("INBOX", make_message(subject=subject, sender=sender, text="a" * size),
                     when=T0 + timedelta(minutes=i))
    html = client_alice.get("/mail/INBOX/" + query).content.decode()
    assert _rows(html) == expected


def test_sent_lists_recipients_and_sorts_by_them(client_alice: Client,
                                                 alice_store: FakeStore) -> None:
    alice_store.append("Sent", make_message(subject="one", to="Zed <z@x.org>"))
    alice_store.append("Sent", make_message(subject="two", to="Amy <a@x.org>"))
    html = client_alice.get("/mail/Sent/?sort=from&dir=asc").content.decode()
    assert ">To</a>" in html and "Zed" in html
    assert _rows(html) == ["two", "one"]


def test_row_markers(client_alice: Client, alice_store: FakeStore) -> None:
    alice_store.append("INBOX", make_message(subject="plain"), flags=["\\Seen"])
    alice_store.append("INBOX", make_message(
        subject="marked", attachments=[("a.pdf", "application/pdf", b"%PDF")]),
        flags=["\\Flagged", "\\Answered"])
    html = client_alice.get("/mail/INBOX/").content.decode()
    rows = {("marked" if ">marked<" in row else "plain"): row
            for row in html.split('<tr class="message-row')[1:]}
    assert rows["marked"].startswith(' unread flagged"')
    for mark in ("mark flag", "mark answered", "mark attachment"):
        assert mark in rows["marked"] and mark not in rows["plain"]
    assert rows["plain"].startswith('">')


def test_search_by_field(client_alice: Client, alice_store: FakeStore) -> None:
    alice_store.append("INBOX", make_message(subject="invoice May", sender="acme@x.org"))
    alice_store.append("INBOX", make_message(subject="hello", sender="invoice@x.org",
                                             text="nothing"))
    alice_store.append("INBOX", make_message(subject="other", text="see the invoice"))
    assert len(_rows(client_alice.get("/mail/INBOX/?q=invoice").content.decode())) == 3
    assert _rows(client_alice.get(
        "/mail/INBOX/?q=invoice&field=subject").content.decode()) == ["invoice May"]
    assert _rows(client_alice.get(
        "/mail/INBOX/?q=invoice&field=from").content.decode()) == ["hello"]
    assert _rows(client_alice.get(
        "/mail/INBOX/?q=invoice&field=body").content.decode()) == ["other"]
    html = client_alice.get("/mail/INBOX/?q=nomatch").content.decode()
    assert "No messages match" in html


def test_folder_tree_has_special_folders_first_and_counts(client_alice: Client,
                                                          alice_store: FakeStore) -> None:
    alice_store.create_folder("Projects/Alpha")
    alice_store.create_folder("aaa")
    alice_store.append("Projects/Alpha", make_message(subject="x"))
    alice_store.append("INBOX", make_message(subject="y"))
    alice_store.append("INBOX", make_message(subject="z"), flags=["\\Seen"])
    html = client_alice.get("/mail/INBOX/").content.decode()
    names = re.findall(r'<span class="folder-name[^"]*">([^<]*)</span>', html)
    assert names == ["Inbox", "Drafts", "Sent", "Archive", "Junk", "Trash", "aaa", "Projects",
                     "Alpha"]
    assert 'href="/mail/Projects%2FAlpha/"' in html
    inbox = html[html.index('href="/mail/INBOX/"'):html.index("</a>", html.index(
        'href="/mail/INBOX/"'))]
    assert '<span class="count">1' in inbox


def test_actions_flags_move_delete(client_alice: Client, alice_store: FakeStore,
                                   fill: Callable[..., list[int]]) -> None:
    uids = fill(alice_store, 4)
    client_alice.get("/mail/INBOX/")  # builds the index
    response = client_alice.post("/mail/INBOX/", {"action": "read", "uid": [uids[0], uids[1]]})
    assert response.status_code == 302 and response["Location"] == "/mail/INBOX/"
    assert alice_store.folder_status("INBOX").unseen == 2
    client_alice.post("/mail/INBOX/", {"action": "flag", "uid": [uids[2]]})
    assert "\\Flagged" in alice_store.fetch_summaries("INBOX", [uids[2]])[0].flags
    client_alice.post("/mail/INBOX/", {"action": "unread", "uid": [uids[0]]})
    assert "\\Seen" not in alice_store.fetch_summaries("INBOX", [uids[0]])[0].flags
    response = client_alice.post("/mail/INBOX/", {"action": "move", "target": "Archive",
                                                  "uid": [uids[3]], "sort": "subject"})
    assert response["Location"] == "/mail/INBOX/?sort=subject"
    assert alice_store.folder_status("Archive").messages == 1
    client_alice.post("/mail/INBOX/", {"action": "delete", "uid": [uids[0]]})
    assert alice_store.folder_status("Trash").messages == 1
    assert alice_store.folder_status("INBOX").messages == 2
    page = client_alice.get("/mail/INBOX/").content.decode()
    assert _rows(page) == ["Message 00002", "Message 00001"]


def test_delete_in_trash_asks_first(client_alice: Client, alice_store: FakeStore,
                                    fill: Callable[..., list[int]]) -> None:
    uids = fill(alice_store, 2, folder="Trash")
    response = client_alice.post("/mail/Trash/", {"action": "delete", "uid": uids})
    assert response.status_code == 200
    assert "Delete for good?" in response.content.decode()
    assert alice_store.folder_status("Trash").messages == 2
    response = client_alice.post("/mail/Trash/", {"action": "delete", "uid": uids,
                                                  "confirm": "1"})
    assert response.status_code == 302
    assert alice_store.folder_status("Trash").messages == 0


def test_action_input_is_validated(client_alice: Client, alice_store: FakeStore,
                                   fill: Callable[..., list[int]]) -> None:
    uids = fill(alice_store, 1)
    for bad in ("abc", "-1", "99999999999", "1 OR 2", "0"):
        response = client_alice.post("/mail/INBOX/", {"action": "read", "uid": [bad]})
        assert response.status_code == 400, bad
    response = client_alice.post("/mail/INBOX/", {"action": "move", "uid": uids,
                                                  "target": "Bad\r\nName"})
    assert response.status_code == 400
    response = client_alice.post("/mail/INBOX/", {"action": "move", "uid": uids,
                                                  "target": "Nowhere"})
    assert response.status_code == 404
    response = client_alice.post("/mail/INBOX/", {"action": "explode", "uid": uids})
    assert response.status_code == 302
    assert alice_store.folder_status("INBOX").messages == 1


@pytest.mark.parametrize("url", [
    "/mail/IN%0D%0ABOX/", "/mail/IN%0ABOX/", "/mail/IN%00BOX/", "/mail/a%2A/", "/mail/a%25b/",
    "/mail/" + "x" * 600 + "/", "/mail/INBOX/?q=" + "a" * 300, "/mail/INBOX/?q=a%0D%0Ab",
    "/mail/INBOX/99999999999/", "/mail/INBOX/4294967296/body/",
])
def test_bad_input_is_a_clear_400(client_alice: Client, alice_store: FakeStore,
                                  url: str) -> None:
    response = client_alice.get(url)
    assert response.status_code == 400
    assert b"That request is not valid" in response.content


def test_missing_folder_and_message_are_404(client_alice: Client, alice_store: FakeStore) -> None:
    assert client_alice.get("/mail/Nope/").status_code == 404
    assert client_alice.get("/mail/INBOX/77/").status_code == 404
    assert client_alice.get("/mail/INBOX/77/body/").status_code == 404
    assert client_alice.get("/mail/INBOX/77/raw/").status_code == 404
    assert client_alice.get("/mail/INBOX/77/part/2/").status_code == 404


def test_a_folder_named_like_a_number_is_still_a_folder(client_alice: Client,
                                                        alice_store: FakeStore) -> None:
    alice_store.create_folder("Archive/2024")
    alice_store.append("Archive/2024", make_message(subject="old news"))
    response = client_alice.get("/mail/Archive%2F2024/")
    assert response.status_code == 200
    assert _rows(response.content.decode()) == ["old news"]


def test_folder_create_rename_delete(client_alice: Client, alice_store: FakeStore) -> None:
    page = client_alice.get("/mail/INBOX/?manage=folders")
    assert page.status_code == 200 and b"New folder" in page.content
    response = client_alice.post("/mail/INBOX/", {"action": "folder_create", "name": "Work",
                                                  "parent": ""})
    assert response.status_code == 302 and response["Location"] == "/mail/Work/"
    client_alice.post("/mail/INBOX/", {"action": "folder_create", "name": "Sub",
                                       "parent": "Work"})
    assert {"Work", "Work/Sub"} <= {f.name for f in alice_store.list_folders()}
    bad = client_alice.post("/mail/INBOX/", {"action": "folder_create", "name": "a/b"})
    assert bad.status_code == 400 and "cannot contain" in bad.content.decode()
    exists = client_alice.post("/mail/INBOX/", {"action": "folder_create", "name": "Work"})
    assert exists.status_code == 302
    assert "refused" in client_alice.get(exists["Location"]).content.decode()
    rename_page = client_alice.get("/mail/Work%2FSub/?manage=rename")
    assert b'value="Sub"' in rename_page.content
    response = client_alice.post("/mail/Work%2FSub/", {"action": "folder_rename",
                                                       "name": "Renamed", "parent": "Work"})
    assert response["Location"] == "/mail/Work%2FRenamed/"
    ask = client_alice.post("/mail/Work%2FRenamed/", {"action": "folder_delete"})
    assert ask.status_code == 200 and b"Delete the folder" in ask.content
    assert "Work/Renamed" in {f.name for f in alice_store.list_folders()}
    done = client_alice.post("/mail/Work%2FRenamed/", {"action": "folder_delete",
                                                      "confirm": "1"})
    assert done.status_code == 302
    assert "Work/Renamed" not in {f.name for f in alice_store.list_folders()}


def test_special_folders_cannot_be_renamed_or_deleted(client_alice: Client,
                                                      alice_store: FakeStore) -> None:
    for folder in ("INBOX", "Trash"):
        client_alice.post(f"/mail/{folder}/", {"action": "folder_delete", "confirm": "1"})
        client_alice.post(f"/mail/{folder}/", {"action": "folder_rename", "name": "X"})
    names = {f.name for f in alice_store.list_folders()}
    assert {"INBOX", "Trash"} <= names and "X" not in names


def test_csrf_is_enforced_on_actions(csrf_client_alice: Client, fake_mail: FakeMail,
                                     fill: Callable[..., list[int]]) -> None:
    store = fake_mail.store("alice-csrf@example.test")
    uids = fill(store, 1)
    response = csrf_client_alice.post("/mail/INBOX/", {"action": "delete", "uid": uids})
    assert response.status_code == 403
    response = csrf_client_alice.post(f"/mail/INBOX/{uids[0]}/", {"action": "delete"})
    assert response.status_code == 403
    response = csrf_client_alice.post("/mail/INBOX/", {"action": "folder_create",
                                                       "name": "X"})
    assert response.status_code == 403
    assert store.folder_status("INBOX").messages == 1


@pytest.mark.parametrize("url", ["/mail/", "/mail/INBOX/", "/mail/INBOX/1/",
                                 "/mail/INBOX/1/body/", "/mail/INBOX/1/raw/",
                                 "/mail/INBOX/1/part/2/", "/mail/INBOX/?manage=folders"])
def test_anonymous_is_sent_to_login(client: Client, fake_mail: FakeMail, url: str) -> None:
    for response in (client.get(url), client.post(url, {"action": "delete", "uid": "1"})):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_inbox_listing_calls_the_bounce_hook(client_alice: Client, alice_store: FakeStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from webmail.mail import hooks

    seen: list[object] = []
    monkeypatch.setattr(hooks, "after_inbox_listing", lambda store, user: seen.append(store))
    client_alice.get("/mail/Sent/")
    assert seen == []
    client_alice.get("/mail/INBOX/")
    assert seen == [alice_store]
