"""The admin refuses everyone but staff, on every one of its URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver

from accounts.models import User
from tests.conftest import Persona

pytestmark = pytest.mark.django_db

_SAMPLES = {"int": "1", "path": "1", "str": "1", "slug": "x", "uuid":
            "00000000-0000-0000-0000-000000000001"}


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _concrete(route))
        else:
            yield prefix + _concrete(route)


def _concrete(route: str) -> str:
    """A path that matches ``route``: converters and regex groups get sample values."""
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLES.get(m.group(1) or "str", "1"),
                   route)
    route = re.sub(r"\(\?P<app_label>[^)]*\)", "accounts", route)
    route = re.sub(r"\(\?P<url>[^)]*\)", "no/such/page/", route)
    return route.lstrip("^").rstrip("$")


def admin_paths() -> list[str]:
    paths = sorted({"/admin/" + p for p in _walk(admin.site.get_urls())})
    assert len(paths) > 40  # every model admin's pages, the console, the tests
    return paths


def test_the_url_walk_covers_the_custom_pages() -> None:
    paths = admin_paths()
    for expected in ("/admin/", "/admin/accounts/user/", "/admin/accounts/user/1/change/",
                     "/admin/accounts/serverprofile/1/test/",
                     "/admin/outbox/outgoingmessage/summary/",
                     "/admin/outbox/outgoingmessage/bounced/", "/admin/accounts/auditentry/"):
        assert expected in paths


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_admin_url_refuses_a_signed_in_non_staff_user(mallory_client: Client,
                                                            method: str) -> None:
    for path in admin_paths():
        response = getattr(mallory_client, method)(path)
        assert response.status_code in (302, 403), (path, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith(("/admin/login/", "/login/", "/admin/")), (
                path, response["Location"])
            assert "/admin/login/" in response["Location"] or path.endswith("/logout/"), path


def test_every_admin_url_refuses_anonymous_visitors(db: None) -> None:
    client = Client()
    for path in admin_paths():
        response = client.get(path)
        assert response.status_code == 302, path


def test_admin_login_sends_people_to_the_webmail_sign_in(db: None) -> None:
    # Django's own admin login form would skip the second factor and the throttle.
    response = Client().get("/admin/login/?next=/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fadmin%2Faccounts%2Fuser%2F"
    response = Client().post("/admin/login/", {"username": "x@example.test",
                                               "password": "secret"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_non_staff_user_sees_a_refusal_not_a_loop(mallory_client: Client) -> None:
    response = mallory_client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"This area is for administrators" in response.content


def test_staff_reach_every_list_page(staff_client: Client) -> None:
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    assert b"Webmail administration" in response.content
    for path in ("/admin/accounts/user/", "/admin/accounts/domain/",
                 "/admin/accounts/serverprofile/", "/admin/accounts/identity/",
                 "/admin/accounts/auditentry/", "/admin/outbox/outgoingmessage/",
                 "/admin/outbox/outgoingmessage/summary/",
                 "/admin/outbox/outgoingmessage/bounced/", "/admin/accounts/user/add/",
                 "/admin/accounts/domain/add/", "/admin/accounts/serverprofile/add/"):
        assert staff_client.get(path).status_code == 200, path


def test_revoked_staff_lose_access_on_the_next_request(staff_client: Client,
                                                       admin_persona: Persona) -> None:
    assert staff_client.get("/admin/accounts/user/").status_code == 200
    User.objects.filter(username=admin_persona.address).update(is_staff=False)
    response = staff_client.get("/admin/accounts/user/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_django_otp_secrets_are_not_in_the_admin(staff_client: Client) -> None:
    assert staff_client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert staff_client.get("/admin/otp_static/staticdevice/").status_code == 404
