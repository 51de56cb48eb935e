"""Celery tasks of the outbox: each takes a row id (JSON-safe) and calls one service.

Retries of a delivery are scheduled by the service itself (a countdown publish after a deferral,
and the sweeper as the backstop), never by Celery's own retry: the row's ``next_attempt_at``
and the claim decide, so a redelivered or duplicated task changes nothing (``delivery``).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from webmail.imap.errors import ImapProtocolError, ImapUnavailable


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_smtp_sessions(**_kwargs: Any) -> None:
    """QUIT the SMTP sessions this process kept (prefork children and the solo pool)."""
    from webmail.outbox.smtp import SESSIONS

    SESSIONS.close_all()


@shared_task(name="webmail.outbox.tasks.outgoing_deliver_task", ignore_result=True)
def outgoing_deliver_task(message_pk: int) -> str:
    """One delivery attempt for ``OutgoingMessage(pk=message_pk)`` if it is due and unclaimed,
    then every other due message of its user (``delivery.deliver_and_drain``): the task is
    also the user's wake-up (``wakeups``)."""
    from webmail.outbox.delivery import deliver_and_drain

    report = deliver_and_drain(int(message_pk))
    return report.state if report.claimed else "not claimed"


@shared_task(name="webmail.outbox.tasks.outgoing_sent_copy_task", ignore_result=True,
             autoretry_for=(ImapUnavailable, ImapProtocolError), retry_backoff=15,
             retry_backoff_max=600, retry_jitter=True, max_retries=8)
def outgoing_sent_copy_task(message_pk: int) -> str:
    """APPEND the Sent copy once (idempotent); retried on transient IMAP errors."""
    from webmail.outbox.sentcopy import outgoing_sent_copy

    return outgoing_sent_copy(int(message_pk))


@shared_task(name="webmail.outbox.tasks.outbox_sweep_task", ignore_result=True)
def outbox_sweep_task() -> dict[str, int]:
    """Beat, every 30 s: re-publish lost work, reclaim dead workers' rows, clean up."""
    from dataclasses import asdict

    from webmail.outbox.sweep import outbox_sweep

    return asdict(outbox_sweep())


@shared_task(name="webmail.outbox.tasks.bounce_mailbox_poll_task", ignore_result=True)
def bounce_mailbox_poll_task() -> int:
    """Beat (when a VERP bounce address is configured): ingest the bounce mailbox's reports.

    Logs in as ``WEBMAIL_BOUNCE_ADDRESS`` with ``WEBMAIL_BOUNCE_PASSWORD``; does nothing
    without them. Returns how many report blocks were read.
    """
    import logging

    from django.conf import settings

    from webmail.mailconn import mail_store_for
    from webmail.outbox.bounces import bounce_mailbox_poll

    address = settings.WEBMAIL_BOUNCE_ADDRESS
    password = str(getattr(settings, "WEBMAIL_BOUNCE_PASSWORD", "") or "")
    if not address or not password:
        if address:
            logging.getLogger(__name__).warning(
                "WEBMAIL_BOUNCE_ADDRESS is set but WEBMAIL_BOUNCE_PASSWORD is not: the bounce "
                "mailbox is not read")
        return 0
    with mail_store_for(address, password) as store:
        return len(bounce_mailbox_poll(store=store))
