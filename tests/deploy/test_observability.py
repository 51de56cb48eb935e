"""JSON log lines, the request id, and Sentry without bodies or credentials."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client

from webmail.observability import (
    REQUEST_ID_HEADER,
    JsonFormatter,
    PlainFormatter,
    current_request_id,
    request_id_var,
    sane_request_id,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, as the production JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("webmail.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_formatter_writes_one_json_object_with_the_fields_and_extras() -> None:
    token = request_id_var.set("req-0123456789")
    try:
        line = JsonFormatter().format(_record("sent %d of %d", 3, 4, outgoing_id=17,
                                              recipients=["a@example.test"]))
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "webmail.test"
    assert entry["message"] == "sent 3 of 4"
    assert entry["request_id"] == "req-0123456789"
    assert entry["outgoing_id"] == 17
    assert entry["recipients"] == ["a@example.test"]
    assert entry["ts"].endswith("Z") and "T" in entry["ts"]


def test_formatter_never_writes_secrets_or_request_bodies() -> None:
    class FakeRequest:
        method = "POST"
        path = "/login/"
        body = b"username=a&password=hunter2-sekrit"
        POST = {"password": "hunter2-sekrit"}

        def __str__(self) -> str:
            return self.body.decode()

    line = JsonFormatter().format(_record(
        "login", request=FakeRequest(), password="hunter2-sekrit", smtp_password="hunter2-sekrit",
        context={"Authorization": "Basic aHVudGVyMi1zZWtyaXQ=", "folder": "INBOX"},
    ))
    assert "hunter2" not in line and "aHVudGVy" not in line
    entry = json.loads(line)
    assert entry["request"] == {"method": "POST", "path": "/login/"}
    assert entry["password"] == entry["smtp_password"] == "[redacted]"
    assert entry["context"] == {"Authorization": "[redacted]", "folder": "INBOX"}
    assert entry["request_id"] is None


def test_formatter_includes_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exc_type"] == "ValueError"
    assert "Traceback" in entry["exc"] and "boom" in entry["exc"]


def test_plain_formatter_appends_the_request_id_only_when_there_is_one() -> None:
    assert "request_id" not in PlainFormatter().format(_record("hello"))
    token = request_id_var.set("req-abcdefgh")
    try:
        assert PlainFormatter().format(_record("hello")).endswith("hello [request_id=req-abcdefgh]")
    finally:
        request_id_var.reset(token)


@pytest.mark.parametrize("value", [
    "0123456789abcdef0123456789abcdef", "9b2f6c1e-3c1d-4d7e-9a55-4b7f5c0f2d11",
    "Root:1-5759e988.bd862e3f_x",
])
def test_sane_ids_are_kept(value: str) -> None:
    assert sane_request_id(value) == value


@pytest.mark.parametrize("value", [
    None, "", "short", "x" * 129, "has space 12345", "line\nbreak12345", "-leading-dash",
    '"quoted"-123456', "ünïcode-123456",
])
def test_insane_ids_are_refused(value: str | None) -> None:
    assert sane_request_id(value) is None


@pytest.mark.django_db
def test_request_id_is_in_every_log_line_of_its_request_and_on_the_response(
        json_log: io.StringIO) -> None:
    rid = "edge-proxy-id-0001"
    response = Client().post("/login/", {"username": "", "password": "hunter2-sekrit"},
                             headers={"X-Request-ID": rid})
    assert response.status_code == 200  # the form is invalid: no server involved
    assert response[REQUEST_ID_HEADER] == rid
    entries = _lines(json_log)
    access = [e for e in entries if e["logger"] == "webmail.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == rid
    assert access[0]["method"] == "POST"
    assert access[0]["path"] == "/login/"
    assert access[0]["status"] == 200
    assert all(e["request_id"] == rid for e in entries)
    assert "hunter2" not in json_log.getvalue()
    assert current_request_id() is None  # nothing leaks into the next request on this thread


@pytest.mark.django_db
def test_a_missing_or_insane_incoming_id_is_replaced(json_log: io.StringIO) -> None:
    client = Client()
    first = client.get("/login/")[REQUEST_ID_HEADER]
    second = client.get("/login/", headers={"X-Request-ID": "bad id\r\nX-Evil: 1"})[
        REQUEST_ID_HEADER]
    assert len(first) == len(second) == 32 and first != second
    int(first, 16), int(second, 16)  # generated ids are hex
    ids = [e["request_id"] for e in _lines(json_log) if e["logger"] == "webmail.access"]
    assert ids == [first, second]
    assert "X-Evil" not in json_log.getvalue()


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _django_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "LOG_", "SENTRY_", "PYTEST_", "DATABASE_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "webmail.settings",
        "SECRET_KEY": "observability-test-key-" + "x" * 40,
        "ALLOWED_HOSTS": "testserver,localhost",
        "CACHE_URL": "locmem://",
        "CELERY_BROKER_URL": "memory://",
        # Never the suite's database: these processes must not need one.
        "DATABASE_URL": "sqlite:///:memory:",
        **extra,
    })
    return env


_LOG_ONE_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('webmail.probe').warning('probe %s', 42, extra={'folder': 'INBOX'})"
)


@pytest.mark.parametrize(("debug", "log_format", "expect_json"), [
    ("0", None, True), ("1", None, False), ("1", "json", True), ("0", "plain", False),
])
def test_settings_pick_json_lines_unless_debug(debug: str, log_format: str | None,
                                               expect_json: bool) -> None:
    env = _django_env(DEBUG=debug, **({"LOG_FORMAT": log_format} if log_format else {}))
    out = _run_python(_LOG_ONE_LINE, env)
    line = out.stderr.strip().splitlines()[-1]
    if expect_json:
        entry = json.loads(line)
        assert entry["message"] == "probe 42"
        assert entry["folder"] == "INBOX"
        assert entry["logger"] == "webmail.probe"
    else:
        assert line.endswith("WARNING webmail.probe probe 42")


class _SentryIntake(BaseHTTPRequestHandler):
    envelopes: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).envelopes.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


_RAISE_IN_A_REQUEST = """
import io, sys, types
import django
django.setup()
import sentry_sdk
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from webmail.wsgi import application

@csrf_exempt
def boom(request):
    request.POST  # the body is read, as a real form view would
    raise RuntimeError("view failed on purpose")

urls = types.ModuleType("boom_urls")
urls.urlpatterns = [path("boom/", boom)]
sys.modules["boom_urls"] = urls
body = b"username=alice%40example.test&password=hunter2-sekrit"
environ = {
    "REQUEST_METHOD": "POST", "PATH_INFO": "/boom/", "QUERY_STRING": "q=private-search",
    "SERVER_NAME": "testserver", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
    "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
    "HTTP_COOKIE": "csrftoken=cookie-sekrit-value", "HTTP_AUTHORIZATION": "Basic aHVudGVy",
    "HTTP_X_REQUEST_ID": "sentry-probe-0001", "wsgi.input": io.BytesIO(body),
    "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
    "wsgi.multiprocess": False, "wsgi.run_once": False,
}
statuses = []
with override_settings(ROOT_URLCONF="boom_urls", DEBUG_PROPAGATE_EXCEPTIONS=False):
    b"".join(application(environ, lambda status, headers, exc=None: statuses.append(status)))
assert statuses == ["500 Internal Server Error"], statuses
sentry_sdk.flush(timeout=10)
"""


def test_sentry_reports_errors_without_bodies_cookies_or_credentials() -> None:
    _SentryIntake.envelopes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SentryIntake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        env = _django_env(SENTRY_DSN=f"http://publickey@127.0.0.1:{port}/7",
                          SENTRY_ENVIRONMENT="deploy-test", DEBUG="0", LOG_FORMAT="json")
        _run_python(_RAISE_IN_A_REQUEST, env)
    finally:
        server.shutdown()
        server.server_close()
    assert _SentryIntake.envelopes, "Sentry sent nothing"
    raw = b"".join(_SentryIntake.envelopes)
    for secret in (b"hunter2", b"cookie-sekrit", b"aHVudGVy", b"private-search"):
        assert secret not in raw
    events = []
    for envelope in _SentryIntake.envelopes:
        for line in envelope.splitlines():
            with_event = line.startswith(b"{") and b'"exception"' in line
            if with_event:
                events.append(json.loads(line))
    assert events, raw[:2000]
    event = events[0]
    assert event["environment"] == "deploy-test"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "sentry-probe-0001"
    assert event["request"]["url"].endswith("/boom/")
    assert "data" not in event["request"] and "cookies" not in event["request"]


def test_sentry_stays_off_without_a_dsn() -> None:
    probe = ("import django; django.setup(); import sentry_sdk; "
             "print(sentry_sdk.get_client().is_active())")
    out = _run_python(probe, _django_env(DEBUG="0"))
    assert out.stdout.strip() == "False"
