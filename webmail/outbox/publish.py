"""Handing row ids to the broker. A failed publish is logged, never raised: the row is the
truth and the sweeper publishes again (``sweep``), so the user's send never fails because Redis
hiccuped after the commit."""

from __future__ import annotations

import logging

from kombu.exceptions import KombuError

log = logging.getLogger(__name__)

# Connection errors surface from kombu (wrapped) or from redis-py / the socket (raw).
_PUBLISH_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError)
try:  # redis-py's errors do not derive from OSError
    from redis.exceptions import RedisError

    _PUBLISH_ERRORS = (*_PUBLISH_ERRORS, RedisError)
except ImportError:  # pragma: no cover - redis is a dependency
    pass


def publish_deliver(message_pk: int, *, countdown: float | None = None) -> bool:
    """Publish ``outgoing_deliver_task(message_pk)``; returns False when the broker failed."""
    from webmail.outbox.tasks import outgoing_deliver_task

    try:
        if countdown:
            outgoing_deliver_task.apply_async((message_pk,), countdown=countdown)
        else:
            outgoing_deliver_task.delay(message_pk)
    except _PUBLISH_ERRORS as exc:
        log.warning("publish of outgoing message %s failed (the sweeper will retry): %s",
                    message_pk, exc)
        return False
    return True


def publish_sent_copy(message_pk: int) -> bool:
    """Publish ``outgoing_sent_copy_task(message_pk)``; returns False when the broker failed."""
    from webmail.outbox.tasks import outgoing_sent_copy_task

    try:
        outgoing_sent_copy_task.delay(message_pk)
    except _PUBLISH_ERRORS as exc:
        log.warning("publish of Sent copy %s failed (the sweeper will retry): %s",
                    message_pk, exc)
        return False
    return True
