"""Encryption of credentials kept in sessions and outbox rows (never plain text at rest).

Keys derive from SECRET_KEY (and SECRET_KEY_FALLBACKS, so a key rotation keeps existing
sessions readable until they expire). A token that no key opens raises ``CredentialError``,
which callers turn into "please sign in again", never into a silent failure.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialError(Exception):
    """A stored credential cannot be decrypted (key rotated away, or tampered with)."""


def _fernet_for(secret: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"webmail-credentials",
               info=purpose.encode()).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _multi(purpose: str) -> MultiFernet:
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return MultiFernet([_fernet_for(s, purpose) for s in secrets])


def encrypt(value: str, *, purpose: str) -> str:
    return _multi(purpose).encrypt(value.encode()).decode("ascii")


def decrypt(token: str, *, purpose: str) -> str:
    """Raises ``CredentialError`` when no current or fallback key opens the token."""
    try:
        return _multi(purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError, UnicodeError) as exc:
        raise CredentialError("stored credential cannot be decrypted") from exc


def rotate(token: str, *, purpose: str) -> str:
    """Re-encrypt a token under the current key (used after a SECRET_KEY rotation)."""
    try:
        return _multi(purpose).rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as exc:
        raise CredentialError("stored credential cannot be decrypted") from exc
