"""Delivery of one outgoing message: claim, one SMTP session, record, release.

Why a recipient is never sent to twice:

1. **The claim.** A worker may only talk SMTP for a message after a compare-and-set UPDATE
   moved it to ``sending`` with its own ``claim_token`` (``claim``). Two workers, a redelivered
   task (``acks_late``), the sweeper's re-publish and the retry countdown may all run the task
   for the same row; all but one UPDATE change zero rows and those runs stop at once.
2. **Only pending recipients are sent to.** An attempt takes the ``queued``/``deferred``
   recipients; accepted, bounced and unknown ones are never in an envelope again, so a partial
   refusal retries only the refused ones.
3. **DATA is fenced.** Right before DATA, the worker re-checks its token and refreshes the
   claim while marking the attempt's stage ``data`` (``_enter_data``). If the token changed
   (the claim expired and someone reclaimed it), it sends RSET instead of the message.
4. **A dead worker is recovered conservatively.** A claim older than
   ``WEBMAIL_SEND_CLAIM_TIMEOUT`` may be claimed again (the sweeper publishes it). Recipients
   the dead worker left in ``sending`` become ``unknown`` when its attempt had reached DATA
   (the message may be at the server) and ``deferred`` otherwise (nothing was transmitted).

No database transaction is open while SMTP talks: the claim, the DATA fence and the result
are separate short writes.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.profiles import profile_for_address
from webmail import crypto
from webmail.imap.types import Credentials, ServerAddress
from webmail.outbox import states
from webmail.outbox.models import (
    AttemptOutcome,
    AttemptStage,
    DeliveryAttempt,
    MessageState,
    OutgoingMessage,
    OutgoingRecipient,
    RecipientState,
)
from webmail.outbox.publish import publish_deliver, publish_sent_copy
from webmail.outbox.smtp import Envelope, Outcome, Stage, SubmitResult, Transport, submit

log = logging.getLogger(__name__)

CREDENTIAL_PURPOSE = "outbox-smtp"


@dataclass(frozen=True)
class DeliveryReport:
    """What one run of ``outgoing_deliver`` did (for tasks, logs and tests)."""

    message_pk: int
    claimed: bool
    state: str = ""
    recipients: dict[str, str] = field(default_factory=dict)  # address -> state afterwards


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(pk: int, *, token: str, worker: str, now: datetime) -> bool:
    """Compare-and-set: take the row if it is due (queued/deferred) or its claim expired."""
    stale_before = now - timedelta(seconds=settings.WEBMAIL_SEND_CLAIM_TIMEOUT)
    due = Q(state__in=[MessageState.QUEUED, MessageState.DEFERRED], next_attempt_at__lte=now)
    stale = Q(state=MessageState.SENDING, claimed_at__lt=stale_before)
    changed = OutgoingMessage.objects.filter(pk=pk).filter(due | stale).update(
        state=MessageState.SENDING, claimed_at=now, claimed_by=worker[:200], claim_token=token,
        attempts=F("attempts") + 1, updated=now)
    return changed == 1


@dataclass
class _Prepared:
    """What the claim transaction hands to the SMTP phase."""

    message: OutgoingMessage
    attempt: DeliveryAttempt | None = None
    envelope: Envelope | None = None
    server: ServerAddress | None = None
    credentials: Credentials | None = None
    report: DeliveryReport | None = None  # set when there is nothing to send


def outgoing_deliver(pk: int, *, worker: str | None = None,
                     transport: Transport | None = None) -> DeliveryReport:
    """Run one delivery attempt for message ``pk`` if this call wins the claim.

    Returns ``DeliveryReport(claimed=False)`` when the row is missing, not due, cancelled,
    finished or claimed by a live worker. SMTP and network trouble is recorded, not raised.
    Raises only on database errors (the claim then expires and the sweeper recovers the row).
    """
    token = uuid.uuid4().hex
    worker = worker or worker_name()
    # One short transaction: the claim, the recovery of a dead attempt, the recipients
    # marked ``sending`` and the attempt row (one commit before any network I/O).
    with transaction.atomic():
        if not claim(pk, token=token, worker=worker, now=timezone.now()):
            return DeliveryReport(pk, claimed=False)
        prepared = _prepare(pk, token, worker)
    if prepared.report is not None:
        return prepared.report
    assert prepared.attempt is not None and prepared.envelope is not None
    assert prepared.server is not None
    result = (transport or submit)(
        prepared.server, prepared.envelope, bytes(prepared.message.raw),
        credentials=prepared.credentials,
        before_data=partial(_enter_data, pk, token, prepared.attempt.pk))
    return _record(prepared.message, prepared.attempt, token, result)


def _prepare(pk: int, token: str, worker: str) -> _Prepared:
    message = OutgoingMessage.objects.select_related("user").get(pk=pk)
    now = timezone.now()
    recipients = list(message.recipients.order_by("id"))
    if any(r.state == RecipientState.SENDING for r in recipients):
        _recover_interrupted(message, now)
        recipients = list(message.recipients.order_by("id"))
    pending = [r for r in recipients if r.state in states.PENDING]
    if not pending:
        return _Prepared(message, report=_finish(message, token, now))
    if now >= message.created + timedelta(seconds=settings.WEBMAIL_SEND_MAX_AGE):
        _fail(message, pending, "gave up: the message is older than the maximum age", now)
        return _Prepared(message, report=_finish(message, token, now))

    username = message.user.get_username()
    profile = profile_for_address(username)
    credentials = None
    if profile.smtp_auth == "user":
        password = stored_password(message)
        if password is None:
            _fail(message, pending, "no usable stored credential: sign in again and resend",
                  now)
            return _Prepared(message, report=_finish(message, token, now))
        credentials = Credentials(username, password)

    OutgoingRecipient.objects.filter(pk__in=[r.pk for r in pending]).update(
        state=RecipientState.SENDING, updated=now)
    attempt = DeliveryAttempt.objects.create(
        message=message, number=message.attempts, worker=worker[:200], claim_token=token,
        server=f"{profile.smtp.host}:{profile.smtp.port}")
    envelope = Envelope(message.envelope_from, tuple(r.address for r in pending),
                        message.envelope_id)
    return _Prepared(message, attempt, envelope, profile.smtp, credentials)


def stored_password(message: OutgoingMessage) -> str | None:
    if not message.credential:
        return None
    try:
        return crypto.decrypt(message.credential, purpose=CREDENTIAL_PURPOSE)
    except crypto.CredentialError:
        log.warning("outgoing %s: stored credential cannot be decrypted", message.message_id)
        return None


def _enter_data(pk: int, token: str, attempt_pk: int) -> bool:
    """The DATA fence: still ours? Then refresh the claim and mark the attempt ``data``."""
    now = timezone.now()
    with transaction.atomic():
        ours = OutgoingMessage.objects.filter(
            pk=pk, state=MessageState.SENDING, claim_token=token,
        ).update(claimed_at=now) == 1
        if ours:
            DeliveryAttempt.objects.filter(pk=attempt_pk).update(stage=AttemptStage.DATA)
    if not ours:
        log.warning("outgoing %s: claim lost before DATA; not transmitting", pk)
    return ours


def _recover_interrupted(message: OutgoingMessage, now: datetime) -> None:
    """Settle recipients a dead worker left in ``sending`` (see the module docstring, 4)."""
    stuck = message.recipients.filter(state=RecipientState.SENDING)
    unfinished = message.attempts_log.filter(finished__isnull=True)
    reached_data = unfinished.filter(stage=AttemptStage.DATA).exists()
    with transaction.atomic():
        if reached_data:
            stuck.update(state=RecipientState.UNKNOWN, smtp_code=None, enhanced_status="",
                         diagnostic="the worker stopped after the message may have been "
                         "transmitted; not retried, to avoid sending it twice", updated=now)
        else:
            stuck.update(state=RecipientState.DEFERRED,
                         diagnostic="the worker stopped before the message was transmitted",
                         updated=now)
        unfinished.update(finished=now, outcome=AttemptOutcome.INTERRUPTED,
                          detail="worker lost; recovered by a later claim")
    log.warning("outgoing %s: recovered an interrupted attempt (%s)", message.message_id,
                "outcome unknown" if reached_data else "will retry")


def _fail(message: OutgoingMessage, recipients: list[OutgoingRecipient], reason: str,
          now: datetime) -> None:
    OutgoingRecipient.objects.filter(
        pk__in=[r.pk for r in recipients],
        state__in=[*states.PENDING, RecipientState.SENDING],
    ).update(state=RecipientState.FAILED, diagnostic=reason, updated=now)


_RELEASE: dict[str, object] = {"claimed_at": None, "claim_token": "", "claimed_by": ""}


def _finish(message: OutgoingMessage, token: str, now: datetime) -> DeliveryReport:
    with transaction.atomic():
        OutgoingMessage.objects.filter(pk=message.pk, claim_token=token).update(
            state=MessageState.FINISHED, completed_at=now, updated=now, **_RELEASE)
        wipe_credential_if_settled(message.pk)
    return _report(message.pk)


def _report(pk: int) -> DeliveryReport:
    state = OutgoingMessage.objects.filter(pk=pk).values_list("state", flat=True).first()
    recipients = dict(OutgoingRecipient.objects.filter(message_id=pk).values_list(
        "address", "state"))
    return DeliveryReport(pk, claimed=True, state=str(state or ""), recipients=recipients)


def wipe_credential_if_settled(pk: int) -> bool:
    """Erase the stored credential once nothing needs it: the message is finished or cancelled
    and no Sent copy is pending. One UPDATE, so it is safe to call from anywhere."""
    settled = Q(sent_copy_wanted=False) | Q(sent_copy_done=True) | ~Q(sent_copy_error="")
    return OutgoingMessage.objects.filter(
        pk=pk, state__in=[MessageState.FINISHED, MessageState.CANCELLED],
    ).filter(settled).exclude(credential="").update(credential="") == 1


def _results_json(result: SubmitResult) -> list[dict[str, object]]:
    return [{"address": r.address, "outcome": str(r.outcome), "code": r.code,
             "enhanced": r.enhanced, "text": r.text[:1000]} for r in result.recipients]


def _attempt_outcome(result: SubmitResult) -> AttemptOutcome:
    outcomes = {r.outcome for r in result.recipients}
    if outcomes == {Outcome.ACCEPTED}:
        return AttemptOutcome.ACCEPTED
    if Outcome.ACCEPTED in outcomes:
        return AttemptOutcome.PARTIAL
    if Outcome.UNKNOWN in outcomes:
        return AttemptOutcome.UNKNOWN
    if Outcome.TRANSIENT in outcomes:
        return AttemptOutcome.DEFERRED
    return AttemptOutcome.BOUNCED


def _target(result_outcome: Outcome, stage: Stage) -> RecipientState:
    # A permanent refusal before the envelope (AUTH refused) is about the account, not the
    # recipient: "failed", not "bounced".
    if result_outcome is Outcome.PERMANENT and stage is Stage.CONNECT:
        return RecipientState.FAILED
    return states.SMTP_OUTCOME[result_outcome]


def _record(message: OutgoingMessage, attempt: DeliveryAttempt, token: str,
            result: SubmitResult) -> DeliveryReport:
    now = timezone.now()
    attempt_fields: dict[str, object] = {
        "finished": now, "stage": AttemptStage(str(result.stage)), "smtp_code": result.code,
        "detail": result.detail[:2000], "results": _results_json(result),
        "server": result.server or attempt.server,
    }
    by_address = result.by_address()
    with transaction.atomic():
        ours = OutgoingMessage.objects.select_for_update().filter(
            pk=message.pk, state=MessageState.SENDING, claim_token=token).exists()
        if result.aborted or not ours:
            _record_abandoned(message, attempt, result, attempt_fields, now)
            return _report(message.pk)
        accepted_any = False
        recipients = list(message.recipients.order_by("id"))
        for rcpt in recipients:
            if rcpt.state != RecipientState.SENDING:
                continue
            reply = by_address.get(rcpt.address)
            if reply is None:  # not in this envelope: cannot happen, keep it pending
                rcpt.state = RecipientState.DEFERRED
            else:
                rcpt.state = _target(reply.outcome, result.stage)
                rcpt.smtp_code = reply.code
                rcpt.enhanced_status = reply.enhanced
                rcpt.diagnostic = reply.text[:2000]
                rcpt.remote_mta = (result.server or "")[:255]
                accepted_any = accepted_any or reply.outcome is Outcome.ACCEPTED
            rcpt.save(update_fields=["state", "smtp_code", "enhanced_status", "diagnostic",
                                     "remote_mta", "updated"])
        deferred = [r for r in recipients if r.state == RecipientState.DEFERRED]
        next_at = None
        if deferred:
            next_at = states.next_attempt(
                message.created, now, message.attempts, base=settings.WEBMAIL_SEND_RETRY_BASE,
                maximum=settings.WEBMAIL_SEND_RETRY_MAX, max_age=settings.WEBMAIL_SEND_MAX_AGE)
            if next_at is None:
                _fail(message, deferred, f"gave up after {message.attempts} attempt(s); last "
                      f"reply: {deferred[0].diagnostic}"[:2000], now)
                for rcpt in deferred:
                    rcpt.state = RecipientState.FAILED
        message_fields: dict[str, object] = {"updated": now, **_RELEASE}
        copy_possible = bool(message.credential)  # the Sent copy logs in as the user
        if accepted_any:
            message_fields["sent_copy_wanted"] = True
            if not copy_possible and not message.sent_copy_error:
                message_fields["sent_copy_error"] = "no stored credential to log in with"
        if next_at is not None:
            message_fields.update(state=MessageState.DEFERRED, next_attempt_at=next_at,
                                  published_at=next_at)
        else:
            message_fields.update(state=MessageState.FINISHED, completed_at=now)
        OutgoingMessage.objects.filter(pk=message.pk).update(**message_fields)
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(
            outcome=_attempt_outcome(result), **attempt_fields)
        if next_at is not None:
            delay = max((next_at - now).total_seconds(), 1.0)
            transaction.on_commit(partial(publish_deliver, message.pk, countdown=delay))
        if accepted_any and copy_possible and not message.sent_copy_done:
            transaction.on_commit(partial(publish_sent_copy, message.pk))
        wipe_credential_if_settled(message.pk)
    log.info("outgoing %s attempt %d: %s (%s)", message.message_id, attempt.number,
             _attempt_outcome(result), result.detail[:200] or result.code)
    return DeliveryReport(message.pk, claimed=True, state=str(message_fields["state"]),
                          recipients={r.address: str(r.state) for r in recipients})


def _record_abandoned(message: OutgoingMessage, attempt: DeliveryAttempt,
                      result: SubmitResult, attempt_fields: dict[str, object],
                      now: datetime) -> None:
    """We lost the claim. Keep our attempt's record; an ``unknown`` the reclaimer guessed may
    be replaced by the definite reply we got (that can never cause a second send)."""
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        outcome=AttemptOutcome.ABANDONED, **attempt_fields)
    if result.aborted:
        return
    for reply in result.recipients:
        if reply.outcome in (Outcome.ACCEPTED, Outcome.PERMANENT):
            OutgoingRecipient.objects.filter(
                message=message, address=reply.address, state=RecipientState.UNKNOWN,
            ).update(state=states.SMTP_OUTCOME[reply.outcome], smtp_code=reply.code,
                     enhanced_status=reply.enhanced, diagnostic=reply.text[:2000],
                     remote_mta=result.server[:255], updated=now)
    log.warning("outgoing %s: claim lost during attempt %d; result kept in the attempt log",
                message.message_id, attempt.number)
