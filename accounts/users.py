"""Admin services on accounts: create, disable/enable, staff, sessions, second factor.

Each writes an ``ADMIN_CHANGE`` audit entry naming the admin who did it.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import AuditEntry, User
from accounts.services import audit
from accounts.sessions import user_sessions_end


class AdminActionRefused(Exception):
    """The action would lock the admin out (disable themselves, drop their own staff)."""


def user_set_active(*, user: User, active: bool, actor: User | None,
                    ip: str | None = None) -> bool:
    """Enable or disable ``user``; disabling ends all their sessions at once. Returns whether
    anything changed. Raises ``AdminActionRefused`` for an admin disabling themselves."""
    if not active and actor is not None and actor.pk == user.pk:
        raise AdminActionRefused("You cannot disable your own account.")
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk).exclude(is_active=active).update(
            is_active=active) == 1
    user.is_active = active
    if not active:
        user_sessions_end(user=user)
    if changed:
        audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=user.get_username(), ip=ip,
              detail=("enabled" if active else "disabled (sessions ended)")
              + f" user {user.get_username()}")
    return changed


def user_set_staff(*, user: User, staff: bool, actor: User | None,
                   ip: str | None = None) -> bool:
    """Grant or revoke the admin role. Raises ``AdminActionRefused`` for revoking one's own."""
    if not staff and actor is not None and actor.pk == user.pk:
        raise AdminActionRefused("You cannot revoke your own staff status.")
    changed = User.objects.filter(pk=user.pk).exclude(is_staff=staff).update(
        is_staff=staff) == 1
    user.is_staff = staff
    if changed:
        audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=user.get_username(), ip=ip,
              detail=("granted" if staff else "revoked") + f" staff for {user.get_username()}")
    return changed


def user_end_sessions(*, user: User, actor: User | None, ip: str | None = None) -> int:
    ended = user_sessions_end(user=user)
    audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=user.get_username(), ip=ip,
          detail=f"ended {ended} session(s) of {user.get_username()}")
    return ended


def user_two_factor_reset(*, user: User, actor: User | None, ip: str | None = None) -> None:
    """Remove the user's authenticator and recovery codes (a lost phone); their domain may
    make them enrol again at the next sign-in."""
    from accounts.twofactor import two_factor_disable

    two_factor_disable(user=user)
    audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=user.get_username(), ip=ip,
          detail=f"reset two-factor sign-in of {user.get_username()}")
