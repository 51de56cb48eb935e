"""The user's settings page: saved, applied per request, and private to the user."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone, translation

from accounts.middleware import UserPreferencesMiddleware
from accounts.models import Identity, RemoteContentAllowance, User, UserSettings
from accounts.preferences import remote_allowance_add
from accounts.selectors import remote_allowed, user_settings
from tests.conftest import Persona, sign_in

pytestmark = pytest.mark.django_db

FORM = {"display_name": "Alice Liddell", "page_size": "100", "remote_content": "known",
        "time_zone": "Asia/Tokyo", "language": "de", "theme": "dark",
        "compose_format": "html"}


def test_settings_page_needs_sign_in(db: None) -> None:
    response = Client().get("/settings/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_settings_are_saved(alice_client: Client, alice: Persona) -> None:
    page = alice_client.get("/settings/")
    assert page.status_code == 200
    assert b'<option value="Europe/Berlin">' in page.content
    response = alice_client.post("/settings/", FORM)
    assert response.status_code == 302
    prefs = UserSettings.objects.get(user__username=alice.address)
    assert (prefs.display_name, prefs.page_size, prefs.remote_content, prefs.time_zone,
            prefs.language, prefs.theme, prefs.compose_format) == (
        "Alice Liddell", 100, "known", "Asia/Tokyo", "de", "dark", "html")


def test_the_theme_toggle_saves_only_the_theme(alice_client: Client, alice: Persona) -> None:
    alice_client.post("/settings/", FORM)
    assert alice_client.post("/settings/theme/", {"theme": "light"}).status_code == 204
    prefs = UserSettings.objects.get(user__username=alice.address)
    assert (prefs.theme, prefs.display_name, prefs.page_size, prefs.language) == (
        "light", "Alice Liddell", 100, "de")  # everything else as it was
    assert alice_client.post("/settings/theme/", {"theme": "neon"}).status_code == 400
    assert alice_client.get("/settings/theme/").status_code == 405
    assert UserSettings.objects.get(user__username=alice.address).theme == "light"
    anonymous = Client().post("/settings/theme/", {"theme": "dark"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


@pytest.mark.parametrize("field,value", [("time_zone", "Mars/Olympus"), ("page_size", "30"),
                                         ("language", "xx"), ("theme", "neon")])
def test_bad_values_are_refused(alice_client: Client, field: str, value: str) -> None:
    response = alice_client.post("/settings/", {**FORM, field: value})
    assert response.status_code == 400
    assert b"Nothing was saved" in response.content


def test_time_zone_changes_the_dates_shown(alice_client: Client, alice: Persona) -> None:
    User.objects.filter(username=alice.address).update(
        last_login=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    alice_client.post("/settings/", {**FORM, "time_zone": "Asia/Tokyo", "language": ""})
    page = alice_client.get("/settings/").content.decode()
    assert "2026-03-01 21:00" in page  # 12:00 UTC is 21:00 in Tokyo
    assert "Times are shown in Asia/Tokyo" in page
    alice_client.post("/settings/", {**FORM, "time_zone": "America/New_York",
                                     "language": ""})
    assert "2026-03-01 07:00" in alice_client.get("/settings/").content.decode()


def test_language_and_theme_apply_to_the_page(alice_client: Client) -> None:
    alice_client.post("/settings/", FORM)
    response = alice_client.get("/settings/")
    assert response["Content-Language"] == "de"
    assert b'data-theme="dark"' in response.content


def test_middleware_activates_zone_and_language_for_the_request(alice: Persona,
                                                                alice_client: Client) -> None:
    user = User.objects.get(username=alice.address)
    prefs = user_settings(user)
    prefs.time_zone, prefs.language, prefs.theme = "Pacific/Auckland", "de", "light"
    prefs.save()
    seen: dict[str, str] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["zone"] = timezone.get_current_timezone_name()
        seen["language"] = translation.get_language()
        seen["theme"] = request.user_theme  # type: ignore[attr-defined]
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.user = user
    UserPreferencesMiddleware(view)(request)
    assert seen == {"zone": "Pacific/Auckland", "language": "de", "theme": "light"}
    # After the response, the next request (another user) starts from the defaults.
    assert timezone.get_current_timezone_name() != "Pacific/Auckland"


def test_a_removed_zone_falls_back_to_the_server_zone(alice: Persona) -> None:
    user = User.objects.create(username="t-zone@example.test")
    UserSettings.objects.create(user=user, time_zone="Nowhere/Gone")
    request = RequestFactory().get("/")
    request.user = user
    response = UserPreferencesMiddleware(
        lambda r: HttpResponse(timezone.get_current_timezone_name()))(request)
    assert response.content.decode() == timezone.get_default_timezone_name()


def test_identities_signature_and_default(alice_client: Client, alice: Persona) -> None:
    user = User.objects.get(username=alice.address)
    Identity.objects.create(user=user, email="sales@example.test", display_name="Sales")
    page = alice_client.get("/settings/").content.decode()
    assert alice.address in page and "sales@example.test" in page
    response = alice_client.post("/settings/identity/", {
        "prefix": "id1", "id1-email": "sales@example.test", "id1-display_name": "Sales desk",
        "id1-signature": "-- \nThe sales desk"})
    assert response.status_code == 302
    sales = Identity.objects.get(user=user, email="sales@example.test")
    assert (sales.display_name, sales.signature) == ("Sales desk", "-- \nThe sales desk")
    # The own address gets its row when first changed.
    alice_client.post("/settings/identity/", {
        "prefix": "id0", "id0-email": alice.address, "id0-display_name": "Alice",
        "id0-signature": "Alice"})
    assert Identity.objects.get(user=user, email=alice.address).signature == "Alice"
    alice_client.post("/settings/identity/default/", {"email": "sales@example.test"})
    assert list(Identity.objects.filter(user=user, is_default=True).values_list(
        "email", flat=True)) == ["sales@example.test"]


def test_the_address_itself_cannot_be_changed_or_borrowed(alice_client: Client,
                                                         alice: Persona, bob: Persona
                                                         ) -> None:
    bob_user = User.objects.create(username=bob.address)
    Identity.objects.create(user=bob_user, email="boss@example.test", signature="Bob")
    for email in ("boss@example.test", "new@example.test", bob.address):
        response = alice_client.post("/settings/identity/", {
            "prefix": "id0", "id0-email": email, "id0-display_name": "x",
            "id0-signature": "stolen"})
        assert response.status_code == 404
        assert alice_client.post("/settings/identity/default/",
                                 {"email": email}).status_code == 404
    assert Identity.objects.get(email="boss@example.test").signature == "Bob"
    assert not Identity.objects.filter(email="new@example.test").exists()


def test_remote_content_policy(alice_client: Client, alice: Persona) -> None:
    from webmail.compose.models import Contact

    user = User.objects.get(username=alice.address)
    assert not remote_allowed(user, "news@shop.example")  # the default is never
    prefs = user_settings(user)
    prefs.remote_content = "known"
    prefs.save()
    assert not remote_allowed(user, "news@shop.example")
    alice_client.post("/settings/remote-senders/add/", {"sender": "News@Shop.example"})
    assert RemoteContentAllowance.objects.filter(user=user, sender="news@shop.example"
                                                 ).exists()
    assert remote_allowed(user, "NEWS@shop.example")
    Contact.objects.create(owner=user, email="friend@example.org")
    assert remote_allowed(user, "Friend@Example.org")
    assert not remote_allowed(user, "stranger@example.org")
    prefs.remote_content = "never"
    prefs.save()
    assert not remote_allowed(user, "friend@example.org")
    prefs.remote_content = "always"
    prefs.save()
    assert remote_allowed(user, "stranger@example.org")
    alice_client.post("/settings/remote-senders/remove/", {"sender": "news@shop.example"})
    assert not RemoteContentAllowance.objects.filter(user=user).exists()


def test_allowances_are_per_user(alice: Persona, mallory_client: Client, mallory: Persona
                                 ) -> None:
    alice_user = User.objects.create(username=alice.address)
    remote_allowance_add(user=alice_user, sender="news@shop.example")
    mallory_client.post("/settings/remote-senders/remove/", {"sender": "news@shop.example"})
    assert RemoteContentAllowance.objects.filter(user=alice_user).exists()
    assert b"news@shop.example" not in mallory_client.get("/settings/").content


def test_state_changes_need_post(alice_client: Client) -> None:
    for path in ("/settings/identity/", "/settings/identity/default/",
                 "/settings/remote-senders/add/", "/settings/remote-senders/remove/"):
        assert alice_client.get(path).status_code == 405, path


def test_settings_page_has_no_inline_script_or_style(alice_client: Client) -> None:
    page = alice_client.get("/settings/").content.decode()
    assert "<script>" not in page and " style=" not in page and " onclick=" not in page
    assert "/static/js/settings.js" in page and "/static/css/settings.css" in page


def test_user_settings_selector_creates_once(alice: Persona) -> None:
    user = User.objects.create(username=alice.address)
    first = user_settings(user)
    assert user_settings(user).pk == first.pk
    assert first.remote_content == "never" and first.page_size == 50
    assert zoneinfo.ZoneInfo("UTC")  # the zone database is there for the choices
    sign_in(Client(), alice)
