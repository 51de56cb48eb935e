"""/healthz: database, cache and broker checked for real; a dead broker makes it 503."""

from __future__ import annotations

import socket

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_healthz_reports_database_cache_and_broker_ok(client: Client,
                                                      settings: SettingsWrapper) -> None:
    assert settings.CELERY_BROKER_URL.startswith("redis://")  # the real broker, not a stand-in
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "cache": True, "broker": True,
    }
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_when_the_broker_does_not_answer(client: Client,
                                                        settings: SettingsWrapper) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]  # the exception's class name, nothing secret
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
