"""Writes: sending a composed message (into the outbox) and the address book.

Drafts on the IMAP server are in ``drafts.py``; the compose session's files in ``uploads.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Identity, User
from webmail.compose.inline import used
from webmail.compose.models import Contact
from webmail.compose.uploads import ComposeState
from webmail.compose.vcard import Card
from webmail.mime.addresses import Address, parse_address_list
from webmail.mime.compose import Attachment, ComposeSpec, InlinePart, build_message
from webmail.mime.render import html_to_text
from webmail.outbox.models import OutgoingMessage
from webmail.outbox.services import outgoing_enqueue
from webmail.sanitize import sanitize_compose_html

# --- compose -------------------------------------------------------------------------------


def compose_spec(*, identity: Identity, data: dict[str, Any], attachments: Sequence[Attachment],
                 state: ComposeState, message_id: str = "",
                 inline: Sequence[InlinePart] = ()) -> ComposeSpec:
    """The message a compose form describes. ``data`` is ``ComposeForm.cleaned_data``.

    Rich text is sanitized here (``sanitize_compose_html``), whatever the browser sent, and the
    plain-text alternative is made from the sanitized HTML. Of ``inline`` (the session's
    images) those the sanitized HTML refers to as ``cid:`` go along as related parts.
    """
    html: str | None = None
    text = str(data.get("body") or "")
    if data.get("format") == "html":
        html = sanitize_compose_html(str(data.get("body_html") or ""))
        text = html_to_text(html)
        if not text.strip() and "<img" not in html:
            html = None  # an empty editor: send the plain text, if any, alone
            text = str(data.get("body") or "")
    return ComposeSpec(
        from_=Address(identity.display_name.strip(), identity.email),
        to=tuple(data.get("to") or ()), cc=tuple(data.get("cc") or ()),
        bcc=tuple(data.get("bcc") or ()), subject=str(data.get("subject") or ""),
        text=text, html=html, attachments=tuple(attachments), inline=tuple(used(html, inline)),
        in_reply_to=state.in_reply_to, references=tuple(state.references),
        message_id=message_id,
    )


def message_send(*, user: User, identity: Identity, spec: ComposeSpec,
                 smtp_password: str | None, origin: tuple[str, int, str] | None
                 ) -> OutgoingMessage:
    """Build the message once and queue it; the worker sends it (never this request).

    Raises ``ComposeError`` (the message cannot be built) or the outbox's ``OutgoingRefused``
    family (identity not allowed, limits, ``AlreadyQueued`` for a second submit).
    """
    built = build_message(spec)
    return outgoing_enqueue(user=user, from_email=identity.email, built=built,
                            smtp_password=smtp_password, origin=origin)


# --- address book ----------------------------------------------------------------------------


class ContactError(Exception):
    """A contact that cannot be saved: the address is not valid or already in the book."""


def contact_address(text: str) -> tuple[str, str]:
    """(display name, address) of exactly one address typed by a person.

    The address is lower-cased: mail systems treat local parts case-insensitively in practice,
    and the address book must not hold the same person twice. Raises ``ContactError``.
    """
    addresses, errors = parse_address_list(text)
    if errors:
        raise ContactError(errors[0])
    if len(addresses) != 1:
        raise ContactError("enter one address")
    return addresses[0].name, addresses[0].email.lower()


def contact_create(*, owner: User, name: str, email: str, phone: str = "",
                   notes: str = "") -> Contact:
    """Add a contact; raises ``ContactError`` when the address is invalid or already there."""
    _name, address = contact_address(email)
    try:
        with transaction.atomic():
            return Contact.objects.create(owner=owner, name=name.strip() or _name,
                                          email=address, phone=phone.strip(),
                                          notes=notes.strip())
    except IntegrityError as exc:
        raise ContactError("this address is already in your contacts") from exc


def contact_update(*, contact: Contact, name: str, email: str, phone: str = "",
                   notes: str = "") -> Contact:
    """Change a contact; raises ``ContactError`` like ``contact_create``."""
    _name, address = contact_address(email)
    contact.name, contact.email = name.strip(), address
    contact.phone, contact.notes = phone.strip(), notes.strip()
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError as exc:
        raise ContactError("another contact has this address") from exc
    return contact


def contact_delete(*, contact: Contact) -> None:
    contact.delete()


def contact_add_from(*, owner: User, name: str, email: str) -> tuple[Contact, bool]:
    """"Add sender to contacts": the existing contact (its name filled in if it had none) or a
    new one, and whether it was created. Raises ``ContactError`` for an invalid address.
    """
    _name, address = contact_address(email)
    name = " ".join(name.split())[:200] or _name
    contact, created = Contact.objects.get_or_create(owner=owner, email=address,
                                                     defaults={"name": name})
    if not created and name and not contact.name:
        contact.name = name
        contact.save(update_fields=["name", "updated"])
    return contact, created


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    invalid: int  # cards without a usable address


def contacts_import(*, owner: User, cards: list[Card], without_address: int = 0) -> ImportResult:
    """Merge cards into the address book by address: new ones are added, known ones get the
    card's non-empty name, phone and notes. One transaction for the whole file.
    """
    created = updated = 0
    invalid = without_address
    by_address: dict[str, Card] = {}
    for card in cards:
        try:
            _name, address = contact_address(card.email)
        except ContactError:
            invalid += 1
            continue
        by_address[address] = card  # a later card of the same address wins
    with transaction.atomic():
        existing = {c.email: c for c in Contact.objects.select_for_update().filter(
            owner=owner, email__in=list(by_address))}
        for address, card in by_address.items():
            fields = {"name": card.name[:200], "phone": card.phone[:64],
                      "notes": card.notes[:4000]}
            contact = existing.get(address)
            if contact is None:
                Contact.objects.create(owner=owner, email=address, **fields)
                created += 1
                continue
            changed = [k for k, v in fields.items() if v and getattr(contact, k) != v]
            if changed:
                for k in changed:
                    setattr(contact, k, fields[k])
                contact.save(update_fields=[*changed, "updated"])
                updated += 1
    return ImportResult(created=created, updated=updated, invalid=invalid)
