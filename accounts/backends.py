"""Authentication by IMAP LOGIN against the server profile the address's domain selects."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from accounts.models import User
from accounts.profiles import profile_for_address
from webmail.imap.errors import ImapAuthError
from webmail.imap.types import Credentials
from webmail.mailconn import pool

log = logging.getLogger(__name__)


def normalise_address(address: str) -> str:
    return address.strip().lower()


class ImapBackend(BaseBackend):
    """Proves the password with IMAP LOGIN; creates the account at first sign-in when the
    domain allows it. ``ImapUnavailable`` propagates: the caller shows "server unavailable",
    which is not the same as "wrong password"."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> User | None:
        if not username or not password or "@" not in username:
            return None
        address = normalise_address(username)
        profile = profile_for_address(address)
        user = User.objects.filter(username__iexact=address).first()
        if user is None and not profile.auto_create_accounts:
            log.info("sign-in refused: no account for domain %s", address.rsplit("@", 1)[1])
            return None
        if user is not None and not user.is_active:
            return None
        try:
            # The proven connection goes into the pool: the first page reuses it.
            with pool().connection(profile.imap, Credentials(address, password)):
                pass
        except ImapAuthError:
            return None
        if user is None:
            user, _ = User.objects.get_or_create(username=address,
                                                 defaults={"email": address})
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user

    # In this webmail "staff" means administrator: the admin panel is one role, so an active
    # staff member has every admin permission (ModelAdmins still make some things read-only).
    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(user_obj.is_active and user_obj.is_staff)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return bool(user_obj.is_active and user_obj.is_staff)

    def get_user(self, user_id: int) -> User | None:
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None
