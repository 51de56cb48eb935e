"""vCard parsing and writing: pure tests, no database."""

from __future__ import annotations

import pytest

from webmail.compose import vcard
from webmail.compose.vcard import Card, VcardError, cards_parse, cards_serialize


def test_round_trip_keeps_every_field_and_special_characters() -> None:
    cards = [
        Card('Doe, Jane; "JD"', "jane@example.test", "+49 30 1234", "line one\nline two"),
        Card("", "nobody@example.test"),
        Card("Jürgen Äpfel", "j@bücher.example"),
    ]
    text = cards_serialize(cards)
    assert text.count("BEGIN:VCARD") == 3
    assert "\r\n" in text
    parsed, without = cards_parse(text.encode("utf-8"))
    assert parsed == cards
    assert without == 0


def test_vcard_21_with_preferred_address_and_structured_name() -> None:
    data = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Doe;John;;;\r\nEMAIL;INTERNET:first@x.test\r\n"
        b"EMAIL;INTERNET;PREF:pref@x.test\r\nTEL;CELL:0123\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Roe;Rita;Q;Dr.;\r\nEMAIL;TYPE=work:rita@x.test\r\n"
        b"NOTE:met at the conference\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:No Address\r\nTEL:1\r\nEND:VCARD\r\n"
    )
    parsed, without = cards_parse(data)
    assert parsed == [
        Card("John Doe", "pref@x.test", "0123", ""),
        Card("Dr. Rita Q Roe", "rita@x.test", "", "met at the conference"),
    ]
    assert without == 1


def test_latin1_file_is_read() -> None:
    data = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë\r\nEMAIL:zoe@x.test\r\nEND:VCARD\r\n"
    parsed, _ = cards_parse(data.encode("latin-1"))
    assert parsed == [Card("Zoë", "zoe@x.test")]


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x00\x01\x02",
                                  b"BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:a@b.test\r\n"])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(VcardError):
        cards_parse(data)


def test_too_many_cards_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    one = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEMAIL:x@x.test\r\nEND:VCARD\r\n"
    assert len(cards_parse((one * 20).encode())[0]) == 20
    monkeypatch.setattr(vcard, "MAX_CARDS", 19)
    with pytest.raises(VcardError, match="more than 19"):
        cards_parse((one * 20).encode())
