"""Reads about a user's account: their settings and whose remote content they allow."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import RemoteContentAllowance, RemotePolicy, User, UserSettings


def user_settings(user: User) -> UserSettings:
    """The user's settings row, created with the defaults on first use."""
    found = UserSettings.objects.filter(user=user).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return UserSettings.objects.create(user=user)
    except IntegrityError:  # created by a concurrent request in between
        return UserSettings.objects.get(user=user)


def remote_allowed(user: User, sender: str, prefs: UserSettings | None = None) -> bool:
    """Whether a message from ``sender`` may load remote content for ``user``.

    Applies the user's policy: never; only from senders in their contacts or whom they
    allowed; or always. ``prefs``: the user's settings row when the caller has it already
    (``request.user_settings``), else it is read.
    """
    policy = (prefs if prefs is not None else user_settings(user)).remote_content
    if policy == RemotePolicy.ALWAYS:
        return True
    if policy == RemotePolicy.NEVER:
        return False
    address = sender.strip().lower()
    if not address or "@" not in address:
        return False
    if RemoteContentAllowance.objects.filter(user=user, sender=address).exists():
        return True
    # Imported here: the contacts app depends on accounts, not the other way round.
    from webmail.compose.models import Contact

    return Contact.objects.filter(owner=user, email__iexact=address).exists()
