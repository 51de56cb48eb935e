"""German is complete: the catalogue has no empty or fuzzy entry and the committed .mo says the
same as the .po; with language=de (the user's setting, or Accept-Language for a visitor) the
main pages show German words and none of the English ones on a checklist, in the text and in
the labels screen readers announce; the browser scripts speak German too."""

from __future__ import annotations

import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import FilePayload, expect

from accounts.models import User
from tests.conftest import Persona, make_message, sign_in
from tests.ux.conftest import UX
from tests.ux.sample import fill_outbox

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "de" / "LC_MESSAGES"

# English UI words that must not survive in the German pages (whole words, case-sensitive).
ENGLISH = ["Inbox", "Compose", "Contacts", "Outbox", "Settings", "Sign out", "Sign in", "Reply",
           "Reply all", "Forward", "Delete", "Search", "Subject", "Send", "Save draft",
           "Attachments", "Mark read", "Mark unread", "Move to", "Flag", "Keyboard shortcuts",
           "Previous", "Next", "Back to", "unread", "Drafts", "Trash", "Folders", "Password",
           "Email address", "Skip to content", "Dark mode", "Remove", "Add files", "Discard",
           "Rich text", "Bold", "Recipients", "State", "Created", "Save settings", "Language",
           "Time zone", "Preferences", "Close", "Everywhere", "View source", "choose a folder",
           "This folder is empty", "Nothing sent yet", "delivered", "bounced", "deferred"]
GERMAN = {"/login/": ["Anmelden", "Passwort"],
          "/mail/INBOX/": ["Posteingang", "Schreiben", "Als gelesen markieren", "Abmelden"],
          "message": ["Antworten", "Weiterleiten", "Zurück zu", "Nachrichtentext"],
          "/compose/": ["Neue Nachricht", "Senden", "Entwurf speichern", "Anhänge"],
          "/outbox/": ["Postausgang", "Empfänger", "zugestellt", "unzustellbar"],
          "/settings/": ["Einstellungen", "Sprache", "Zeitzone", "Einstellungen speichern"]}


Entry = tuple[list[str], str | None, list[str], str | None]


def _entries(po: Path) -> list[Entry]:
    """(flags, msgid, msgstrs, msgctxt) of each entry, read plainly (no gettext tools)."""
    entries: list[Entry] = []
    flags: list[str] = []
    context: str | None = None
    msgid: str | None = None
    strs: list[str] = []
    current: list[str] | None = None
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if msgid is not None:
                entries.append((flags, msgid, strs, context))
            flags, msgid, strs, current, context = [], None, [], None, None
        elif line.startswith("msgctxt "):
            context = _unquote(line[8:])
        elif line.startswith("#,"):
            flags = [f.strip() for f in line[2:].split(",")]
        elif line.startswith("msgid "):
            msgid = _unquote(line[6:])
            current = None
        elif line.startswith("msgstr"):
            strs.append(_unquote(line.split(" ", 1)[1]))
            current = strs
        elif line.startswith('"') and current is strs and strs:
            strs[-1] += _unquote(line)
        elif line.startswith('"') and msgid is not None and current is None:
            msgid += _unquote(line)
    return entries


def _unquote(text: str) -> str:
    return text.strip()[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def test_the_german_catalogue_is_complete_and_compiled() -> None:
    entries = [e for e in _entries(LOCALE / "django.po") if e[1]]
    assert len(entries) > 500
    empty = [e[1] for e in entries if not all(s.strip() for s in e[2])]
    fuzzy = [e[1] for e in entries if "fuzzy" in e[0]]
    assert not empty, empty[:20]
    assert not fuzzy, fuzzy[:20]
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for _flags, msgid, strs, context in entries:
        assert msgid is not None
        if len(strs) == 1:
            found = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
            assert found == strs[0], f"django.mo is older than the .po: {msgid!r}"


class _Words(HTMLParser):
    """The words a person sees or hears: text, and the labels of controls."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip += 1
        for name, value in attrs:
            # Labels; and the translated words scripts use (data-* with a space in them).
            if value and (name in ("aria-label", "title", "placeholder", "alt")
                          or (name.startswith("data-") and " " in value)):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _english_left(html: str) -> list[str]:
    parser = _Words()
    parser.feed(html)
    text = " \n ".join(parser.parts)
    return [w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


@pytest.mark.dovecot
@pytest.mark.django_db
def test_main_pages_are_german_for_a_german_user(alice: Persona) -> None:
    uid = alice.append(make_message(subject="Quartalsbericht", sender="Katrin <k@example.org>",
                                    text="Hallo!"))
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="de")
    login = anonymous.get("/login/").content.decode()
    assert _english_left(login) == []
    for word in GERMAN["/login/"]:
        assert word in login

    client = sign_in(Client(), alice)
    response = client.post("/settings/", {
        "display_name": "Alice", "page_size": "50", "remote_content": "never",
        "time_zone": "Europe/Berlin", "language": "de", "theme": "system",
        "compose_format": "plain"})
    assert response.status_code == 302
    fill_outbox(User.objects.get(username=alice.address), alice.address)
    for path, words in (("/mail/INBOX/", GERMAN["/mail/INBOX/"]),
                        (f"/mail/INBOX/{uid}/", GERMAN["message"]),
                        ("/compose/", GERMAN["/compose/"]), ("/outbox/", GERMAN["/outbox/"]),
                        ("/settings/", GERMAN["/settings/"]),
                        ("/mail/INBOX/?manage=folders", ["Ordner anlegen", "Neuer Ordner"])):
        html = client.get(path).content.decode()
        assert 'lang="de"' in html, path
        assert _english_left(html) == [], path
        for word in words:
            assert word in html, (path, word)


@pytest.mark.browser
@pytest.mark.dovecot
@pytest.mark.django_db(transaction=True)
def test_the_scripts_speak_german(ux: UX) -> None:
    page = ux.page(locale="de-DE")
    page.goto(ux.url("/login/"))
    expect(page.locator("h1")).to_have_text("Bei Ihrem Postfach anmelden")
    ux.sign_in(page)
    page.goto(ux.url("/compose/"))
    expect(page.locator(".editor-toolbar .mode")).to_have_text("Formatierter Text")
    note: FilePayload = {"name": "a.txt", "mimeType": "text/plain", "buffer": b"a"}
    page.set_input_files("#id_files", files=[note])
    expect(page.locator("#attachment-list .remove-upload")).to_have_text("Entfernen")
    expect(page.locator("#draft-status")).to_contain_text("angehängt")
    page.goto(ux.url("/mail/INBOX/"))
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-title")).to_have_text("Tastenkürzel")
    page.keyboard.press("Escape")
    page.keyboard.press("e")  # nothing under the cursor: a spoken hint, in German
    expect(page.locator("#live-status")).to_contain_text("Wählen Sie zuerst")
