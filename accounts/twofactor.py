"""Two-factor sign-in: TOTP (an authenticator app) and one-time recovery codes.

django-otp's ``otp_totp`` and ``otp_static`` devices do the code checks and their throttling
(each wrong code doubles the wait before the device accepts another). Recovery codes are
stored as keyed hashes (HMAC with SECRET_KEY), never in plain text: django-otp's static
tokens would keep them readable in the database.
"""

from __future__ import annotations

import secrets
from base64 import b32encode
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Domain, User

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_SALT = "accounts.twofactor.recovery-code"
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


@dataclass(frozen=True)
class Verified:
    device: TOTPDevice | StaticDevice
    kind: str  # "totp" or "recovery"
    recovery_codes_left: int | None = None


def two_factor_enabled(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def two_factor_required(user: User) -> bool:
    """Whether the user's domain requires a second factor."""
    return Domain.objects.filter(name=user.domain, require_two_factor=True).exists()


def recovery_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _hashes(code: str) -> list[str]:
    """The stored form of ``code`` under the current key and each fallback key (a rotated
    SECRET_KEY leaves existing codes usable)."""
    value = _normalise(code)
    return [salted_hmac(_RECOVERY_SALT, value, secret=key, algorithm="sha256").hexdigest()[:16]
            for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


# --- enrolment -------------------------------------------------------------------------------

def totp_begin(*, user: User) -> TOTPDevice:
    """A new, unconfirmed authenticator key for ``user`` (any earlier unconfirmed one goes)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def totp_pending(user: User) -> TOTPDevice | None:
    """The key being set up (shown as a QR code until confirmed), if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def otpauth_uri(device: TOTPDevice) -> str:
    """The ``otpauth://totp/`` URI an authenticator app reads (Key URI format)."""
    issuer = str(getattr(settings, "WEBMAIL_TOTP_ISSUER", "Webmail")).replace(":", "")
    label = f"{issuer}:{device.user.get_username()}"
    params = urlencode({"secret": b32encode(device.bin_key).decode("ascii").rstrip("="),
                        "algorithm": "SHA1", "digits": device.digits, "period": device.step})
    return f"otpauth://totp/{quote(label)}?{params}&issuer={quote(issuer)}"


def manual_key(device: TOTPDevice) -> str:
    """The key in base32 groups of four, for typing into an app by hand."""
    key = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


def qr_svg(data: str) -> bytes:
    """``data`` as a QR code in SVG (made on the server: no script on the page)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10,
                        border=2)
    return bytes(image.to_string(encoding="utf-8"))


def totp_confirm(*, user: User, code: str) -> list[str] | None:
    """Turn on two-factor sign-in with the pending key if ``code`` is right for it.

    Returns the new recovery codes (shown once, stored hashed), or None for a wrong code
    or no pending key.
    """
    with transaction.atomic():
        device = (TOTPDevice.objects.select_for_update()
                  .filter(user=user, confirmed=False).order_by("-pk").first())
        if device is None or not device.verify_token(_normalise(code)):
            return None
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return recovery_codes_generate(user=user)


def recovery_codes_generate(*, user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones; returns them in plain text (the
    only time they exist so)."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
        StaticToken.objects.bulk_create(
            [StaticToken(device=device, token=_hashes(code)[0]) for code in codes])
    return codes


def two_factor_disable(*, user: User) -> None:
    """Remove the authenticator key and the recovery codes."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


# --- sign-in ---------------------------------------------------------------------------------

def second_factor_verify(*, user: User, code: str) -> Verified | None:
    """Check a code from the authenticator app (6 digits) or a recovery code (used up).

    Returns what accepted it, or None: a wrong code, or a device still throttled after
    earlier wrong codes. A TOTP code is accepted once (no replay within its time step).
    """
    value = _normalise(code)
    if not value:
        return None
    with transaction.atomic():
        if value.isdigit():
            for totp in TOTPDevice.objects.select_for_update().filter(user=user,
                                                                      confirmed=True):
                if totp.verify_token(value):
                    return Verified(totp, "totp")
            return None
        device = StaticDevice.objects.select_for_update().filter(
            user=user, confirmed=True).first()
        if device is None:
            return None
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            return None
        deleted, _rows = device.token_set.filter(token__in=_hashes(value)).delete()
        if not deleted:
            device.throttle_increment(commit=True)
            return None
        device.throttle_reset(commit=False)
        device.set_last_used_timestamp(commit=False)
        device.save()
        return Verified(device, "recovery", device.token_set.count())
