"""Services behind the settings page: preferences, identities, remote-content senders."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any

from django.db import transaction

from accounts.models import Identity, RemoteContentAllowance, User, UserSettings
from accounts.selectors import user_settings

SETTINGS_FIELDS = ("display_name", "page_size", "remote_content", "time_zone", "language",
                   "theme", "compose_format")


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """The IANA zone names this system knows, sorted (``Etc/*`` and legacy aliases left out)."""
    names = {n for n in zoneinfo.available_timezones()
             if "/" in n and not n.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))}
    return tuple(sorted(names | {"UTC"}))


def settings_save(*, user: User, values: dict[str, Any]) -> UserSettings:
    """Store the user's preferences (``values`` comes from a validated form)."""
    row = user_settings(user)
    for name in SETTINGS_FIELDS:
        if name in values:
            setattr(row, name, values[name])
    row.full_clean()
    row.save()
    return row


def own_identities(user: User) -> list[Identity]:
    """The user's identities, their own address first (unsaved until they change it, so
    one shape serves both). Granted identities come from the admin."""
    own = user.get_username().lower()
    rows = list(Identity.objects.filter(user=user).order_by("email"))
    mine = next((i for i in rows if i.email.lower() == own), None)
    if mine is None:
        mine = Identity(user=user, email=own, display_name=user_settings(user).display_name,
                        is_default=not any(i.is_default for i in rows))
    return [mine, *[i for i in rows if i is not mine]]


def _identity_for_update(user: User, email: str) -> Identity:
    """The row of ``user``'s identity ``email``; the own address's row is made on first
    change. Raises ``Identity.DoesNotExist`` for an address not granted to ``user``."""
    address = email.strip().lower()
    found = Identity.objects.select_for_update().filter(user=user, email__iexact=address).first()
    if found is not None:
        return found
    if address != user.get_username().lower():
        raise Identity.DoesNotExist(address)
    return Identity.objects.create(user=user, email=address)


def identity_update(*, user: User, email: str, display_name: str, signature: str) -> Identity:
    """Change the display name and signature of one of ``user``'s identities (never the
    address). Raises ``Identity.DoesNotExist`` for an address that is not theirs."""
    with transaction.atomic():
        identity = _identity_for_update(user, email)
        identity.display_name = display_name.strip()
        identity.signature = signature
        identity.save(update_fields=["display_name", "signature"])
    return identity


def identity_set_default(*, user: User, email: str) -> Identity:
    """Make one of ``user``'s identities the default From. Raises ``Identity.DoesNotExist``."""
    with transaction.atomic():
        identity = _identity_for_update(user, email)
        Identity.objects.filter(user=user).exclude(pk=identity.pk).update(is_default=False)
        if not identity.is_default:
            identity.is_default = True
            identity.save(update_fields=["is_default"])
    return identity


def remote_allowance_add(*, user: User, sender: str) -> RemoteContentAllowance:
    """Allow remote content in messages from ``sender`` (an address; stored lower case)."""
    address = sender.strip().lower()
    if "@" not in address or any(ch.isspace() for ch in address):
        raise ValueError("not an address")
    row, _created = RemoteContentAllowance.objects.get_or_create(user=user, sender=address)
    return row


def remote_allowance_remove(*, user: User, sender: str) -> None:
    RemoteContentAllowance.objects.filter(user=user, sender=sender.strip().lower()).delete()
