"""Input that reaches IMAP (folder names, UIDs, search text, action fields) cannot inject.

Line breaks, NUL, IMAP literals (``{5}\\r\\n``), wildcards and absurd sizes get a clear 400
page; quotes and braces are just characters of a name that does not exist (404) or of a
search (200). Nothing answers 500, and after every attempt the Dovecot mailbox (folders,
messages, flags) is exactly what it was: no command was smuggled in.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client

from tests.security.conftest import Mailbox, drain, mailbox_state, without_seen

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]

INJECT = 'INBOX\r\nA1 DELETE INBOX\r\nA2 LOGOUT'
LITERAL = "{5}\r\nINBOX"
HUGE = "x" * 10_000
INVALID_PAGE = b"That request is not valid"


def _get(client: Client, path: str) -> int:
    response = client.get(path)
    status = response.status_code
    if status == 400:
        assert INVALID_PAGE in response.content, path  # the friendly page, not a bare 400
    drain(response)
    return status


@pytest.mark.parametrize(("name", "expected"), [
    (INJECT, {400}),
    (LITERAL, {400}),
    ("INBOX\x00", {400}),
    ("INBOX\r", {400}),
    ("*", {400}),
    ("%", {400}),
    ("INBOX/*", {400}),
    (HUGE, {400}),
    ('INBOX" DELETE "INBOX', {404}),
    ("{5}", {404}),
    ('"', {404}),
    ("\\", {404}),
    # Dovecot refuses this name itself ("Invalid mailbox name"); the gateway reports it as
    # invalid input: a 400, never a 500 or a 502.
    ("../../etc", {400, 404}),
    (" ", {400}),
])
def test_folder_names_in_urls(mailbox: Mailbox, name: str, expected: set[int]) -> None:
    before = mailbox_state(mailbox.persona)
    segment = quote(name, safe="")
    for path in (f"/mail/{segment}/", f"/mail/{segment}/{mailbox.uid}/",
                 f"/mail/{segment}/{mailbox.uid}/body/", f"/mail/{segment}/{mailbox.uid}/raw/",
                 f"/mail/{segment}/{mailbox.uid}/part/2/"):
        assert _get(mailbox.client, path) in expected, path
    assert without_seen(mailbox_state(mailbox.persona)) == without_seen(before)


@pytest.mark.parametrize("uid", ["0", "4294967296", "99999999999", "18446744073709551617",
                                 "0000000000001"])
def test_uids_out_of_range(mailbox: Mailbox, uid: str) -> None:
    before = mailbox_state(mailbox.persona)
    for suffix in ("", "body/", "raw/", "part/2/"):
        assert _get(mailbox.client, f"/mail/INBOX/{uid}/{suffix}") in {400, 404}, uid
    assert mailbox_state(mailbox.persona) == before


def test_uid_sets_are_not_uids(mailbox: Mailbox) -> None:
    before = mailbox_state(mailbox.persona)
    for uid in ("1:*", "1,2", "*", "1 2"):
        assert _get(mailbox.client, f"/mail/INBOX/{quote(uid, safe='')}/") in {400, 404}, uid
    assert mailbox_state(mailbox.persona) == before


@pytest.mark.parametrize(("query", "expected"), [
    ("a\r\nA1 DELETE INBOX", {400}),
    ("{5}\r\nhello", {400}),
    ("x" * 300, {400}),
    ('"', {200}),
    ('" OR ALL "', {200}),
    ("(x", {200}),
    ("\\", {200}),
    ("ÄÖÜ 日本", {200}),
])
def test_search_text(mailbox: Mailbox, query: str, expected: set[int]) -> None:
    before = mailbox_state(mailbox.persona)
    for field in ("all", "from", "to", "subject", "body"):
        path = f"/mail/INBOX/?q={quote(query)}&field={field}"
        assert _get(mailbox.client, path) in expected, path
    assert mailbox_state(mailbox.persona) == before


@pytest.mark.parametrize("field", ["body", "all"])
def test_search_text_with_literal_syntax_is_only_text(mailbox: Mailbox, field: str) -> None:
    """``{5}`` ends the SEARCH/SORT line when it is the last criterion (field=body): sent
    unquoted, the server takes it for a literal and waits for 5 more bytes. It must go out as
    a quoted string (or a literal of its own) and simply find nothing. A hostile mail can link
    to such a search, so this is reachable with one click."""
    before = mailbox_state(mailbox.persona)
    for text in ("{5}", "x {0+}"):
        path = f"/mail/INBOX/?q={quote(text)}&field={field}"
        assert _get(mailbox.client, path) == 200, path
    assert mailbox_state(mailbox.persona) == before


def test_list_parameters_never_fail(mailbox: Mailbox) -> None:
    for query in ("page=-1", "page=99999999999999999999", "page=x", "sort=x%0d%0a",
                  "sort=date%20REVERSE", "dir=%00", "field=x%0d%0aA1", "page_size=100000"):
        assert _get(mailbox.client, f"/mail/INBOX/?{query}") in {200, 400}, query


def test_action_fields(mailbox: Mailbox) -> None:
    """Posted targets, UIDs and folder names: refused (an error message or 400), never run."""
    client = mailbox.client
    before = mailbox_state(mailbox.persona)
    posts = [
        ("/mail/INBOX/", {"action": "move", "uid": mailbox.uid, "target": INJECT}),
        ("/mail/INBOX/", {"action": "move", "uid": mailbox.uid, "target": LITERAL}),
        ("/mail/INBOX/", {"action": "move", "uid": mailbox.uid, "target": HUGE}),
        ("/mail/INBOX/", {"action": "move", "uid": mailbox.uid, "target": "Nope\" \"Trash"}),
        ("/mail/INBOX/", {"action": "delete", "uid": "1:*"}),
        ("/mail/INBOX/", {"action": "delete", "uid": "-1"}),
        ("/mail/INBOX/", {"action": "delete", "uid": "4294967296"}),
        ("/mail/INBOX/", {"action": "flag", "uid": [str(n) for n in range(1, 6000)]}),
        ("/mail/INBOX/", {"action": "flag\r\nA1 EXPUNGE", "uid": mailbox.uid}),
        ("/mail/INBOX/", {"action": "folder_create", "name": "New\r\nA1 DELETE INBOX"}),
        ("/mail/INBOX/", {"action": "folder_create", "name": LITERAL}),
        ("/mail/INBOX/", {"action": "folder_create", "name": "a*b"}),
        ("/mail/INBOX/", {"action": "folder_create", "name": HUGE}),
        ("/mail/INBOX/", {"action": "folder_create", "name": "x", "parent": INJECT}),
        ("/mail/Trash/", {"action": "folder_rename", "name": "T\r\nA1 DELETE INBOX"}),
        (f"/mail/INBOX/{mailbox.uid}/", {"action": "move", "target": INJECT}),
    ]
    for path, data in posts:
        response = client.post(path, data)
        # 404: the posted target folder does not exist.
        assert response.status_code in {200, 302, 400, 404}, (path, data, response.status_code)
        if response.status_code == 400:  # the error page, Django's, or the form with its error
            assert any(text in response.content for text in (
                INVALID_PAGE, b"Bad Request", b'class="field-error"')), (path, data)
    assert without_seen(mailbox_state(mailbox.persona)) == without_seen(before)
