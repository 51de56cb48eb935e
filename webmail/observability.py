"""Operating the webmail: JSON log lines, a request id per request, optional Sentry.

- ``JsonFormatter`` writes one JSON object per line (``ts``, ``level``, ``logger``, ``message``,
  ``request_id`` and any ``extra=`` fields). It never writes a request body, cookies or headers:
  a ``request`` extra (Django's ``django.request`` logger passes one) becomes method and path,
  and extras whose names look like secrets are replaced by ``"[redacted]"``.
- ``RequestIdMiddleware`` takes a sane incoming ``X-Request-ID`` (so a proxy's id follows the
  request through) or makes one, keeps it in a context variable for the formatter while the
  request runs, sets it on the response and writes one access line per request.
- ``init_sentry`` starts error reporting when ``SENTRY_DSN`` is set, without personal data and
  without request bodies, cookies or credentials.

This module is imported by the logging configuration before Django is set up, so it imports
nothing from Django at module level apart from types.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from webmail.env import ConfigError

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from sentry_sdk.types import Event, Hint

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators, 8-128 long: what proxies generate (hex, UUIDs), and
# nothing that could break a log line or a header.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
_SECRET_NAME = re.compile(r"pass|secret|token|credential|authorization|cookie|session",
                          re.IGNORECASE)
REDACTED = "[redacted]"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "webmail_request_id", default=None
)

access_log = logging.getLogger("webmail.access")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message", "asctime", "taskName",
}


def current_request_id() -> str | None:
    """The id of the request being handled in this thread or task, if any."""
    return request_id_var.get()


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it is a usable request id (8-128 of ``A-Z a-z 0-9 . _ : -``), else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def _plain(value: Any) -> Any:
    """A JSON-safe form of an ``extra`` value that can never carry a request body."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if _SECRET_NAME.search(str(k)) else _plain(v))
                for k, v in value.items()}
    method = getattr(value, "method", None)
    path = getattr(value, "path", None)
    if isinstance(method, str) and isinstance(path, str):  # an HttpRequest: never its body
        return {"method": method, "path": path}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never request bodies, cookies or headers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
        }
        for key, value in record.__dict__.items():
            if key in _RECORD_FIELDS or key.startswith("_") or key in entry:
                continue
            entry[key] = REDACTED if _SECRET_NAME.search(key) else _plain(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The human-readable format for development, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = current_request_id()
        return f"{line} [request_id={rid}]" if rid else line


class RequestIdMiddleware:
    """Gives every request an id: in the logs while it runs and in ``X-Request-ID`` after.

    Put it first in ``MIDDLEWARE`` so everything below logs with the id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = rid
            # The path only: query strings hold search terms and are nobody's business here.
            access_log.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={"method": request.method, "path": request.path,
                       "status": response.status_code,
                       "duration_ms": round((time.monotonic() - started) * 1000, 1)},
            )
            return response
        finally:
            request_id_var.reset(token)


TASK_HEADER = "webmail_request_id"


def _stamp_task(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    """Celery ``before_task_publish``: a task published while a request runs carries its id."""
    rid = current_request_id()
    if rid and headers is not None:
        headers.setdefault(TASK_HEADER, rid)


def _task_started(task: Any = None, task_id: str | None = None, **_kwargs: Any) -> None:
    """Celery ``task_prerun``: the task's log lines carry the id of the request that published
    it (so web and worker logs join), else the task's own id."""
    request = getattr(task, "request", None)
    rid = sane_request_id(getattr(request, TASK_HEADER, None)) or sane_request_id(task_id)
    token = request_id_var.set(rid)
    if request is not None:
        request.webmail_request_id_token = token


def _task_finished(task: Any = None, **_kwargs: Any) -> None:
    token = getattr(getattr(task, "request", None), "webmail_request_id_token", None)
    if token is not None:
        with contextlib.suppress(ValueError):  # set in another context: nothing to undo
            request_id_var.reset(token)
        task.request.webmail_request_id_token = None


def connect_celery_signals() -> None:
    """Carry request ids from web processes into Celery tasks (``webmail/celery.py``)."""
    from celery import signals

    signals.before_task_publish.connect(_stamp_task, weak=False,
                                        dispatch_uid="webmail-request-id-stamp")
    signals.task_prerun.connect(_task_started, weak=False,
                                dispatch_uid="webmail-request-id-start")
    signals.task_postrun.connect(_task_finished, weak=False,
                                 dispatch_uid="webmail-request-id-end")


def _scrub_event(event: Event, hint: Hint) -> Event:
    """Sentry ``before_send``: drop bodies, cookies, credentials; tag the request id."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "env"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: (REDACTED if _SECRET_NAME.search(k) else v)
                                  for k, v in headers.items()}
        if request.get("query_string"):
            request["query_string"] = REDACTED
    rid = current_request_id()
    if rid:
        event.setdefault("tags", {})["request_id"] = rid
    return event


def init_sentry(dsn: str, *, environment: str, traces_sample_rate: float = 0.0,
                release: str | None = None) -> None:
    """Start Sentry error reporting for Django, Celery and logging (errors only, no PII).

    Raises:
        ConfigError: if ``traces_sample_rate`` is outside 0..1.
        sentry_sdk.utils.BadDsn: if ``dsn`` is malformed.
    """
    if not 0.0 <= traces_sample_rate <= 1.0:
        raise ConfigError(f"SENTRY_TRACES_SAMPLE_RATE={traces_sample_rate} must be within 0..1")
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,  # a frame's locals may hold a password
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=_scrub_event,
    )
