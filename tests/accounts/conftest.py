"""Fixtures for the accounts tests: a signed-in staff member, a TOTP code maker."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.conftest import Persona, sign_in


@pytest.fixture
def admin_persona(new_persona: Callable[[str], Persona]) -> Persona:
    return new_persona("t-admin")


@pytest.fixture
def staff_client(db: None, admin_persona: Persona) -> Client:
    """A staff member signed in through /login/ (the only way into the admin)."""
    client = sign_in(Client(), admin_persona)
    User.objects.filter(username=admin_persona.address).update(is_staff=True)
    return client


@pytest.fixture
def staff_user(staff_client: Client, admin_persona: Persona) -> User:
    return User.objects.get(username=admin_persona.address)


def totp_code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """The code an authenticator app would show now (or ``offset_steps`` steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"
