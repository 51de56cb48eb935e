"""A reused (pooled) connection must catch up before a request acts on its selected folder."""

from __future__ import annotations

import pytest

from tests.conftest import Persona, make_message
from webmail.imap.gateway import ImapStore
from webmail.imap.types import Credentials, ServerAddress

pytestmark = pytest.mark.dovecot


def test_refresh_shows_what_other_sessions_did(alice: Persona) -> None:
    first = alice.append(make_message(subject="first"))
    with ImapStore.open(ServerAddress("127.0.0.1", 10143),
                        Credentials(alice.address, alice.password)) as store:
        assert [s.uid for s in store.fetch_summaries("INBOX", [first])] == [first]
        second = alice.append(make_message(subject="second"))  # another session
        # Dovecot has not told this session yet: the new UID is invisible, and STORE on it
        # would be ignored silently. That is what refresh() is for.
        assert store.fetch_summaries("INBOX", [second]) == []
        third = alice.append(make_message(subject="third"))
        store.refresh()
        assert [s.uid for s in store.fetch_summaries("INBOX", [third])] == [third]
        assert store.folder_status("INBOX").messages == 3
        store.set_flags("INBOX", [third], ["\\Flagged"], add=True)
    assert "\\Flagged" in alice.flags(third)


def test_refresh_without_a_selected_folder_sends_nothing(alice: Persona) -> None:
    with ImapStore.open(ServerAddress("127.0.0.1", 10143),
                        Credentials(alice.address, alice.password)) as store:
        store.refresh()  # fresh connection: nothing selected, no round trip needed
        assert store.folder_status("INBOX").messages == 0
