"""vCard import and export for the address book (vobject does the syntax; no Django here).

Import is lenient about what a card holds (vCard 2.1, 3.0 and 4.0 from phones and other mail
programs) and strict about size: a file of many cards is read in one pass, and cards without a
usable address are counted, not guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import vobject
from vobject.base import VObjectError

MAX_CARDS = 5000


class VcardError(Exception):
    """The file is not a vCard file we can read (syntax error, wrong encoding, too many cards)."""


@dataclass(frozen=True)
class Card:
    name: str
    email: str
    phone: str = ""
    notes: str = ""


def _text(value: Any) -> str:
    """A property value as one stripped string (structured values are lists in vobject)."""
    if isinstance(value, list | tuple):
        return " ".join(str(v).strip() for v in value if v and str(v).strip())
    return str(value or "").strip()


def _name_of(component: Any) -> str:
    fn = getattr(component, "fn", None)
    if fn is not None and _text(fn.value):
        return _text(fn.value)
    n = getattr(component, "n", None)
    if n is not None and hasattr(n.value, "given"):
        parts = [_text(n.value.prefix), _text(n.value.given), _text(n.value.additional),
                 _text(n.value.family), _text(n.value.suffix)]
        return " ".join(p for p in parts if p)
    return ""


def _preferred(lines: list[Any]) -> str:
    """The line marked preferred (TYPE=PREF in 2.1/3.0, PREF=1 in 4.0), else the first."""
    def is_pref(line: Any) -> bool:
        # 2.1 writes bare parameters (EMAIL;INTERNET;PREF), which vobject keeps apart.
        types = [t.lower() for t in [*line.params.get("TYPE", []), *line.singletonparams]]
        return "pref" in types or "1" in line.params.get("PREF", [])

    ordered = sorted(lines, key=lambda line: not is_pref(line))
    for line in ordered:
        value = _text(line.value)
        if value:
            return value
    return ""


def _card_from(component: Any) -> Card | None:
    email = _preferred(component.contents.get("email", []))
    if not email:
        return None
    if email.lower().startswith("mailto:"):
        email = email[7:]
    notes = "\n".join(_text(n.value) for n in component.contents.get("note", []) if n.value)
    name = _name_of(component)
    if name.lower() == email.lower():
        name = ""  # our own export writes the address as FN when there is no name
    return Card(name=name, email=email,
                phone=_preferred(component.contents.get("tel", [])), notes=notes)


def _decode(data: bytes) -> str:
    # vCard 4.0 is UTF-8 by definition; older exports from some phones are Latin-1.
    for codec in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    raise VcardError("the file is not text")  # unreachable: latin-1 decodes everything


def cards_parse(data: bytes) -> tuple[list[Card], int]:
    """The cards of a .vcf file with an address, and how many cards had none.

    Raises ``VcardError`` when the file is not vCard syntax or holds more than ``MAX_CARDS``.
    """
    text = _decode(data)
    if "BEGIN:VCARD" not in text.upper():
        raise VcardError("no vCard in this file")
    cards: list[Card] = []
    without_address = 0
    try:
        for index, component in enumerate(_components(text)):
            if index >= MAX_CARDS:
                raise VcardError(f"more than {MAX_CARDS} cards in one file")
            card = _card_from(component)
            if card is None:
                without_address += 1
            else:
                cards.append(card)
    except (VObjectError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise VcardError(f"not a readable vCard file: {exc.__class__.__name__}") from exc
    return cards, without_address


def _components(text: str) -> Iterator[Any]:
    for component in vobject.readComponents(text, ignoreUnreadable=True):
        if component.name.upper() == "VCARD":
            yield component


def cards_serialize(cards: Iterable[Card]) -> str:
    """One vCard 3.0 file (CRLF, folded lines) with a card per contact."""
    chunks = []
    for card in cards:
        vcard = vobject.vCard()
        display = card.name or card.email
        vcard.add("fn").value = display
        vcard.add("n").value = vobject.vcard.Name(given=card.name) if card.name else \
            vobject.vcard.Name()
        email = vcard.add("email")
        email.value = card.email
        email.type_param = "INTERNET"
        if card.phone:
            vcard.add("tel").value = card.phone
        if card.notes:
            vcard.add("note").value = card.notes
        chunks.append(vcard.serialize())
    return "".join(chunks)
