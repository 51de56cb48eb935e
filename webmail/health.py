"""/healthz: liveness and readiness of the database, the cache and the broker."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def _check_db() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("healthz", "1", 10)
    if cache.get("healthz") != "1":
        raise RuntimeError("cache did not return what was stored")


def _check_broker() -> None:
    from webmail.celery import app

    # The URL is read from settings now, not from the Celery app's copy made at start-up.
    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_db, "cache": _check_cache, "broker": _check_broker}
    results: dict[str, dict[str, object]] = {}
    ok = True
    for name, check in checks.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:
            ok = False
            results[name] = {"ok": False, "error": exc.__class__.__name__}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse({"ok": ok, "checks": results}, status=200 if ok else 503)
