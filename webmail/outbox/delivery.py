"""Delivery: claim a message (and other due messages of the same sender), send them down one
kept SMTP session, record, release.

Why a recipient is never sent to twice:

1. **The claim.** A worker may only talk SMTP for a message after a compare-and-set UPDATE
   moved it to ``sending`` with its own ``claim_token`` (``claim``). Two workers, a redelivered
   task (``acks_late``), the sweeper's re-publish and the retry countdown may all run the task
   for the same row; all but one UPDATE change zero rows and those runs stop at once.
2. **Only pending recipients are sent to.** An attempt takes the ``queued``/``deferred``
   recipients; accepted, bounced and unknown ones are never in an envelope again, so a partial
   refusal retries only the refused ones.
3. **DATA is fenced.** Right before each message's DATA, one UPDATE marks its attempt's stage
   ``data`` only if the message still carries this worker's token (``_enter_data``). If the
   token changed (the claim expired and someone reclaimed it), it sends RSET instead of the
   message. The claims of a batch are refreshed together (one UPDATE) whenever the last
   refresh is older than ``_lease()`` (at most a tenth of the claim timeout), so a claim the
   fence found is at least 90 % of the timeout away from expiring when DATA starts.
4. **A dead worker is recovered conservatively.** A claim older than
   ``WEBMAIL_SEND_CLAIM_TIMEOUT`` may be claimed again (the sweeper publishes it). Recipients
   the dead worker left in ``sending`` become ``unknown`` when its attempt had reached DATA
   (the message may be at the server) and ``deferred`` otherwise (nothing was transmitted).

**Batches.** The worker that wins a message's claim also claims, in the same transaction, up to
``BATCH_SIZE - 1`` other due messages of the same user (same server profile, same SMTP login):
a compare-and-set UPDATE of rows it first locked (``SKIP LOCKED`` on PostgreSQL; SQLite's
write lock covers the transaction), all under one claim token, each with its own attempt row.
It sends them one after another down one kept session (``smtp.SESSIONS``), each behind its own
DATA fence, and records the results in bulk every ``RECORD_EVERY`` messages (and at the end),
each under the same "still ours?" check as a single message. The tasks of the messages a batch
took find no due row and end after that one UPDATE.

No database transaction is open while SMTP talks: the claim, the DATA fences and the results
are separate short writes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, Field, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from accounts.profiles import profile_for_address
from webmail import crypto
from webmail.imap.types import Credentials, ServerAddress
from webmail.outbox import states, wakeups
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
from webmail.outbox.smtp import SESSIONS, Envelope, Outcome, Stage, SubmitResult, Transport

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
    """Compare-and-set: take the row if it is due (queued/deferred) or its claim expired.

    One plain SQL UPDATE, without the ORM's per-query overhead (equivalent to
    ``filter(pk=pk).filter(due | stale).update(...)``).
    """
    stale_before = now - timedelta(seconds=settings.WEBMAIL_SEND_CLAIM_TIMEOUT)
    ops = connection.ops
    table = ops.quote_name(OutgoingMessage._meta.db_table)
    # Identifiers from the model's meta, every value a parameter.
    sql = (f"UPDATE {table} SET state = %s, claimed_at = %s, claimed_by = %s, "  # noqa: S608
           "claim_token = %s, attempts = attempts + 1, updated = %s "
           "WHERE id = %s AND ((state IN (%s, %s) AND next_attempt_at <= %s) "
           "OR (state = %s AND claimed_at < %s))")
    stamp = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [
            MessageState.SENDING.value, stamp, worker[:200], token, stamp, pk,
            MessageState.QUEUED.value, MessageState.DEFERRED.value, stamp,
            MessageState.SENDING.value, ops.adapt_datetimefield_value(stale_before)])
        return bool(cursor.rowcount == 1)


# How many messages one claim may take (the first one and due messages of the same user).
BATCH_SIZE = 100
# Results are written every this many messages of a batch (and at its end).
RECORD_EVERY = 25


def _lease() -> float:
    """Seconds a batch's claim refresh stays good for the DATA fence."""
    return min(5.0, settings.WEBMAIL_SEND_CLAIM_TIMEOUT / 10)


def claimable(pk: int, now: datetime) -> bool:
    """A read before the claim: could ``claim`` take the row now? Most tasks of a busy outbox
    find their row already taken by a batch; this way they end without a write (on SQLite
    any write transaction, even one that changes nothing, takes the database's write lock,
    which the web processes' enqueues wait for)."""
    return _peek(pk, now)[1]


def _peek(pk: int, now: datetime) -> tuple[int | None, bool]:
    """``claimable``, and the row's user (None when the row is gone), in one read."""
    row = OutgoingMessage.objects.filter(pk=pk).values_list(
        "user_id", "state", "next_attempt_at", "claimed_at").first()
    if row is None:
        return None, False
    user_id, state, next_at, claimed_at = row
    if state in (MessageState.QUEUED, MessageState.DEFERRED):
        return user_id, next_at is not None and next_at <= now
    stale_before = now - timedelta(seconds=settings.WEBMAIL_SEND_CLAIM_TIMEOUT)
    return user_id, bool(state == MessageState.SENDING and claimed_at is not None
                         and claimed_at < stale_before)


def claim_companions(first: OutgoingMessage, *, token: str, worker: str, now: datetime,
                     limit: int) -> list[int]:
    """In the caller's transaction: claim up to ``limit`` other due messages of ``first``'s user
    under the same token; returns their ids (oldest due first).

    Only queued/deferred rows with a pending recipient and within the maximum age are taken
    (an expired claim is left to its own task, which settles the dead attempt).
    """
    return claim_due(first.user_id, token=token, worker=worker, now=now, limit=limit,
                     exclude=first.pk)


def _due(user_id: int, now: datetime) -> Q:
    oldest = now - timedelta(seconds=settings.WEBMAIL_SEND_MAX_AGE)
    return Q(state__in=[MessageState.QUEUED, MessageState.DEFERRED], next_attempt_at__lte=now,
             user_id=user_id, created__gt=oldest)


def _due_rows(user_id: int, now: datetime, exclude: int | None) -> Any:
    pending = OutgoingRecipient.objects.filter(message_id=OuterRef("pk"),
                                               state__in=states.PENDING)
    rows = OutgoingMessage.objects.filter(_due(user_id, now)).filter(Exists(pending))
    return rows.exclude(pk=exclude) if exclude is not None else rows


def claim_due(user_id: int, *, token: str, worker: str, now: datetime, limit: int,
              exclude: int | None = None) -> list[int]:
    """In the caller's transaction: claim up to ``limit`` due messages of the user (queued or
    deferred, a pending recipient, within the maximum age) under ``token``; returns their ids,
    oldest due first. Rows another transaction is claiming are skipped (``SKIP LOCKED`` on
    PostgreSQL; SQLite's write lock covers the transaction)."""
    if limit <= 0:
        return []
    rows = _due_rows(user_id, now, exclude)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    ids = list(rows.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    changed = OutgoingMessage.objects.filter(_due(user_id, now), pk__in=ids).update(
        state=MessageState.SENDING, claimed_at=now, claimed_by=worker[:200], claim_token=token,
        attempts=F("attempts") + 1, updated=now)
    if changed != len(ids):  # cannot happen under the locks; trust only the token
        ids = list(OutgoingMessage.objects.filter(pk__in=ids, claim_token=token,
                                                  state=MessageState.SENDING)
                   .values_list("pk", flat=True))
    return ids


@dataclass
class _Item:
    """One claimed message ready for SMTP."""

    message: OutgoingMessage
    recipients: list[OutgoingRecipient]  # all of the message's, by id
    pending: list[OutgoingRecipient]
    envelope: Envelope
    credentials: Credentials | None
    attempt: DeliveryAttempt | None = None


@dataclass
class _Prepared:
    """What the claim transaction hands to the SMTP phase."""

    items: list[_Item] = field(default_factory=list)
    server: ServerAddress | None = None
    reports: dict[int, DeliveryReport] = field(default_factory=dict)  # settled without SMTP


def outgoing_deliver(pk: int, *, worker: str | None = None,
                     transport: Transport | None = None,
                     batch: int | None = None) -> DeliveryReport:
    """Run one delivery attempt for message ``pk`` if this call wins the claim, and for up to
    ``batch - 1`` (default ``BATCH_SIZE``) other due messages of the same user in the same
    SMTP session.

    Returns ``pk``'s report: ``DeliveryReport(claimed=False)`` when the row is missing, not
    due, cancelled, finished, claimed by a live worker or already taken by another batch.
    SMTP and network trouble is recorded, not raised. Raises only on database errors (the
    claims then expire and the sweeper recovers the rows).
    """
    if not claimable(pk, timezone.now()):
        return DeliveryReport(pk, claimed=False)
    return _deliver(pk, worker or worker_name(), transport, batch)


def _deliver(pk: int, worker: str, transport: Transport | None,
             batch: int | None) -> DeliveryReport:
    token = uuid.uuid4().hex
    size = BATCH_SIZE if batch is None else max(batch, 1)
    # One short transaction: the claims, the recovery of a dead attempt, the recipients
    # marked ``sending`` and the attempt rows (one commit before any network I/O).
    with transaction.atomic():
        now = timezone.now()
        if not claim(pk, token=token, worker=worker, now=now):
            return DeliveryReport(pk, claimed=False)
        prepared = _prepare(pk, token, worker, now, size)
    if prepared.items:
        assert prepared.server is not None
        prepared.reports.update(
            _send(prepared.items, prepared.server, token, transport or SESSIONS.submit))
    return prepared.reports[pk]


# A drain hands what is left to a new task after this long (other users' tasks wait behind
# it in the queue meanwhile).
DRAIN_SECONDS = 20.0


def deliver_and_drain(pk: int, *, worker: str | None = None,
                      transport: Transport | None = None,
                      batch: int | None = None) -> DeliveryReport:
    """The delivery task: mark the user's drain as running (``wakeups.hold``), deliver ``pk``
    (with its batch) if it can be claimed, then drain every due message of that user and hand
    the wake-up key back (``drain``). Returns ``pk``'s report (``claimed=False`` when another
    task or batch had it)."""
    worker = worker or worker_name()
    user_id, can_claim = _peek(pk, timezone.now())
    if user_id is None:
        return DeliveryReport(pk, claimed=False)
    wakeups.hold(user_id)
    report = (_deliver(pk, worker, transport, batch) if can_claim
              else DeliveryReport(pk, claimed=False))
    drain(user_id, worker=worker, transport=transport, batch=batch)
    return report


def drain(user_id: int, *, worker: str | None = None, transport: Transport | None = None,
          batch: int | None = None, seconds: float = DRAIN_SECONDS) -> int:
    """Claim and send ``user_id``'s due messages, a batch (``BATCH_SIZE``) per claim, until
    none is due, then release the wake-up key and look once more; returns how many messages
    were claimed.

    While it runs, the key stays set (refreshed), so the user's new messages publish nothing:
    the loop takes them. When nothing is due, it deletes the key and THEN checks again: a
    message committed before the delete is seen by that check (and the drain takes the key
    back and goes on, unless someone else set it, who published a task); one committed after
    it finds the key absent and publishes (``wakeups``). Each round first reads whether
    anything is due (on SQLite a claim is a write transaction even when it finds nothing).
    Rows another worker is claiming at the same moment are skipped and stay theirs. After
    ``seconds`` the drain publishes a task for the user (it goes on) and returns.
    """
    worker = worker or worker_name()
    size = BATCH_SIZE if batch is None else max(batch, 1)
    started = held = time.monotonic()
    taken = 0
    user: User | None = None
    while True:
        while _due_rows(user_id, timezone.now(), None).exists():
            token = uuid.uuid4().hex
            with transaction.atomic():
                now = timezone.now()
                ids = claim_due(user_id, token=token, worker=worker, now=now, limit=size)
                if user is None and ids:
                    user = User.objects.get(pk=user_id)
                prepared = (_prepare_batch(_load(ids, user), user, token, worker, now)
                            if ids and user is not None else _Prepared())
            if not ids:  # another worker is claiming them right now: theirs once committed
                time.sleep(0.01)
                break
            taken += len(ids)
            if prepared.items:
                assert prepared.server is not None
                _send(prepared.items, prepared.server, token, transport or SESSIONS.submit)
            if time.monotonic() - started > seconds:
                # Go on in a new task (it reads the user from the row); the key stays set
                # for it, unless that publish failed.
                if not publish_deliver(ids[-1]):
                    wakeups.release(user_id)
                return taken
            if time.monotonic() - held > wakeups.TTL / 3:
                wakeups.hold(user_id)
                held = time.monotonic()
        wakeups.release(user_id)
        if not _due_rows(user_id, timezone.now(), None).exists():
            return taken
        if not wakeups.acquire(user_id):
            return taken  # whoever set the key published a task, or is draining


def _prepare(pk: int, token: str, worker: str, now: datetime, size: int) -> _Prepared:
    first = OutgoingMessage.objects.select_related("user").get(pk=pk)
    if first.recipients.filter(state=RecipientState.SENDING).exists():
        _recover_interrupted(first, now)
    messages = [first]
    if size > 1:
        ids = claim_companions(first, token=token, worker=worker, now=now, limit=size - 1)
        messages.extend(_load(ids, first.user))
    return _prepare_batch(messages, first.user, token, worker, now)


def _load(ids: list[int], user: User) -> list[OutgoingMessage]:
    """The claimed rows ``ids``, in that order, each with ``user`` attached."""
    if not ids:
        return []
    found = {m.pk: m for m in OutgoingMessage.objects.filter(pk__in=ids)}
    for message in found.values():
        message.user = user
    return [found[i] for i in ids if i in found]


def _prepare_batch(messages: list[OutgoingMessage], user: User, token: str, worker: str,
                   now: datetime) -> _Prepared:
    """In the claim's transaction: settle what needs no SMTP, mark the pending recipients
    ``sending`` and write the attempt rows."""
    recipients: dict[int, list[OutgoingRecipient]] = {m.pk: [] for m in messages}
    for rcpt in OutgoingRecipient.objects.filter(message_id__in=list(recipients)).order_by("id"):
        recipients[rcpt.message_id].append(rcpt)

    username = user.get_username()
    profile = profile_for_address(username)
    prepared = _Prepared(server=profile.smtp)
    max_age = timedelta(seconds=settings.WEBMAIL_SEND_MAX_AGE)
    for message in messages:
        rows = recipients[message.pk]
        pending = [r for r in rows if r.state in states.PENDING]
        if not pending:
            prepared.reports[message.pk] = _finish(message, token, now)
            continue
        if now >= message.created + max_age:
            _fail(message, pending, "gave up: the message is older than the maximum age", now)
            prepared.reports[message.pk] = _finish(message, token, now)
            continue
        credentials = None
        if profile.smtp_auth == "user":
            password = stored_password(message)
            if password is None:
                _fail(message, pending,
                      "no usable stored credential: sign in again and resend", now)
                prepared.reports[message.pk] = _finish(message, token, now)
                continue
            credentials = Credentials(username, password)
        envelope = Envelope(message.envelope_from, tuple(r.address for r in pending),
                            message.envelope_id)
        prepared.items.append(_Item(message, rows, pending, envelope, credentials))
    if not prepared.items:
        return prepared

    sending = [r.pk for item in prepared.items for r in item.pending]
    OutgoingRecipient.objects.filter(pk__in=sending).update(state=RecipientState.SENDING,
                                                            updated=now)
    for item in prepared.items:
        for rcpt in item.pending:
            rcpt.state = RecipientState.SENDING
    server = f"{profile.smtp.host}:{profile.smtp.port}"
    attempts = DeliveryAttempt.objects.bulk_create([
        DeliveryAttempt(message=item.message, number=item.message.attempts, worker=worker[:200],
                        claim_token=token, server=server)
        for item in prepared.items])
    if any(a.pk is None for a in attempts):  # a backend without RETURNING for bulk inserts
        by_message = dict(DeliveryAttempt.objects.filter(
            claim_token=token, message_id__in=[i.message.pk for i in prepared.items],
        ).values_list("message_id", "pk"))
        for attempt in attempts:
            attempt.pk = by_message[attempt.message_id]
    for item, attempt in zip(prepared.items, attempts, strict=True):
        item.attempt = attempt
    return prepared


def _send(items: list[_Item], server: ServerAddress, token: str,
          transport: Transport) -> dict[int, DeliveryReport]:
    """The SMTP phase of a batch: one message after another, results written in bulk."""
    reports: dict[int, DeliveryReport] = {}
    done: list[tuple[_Item, SubmitResult]] = []
    lease = _lease()
    refreshed = time.monotonic()  # the claim itself set claimed_at
    for index, item in enumerate(items):
        if time.monotonic() - refreshed > lease:
            _refresh_claims([i.message.pk for i in items[index:]], token)
            refreshed = time.monotonic()
        assert item.attempt is not None
        result = transport(
            server, item.envelope, bytes(item.message.raw), credentials=item.credentials,
            before_data=partial(_enter_data, item.message.pk, token, item.attempt.pk))
        done.append((item, result))
        if len(done) >= RECORD_EVERY:
            reports.update(_record(done, token))
            done = []
    if done:
        reports.update(_record(done, token))
    return reports


def _refresh_claims(pks: list[int], token: str) -> None:
    OutgoingMessage.objects.filter(pk__in=pks, state=MessageState.SENDING,
                                   claim_token=token).update(claimed_at=timezone.now())


def stored_password(message: OutgoingMessage) -> str | None:
    if not message.credential:
        return None
    try:
        return crypto.decrypt(message.credential, purpose=CREDENTIAL_PURPOSE)
    except crypto.CredentialError:
        log.warning("outgoing %s: stored credential cannot be decrypted", message.message_id)
        return None


def _enter_data(pk: int, token: str, attempt_pk: int) -> bool:
    """The DATA fence: one UPDATE marks the attempt ``data`` only while the message is still
    ours (claimed with ``token``); False means: do not transmit. Plain SQL (once per message)
    for ``DeliveryAttempt.objects.filter(pk=attempt_pk).filter(Exists(ours)).update(...)``."""
    ops = connection.ops
    attempts = ops.quote_name(DeliveryAttempt._meta.db_table)
    messages = ops.quote_name(OutgoingMessage._meta.db_table)
    sql = (f"UPDATE {attempts} SET stage = %s WHERE id = %s AND EXISTS (SELECT 1 FROM "  # noqa: S608
           f"{messages} WHERE id = %s AND state = %s AND claim_token = %s)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [AttemptStage.DATA.value, attempt_pk, pk,
                             MessageState.SENDING.value, token])
        ours = bool(cursor.rowcount == 1)
    if not ours:
        log.warning("outgoing %s: claim lost before DATA; not transmitting", pk)
    return ours


_ATTEMPT_FIELDS = ("finished", "stage", "smtp_code", "detail", "results", "server", "outcome")


def _update_attempts(attempts: list[DeliveryAttempt]) -> None:
    """Write the finished attempts with one ``executemany`` (``bulk_update`` builds a CASE
    per field and row, which costs milliseconds per row in Python)."""
    if not attempts:
        return
    ops = connection.ops
    fields: list[Field[Any, Any]] = []
    for name in _ATTEMPT_FIELDS:
        found = DeliveryAttempt._meta.get_field(name)
        assert isinstance(found, Field)
        fields.append(found)
    sets = ", ".join(f"{ops.quote_name(str(f.column))} = %s" for f in fields)
    table = ops.quote_name(DeliveryAttempt._meta.db_table)
    sql = f"UPDATE {table} SET {sets} WHERE id = %s"  # noqa: S608
    rows = [[f.get_db_prep_save(getattr(a, f.attname), connection) for f in fields] + [a.pk]
            for a in attempts]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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
    return wipe_credentials_if_settled([pk]) == 1


def wipe_credentials_if_settled(pks: list[int]) -> int:
    """``wipe_credential_if_settled`` for many rows in one UPDATE; returns how many."""
    settled = Q(sent_copy_wanted=False) | Q(sent_copy_done=True) | ~Q(sent_copy_error="")
    return OutgoingMessage.objects.filter(
        pk__in=pks, state__in=[MessageState.FINISHED, MessageState.CANCELLED],
    ).filter(settled).exclude(credential="").update(credential="")


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


def _record(done: list[tuple[_Item, SubmitResult]], token: str) -> dict[int, DeliveryReport]:
    """Write the results of sent messages in one transaction, in bulk: recipients with the
    same outcome in one UPDATE, finished messages in one UPDATE, the attempt rows in one."""
    now = timezone.now()
    reports: dict[int, DeliveryReport] = {}
    rcpt_groups: dict[tuple[object, ...], list[int]] = {}
    msg_groups: dict[tuple[tuple[str, object], ...], list[int]] = {}
    attempts: list[DeliveryAttempt] = []
    retries: list[tuple[int, float]] = []
    copies: list[int] = []
    settled: list[int] = []
    with transaction.atomic():
        ours = set(OutgoingMessage.objects.select_for_update().filter(
            pk__in=[item.message.pk for item, _r in done], state=MessageState.SENDING,
            claim_token=token).values_list("pk", flat=True))
        for item, result in done:
            message, attempt = item.message, item.attempt
            assert attempt is not None
            attempt.finished = now
            attempt.stage = AttemptStage(str(result.stage))
            attempt.smtp_code = result.code
            attempt.detail = result.detail[:2000]
            attempt.results = _results_json(result)
            attempt.server = result.server or attempt.server
            if result.aborted or message.pk not in ours:
                attempt.outcome = AttemptOutcome.ABANDONED
                attempts.append(attempt)
                _record_abandoned(message, attempt, result, now)
                reports[message.pk] = _report(message.pk)
                continue
            attempt.outcome = _attempt_outcome(result)
            attempts.append(attempt)
            fields, retry, copy = _outcome(item, result, now, rcpt_groups)
            msg_groups.setdefault(tuple(sorted(fields.items())), []).append(message.pk)
            if retry is not None:
                retries.append((message.pk, retry))
            if copy:
                copies.append(message.pk)
            if fields["state"] == MessageState.FINISHED:
                settled.append(message.pk)
            reports[message.pk] = DeliveryReport(
                message.pk, claimed=True, state=str(fields["state"]),
                recipients={r.address: str(r.state) for r in item.recipients})
            log.info("outgoing %s attempt %d: %s (%s)", message.message_id, attempt.number,
                     attempt.outcome, result.detail[:200] or result.code)
        for (state, code, enhanced, diagnostic, mta), pks in rcpt_groups.items():
            OutgoingRecipient.objects.filter(pk__in=pks).update(
                state=state, smtp_code=code, enhanced_status=enhanced, diagnostic=diagnostic,
                remote_mta=mta, updated=now)
        for key, pks in msg_groups.items():
            OutgoingMessage.objects.filter(pk__in=pks).update(**dict(key))
        _update_attempts(attempts)
        for pk, delay in retries:
            transaction.on_commit(partial(publish_deliver, pk, countdown=delay))
        for pk in copies:
            transaction.on_commit(partial(publish_sent_copy, pk))
        if settled:
            wipe_credentials_if_settled(settled)
    return reports


def _outcome(item: _Item, result: SubmitResult, now: datetime,
             rcpt_groups: dict[tuple[object, ...], list[int]],
             ) -> tuple[dict[str, object], float | None, bool]:
    """One message's result: its recipients' new states (added to ``rcpt_groups``), the
    message's new fields, the retry countdown (or None) and whether a Sent copy is due."""
    message = item.message
    by_address = result.by_address()
    accepted_any = False
    changed = []
    for rcpt in item.recipients:
        if rcpt.state != RecipientState.SENDING:
            continue
        changed.append(rcpt)
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
    deferred = [r for r in item.recipients if r.state == RecipientState.DEFERRED]
    next_at = None
    if deferred:
        next_at = states.next_attempt(
            message.created, now, message.attempts, base=settings.WEBMAIL_SEND_RETRY_BASE,
            maximum=settings.WEBMAIL_SEND_RETRY_MAX, max_age=settings.WEBMAIL_SEND_MAX_AGE)
        if next_at is None:
            reason = (f"gave up after {message.attempts} attempt(s); last reply: "
                      f"{deferred[0].diagnostic}")[:2000]
            for rcpt in deferred:
                rcpt.state = RecipientState.FAILED
                rcpt.diagnostic = reason
    for rcpt in changed:
        rcpt_groups.setdefault((rcpt.state, rcpt.smtp_code, rcpt.enhanced_status,
                                rcpt.diagnostic, rcpt.remote_mta), []).append(rcpt.pk)
    fields: dict[str, object] = {"updated": now, **_RELEASE}
    copy_possible = bool(message.credential)  # the Sent copy logs in as the user
    if accepted_any:
        fields["sent_copy_wanted"] = True
        if not copy_possible and not message.sent_copy_error:
            fields["sent_copy_error"] = "no stored credential to log in with"
    if next_at is not None:
        fields.update(state=MessageState.DEFERRED, next_attempt_at=next_at,
                      published_at=next_at)
    else:
        fields.update(state=MessageState.FINISHED, completed_at=now)
    retry = max((next_at - now).total_seconds(), 1.0) if next_at is not None else None
    copy = accepted_any and copy_possible and not message.sent_copy_done
    return fields, retry, copy


def _record_abandoned(message: OutgoingMessage, attempt: DeliveryAttempt,
                      result: SubmitResult, now: datetime) -> None:
    """We lost the claim. Keep our attempt's record (written with the batch's attempts); an
    ``unknown`` the reclaimer guessed may be replaced by the definite reply we got (that can
    never cause a second send)."""
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
