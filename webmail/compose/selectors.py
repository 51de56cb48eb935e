"""Reads for the address book and recipient autocomplete (no writes here)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from webmail.compose.models import Contact
from webmail.compose.vcard import Card, cards_serialize
from webmail.outbox.services import written_to_addresses

MAX_QUERY = 200


def contact_get_for_user(*, user: User, contact_id: int) -> Contact:
    """The user's own contact; ``Http404`` for a missing one and for anyone else's alike."""
    try:
        return Contact.objects.get(pk=contact_id, owner=user)
    except Contact.DoesNotExist as exc:
        raise Http404("no such contact") from exc


def contacts_search(*, user: User, query: str = "") -> QuerySet[Contact]:
    """The user's contacts whose name, address or phone contains ``query`` (all when empty)."""
    contacts = Contact.objects.filter(owner=user)
    query = " ".join(query.split())[:MAX_QUERY]
    if query:
        contacts = contacts.filter(Q(name__icontains=query) | Q(email__icontains=query)
                                   | Q(phone__icontains=query))
    return contacts


def contacts_export(*, user: User) -> str:
    """All the user's contacts as one vCard file."""
    return cards_serialize(
        Card(name=c.name, email=c.email, phone=c.phone, notes=c.notes)
        for c in Contact.objects.filter(owner=user).order_by("email")
    )


@dataclass(frozen=True)
class Suggestion:
    name: str
    email: str
    source: str  # "contact" or "sent"

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "label": self.label,
                "source": self.source}


def recipient_suggestions(*, user: User, query: str, limit: int = 10) -> list[Suggestion]:
    """Contacts first (name or address matching), then addresses written to; no duplicates."""
    query = " ".join(query.split())[:MAX_QUERY]
    if not query:
        return []
    seen: set[str] = set()
    result: list[Suggestion] = []
    contacts = Contact.objects.filter(owner=user).filter(
        Q(name__icontains=query) | Q(email__icontains=query))[:limit]
    for contact in contacts:
        key = contact.email.lower()
        if key not in seen:
            seen.add(key)
            result.append(Suggestion(contact.name, contact.email, "contact"))
    if len(result) < limit:
        for email in written_to_addresses(user, query, limit):
            key = email.lower()
            if email and key not in seen:
                seen.add(key)
                result.append(Suggestion("", email, "sent"))
            if len(result) >= limit:
                break
    return result[:limit]
