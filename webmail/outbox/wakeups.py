"""Wake-ups: at most one pending or running delivery task per user, instead of one task per
message.

A message committed for immediate sending needs a worker to look at its user's due messages;
it does not need a task of its own. After the enqueue's commit, ``acquire(user)`` sets a short
lived key in the broker's Redis (``SET NX EX``); only the caller that set it publishes a task.
The task (``delivery.deliver_and_drain``) keeps the key set while it drains the user's due
messages (``hold``), so messages committed meanwhile publish nothing: its loop takes them.
When nothing is due, it deletes the key (``release``) and THEN checks once more.

Why nothing committed is left without a worker (the rows are the truth; the key only saves
publishes). A message is committed before its enqueue tries ``acquire``:

- if that sets the key, the enqueue publishes a task, which drains after that commit;
- if the key was set, its holder is a task that is pending or draining; it deletes the key
  after this attempt and checks for due messages after its delete, so that check sees the
  message (unless a claim already took it). If the check finds due messages, the drain takes
  the key back and goes on; if the key was set again meanwhile, whoever set it published a
  task or is draining, and the same holds for it.
- what the key cannot cover (a publish that failed, a process killed between ``acquire`` and
  the publish, a worker killed while it held the key, Redis restarted with the task in it) is
  what the sweeper covers for any publish: the row stays due with its ``published_at`` from
  the enqueue, and every sweep republishes due rows whose publish is older than a minute. The
  key expires ``TTL`` seconds after its last refresh, so a stale key stops holding back new
  publishes soon too.

A spare wake-up costs one read and one empty claim; a missing one costs at most the sweeper's
delay. Without a Redis broker (the embedded filesystem broker) there is no gate: every
message publishes, as before.

The key names the broker queue and the database, so two deployments (or two test databases)
sharing one Redis never hold back each other's publishes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import redis
from django.db import connection
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TTL = 30  # seconds; see the module docstring
PREFIX = "webmail:outbox:wake"

_ERRORS = (RedisError, OSError)
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _client() -> Any | None:
    """A redis-py client for the broker's Redis, or None when the broker is not Redis."""
    from webmail.celery import app

    url = str(app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                _clients[url] = client
    return client


def key(user_id: int) -> str:
    from webmail.celery import app

    db = connection.settings_dict
    where = f"{db.get('HOST') or ''}:{db.get('PORT') or ''}/{db.get('NAME')}"
    tag = hashlib.sha256(where.encode()).hexdigest()[:12]
    return f"{PREFIX}:{app.conf.task_default_queue}:{tag}:{int(user_id)}"


def acquire(user_id: int) -> bool:
    """True when the caller must publish a delivery task for ``user_id``: no wake-up was
    pending (the key is now set), or there is no gate (no Redis broker, or Redis failed: the
    publish then decides, and a failed one is the sweeper's)."""
    client = _client()
    if client is None:
        return True
    try:
        return bool(client.set(key(user_id), b"1", nx=True, ex=TTL))
    except _ERRORS as exc:  # any Redis trouble: fail open
        log.warning("wake-up gate for user %s unavailable (publishing anyway): %s",
                    user_id, exc)
        return True


def release(user_id: int) -> None:
    """Delete ``user_id``'s wake-up key; the worker calls it before it claims anything, so a
    message committed from now on publishes a task again. Errors are logged (the key then
    expires by itself)."""
    client = _client()
    if client is None:
        return
    try:
        client.delete(key(user_id))
    except _ERRORS as exc:  # the key expires after TTL anyway
        log.warning("wake-up key of user %s not deleted: %s", user_id, exc)


def hold(user_id: int) -> None:
    """Set (or refresh) ``user_id``'s key: a drain of that user is running, and will check for
    due messages after its ``release``. Errors are logged (new messages then publish)."""
    client = _client()
    if client is None:
        return
    try:
        client.set(key(user_id), b"1", ex=TTL)
    except _ERRORS as exc:
        log.warning("wake-up key of user %s not set: %s", user_id, exc)


def pending(user_id: int) -> bool:
    """Whether a wake-up for ``user_id`` is pending (for tests and the console)."""
    client = _client()
    if client is None:
        return False
    return bool(client.exists(key(user_id)))
