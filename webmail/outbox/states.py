"""The delivery state machine as pure data and functions (no database, no I/O).

Recipient states (ARCHITECTURE.md, "States of an outgoing recipient")::

    queued -> sending -> accepted -> delivered            (a success DSN)
                      -> accepted -> delayed / bounced     (a delay / failure DSN)
                      -> deferred -> sending ... -> failed (gave up after WEBMAIL_SEND_MAX_AGE)
                      -> bounced                           (5xx at submission)
                      -> unknown                           (connection lost after DATA)
    queued / deferred -> cancelled                         (the user cancelled)

Only ``queued`` and ``deferred`` recipients are ever handed to SMTP, and a worker only does so
under the message's claim (see ``delivery``), so an accepted, bounced or unknown recipient is
never sent to again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from webmail.outbox.models import RecipientState as R
from webmail.outbox.smtp import Outcome

# Recipients that still need an SMTP attempt.
PENDING = frozenset({R.QUEUED, R.DEFERRED})
# The server took responsibility at some point: a Sent copy is wanted.
ACCEPTED_LIKE = frozenset({R.ACCEPTED, R.DELAYED, R.DELIVERED})

# What one recipient's SMTP outcome makes of it.
SMTP_OUTCOME = {
    Outcome.ACCEPTED: R.ACCEPTED,
    Outcome.TRANSIENT: R.DEFERRED,
    Outcome.PERMANENT: R.BOUNCED,
    Outcome.UNKNOWN: R.UNKNOWN,
}

# A DSN action (RFC 3464 2.3.3) moves a recipient only from these states. ``unknown`` is there
# because a DSN is the best evidence we will ever get for it; nothing moves back from
# ``bounced`` or ``delivered``, so the same or an older report cannot undo a newer one.
DSN_MOVES: dict[str, tuple[R, frozenset[R]]] = {
    "failed": (R.BOUNCED, frozenset({R.ACCEPTED, R.DELAYED, R.UNKNOWN})),
    "delayed": (R.DELAYED, frozenset({R.ACCEPTED, R.UNKNOWN})),
    "delivered": (R.DELIVERED, frozenset({R.ACCEPTED, R.DELAYED, R.UNKNOWN})),
    "relayed": (R.DELIVERED, frozenset({R.ACCEPTED, R.DELAYED, R.UNKNOWN})),
    "expanded": (R.DELIVERED, frozenset({R.ACCEPTED, R.DELAYED, R.UNKNOWN})),
}


def dsn_target(action: str, current: str) -> R | None:
    """The state a DSN ``action`` moves a recipient in ``current`` to, or None (no change)."""
    move = DSN_MOVES.get(action.strip().lower())
    if move is None:
        return None
    target, sources = move
    return target if current in sources and current != target else None


def retry_delay(attempts: int, *, base: int, maximum: int) -> timedelta:
    """Exponential backoff after ``attempts`` tries: base, 2*base, 4*base ... capped."""
    exponent = max(attempts - 1, 0)
    seconds = base * (2 ** min(exponent, 30))
    return timedelta(seconds=min(seconds, maximum))


def next_attempt(created: datetime, now: datetime, attempts: int, *, base: int, maximum: int,
                 max_age: int) -> datetime | None:
    """When to try again, or None when the next try would fall after the maximum age."""
    when = now + retry_delay(attempts, base=base, maximum=maximum)
    if when > created + timedelta(seconds=max_age):
        return None
    return when
