"""The pure state machine: backoff, give-up, DSN moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webmail.outbox.models import RecipientState as R
from webmail.outbox.states import dsn_target, next_attempt, retry_delay


def test_backoff_doubles_from_the_base_up_to_the_maximum() -> None:
    delays = [retry_delay(n, base=60, maximum=3600).total_seconds() for n in range(1, 10)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_backoff_survives_huge_attempt_counts() -> None:
    assert retry_delay(10_000, base=1, maximum=5) == timedelta(seconds=5)


def test_no_next_attempt_after_the_maximum_age() -> None:
    created = datetime(2030, 1, 1, tzinfo=UTC)
    now = created + timedelta(seconds=100)
    assert next_attempt(created, now, 1, base=60, maximum=3600, max_age=200) == (
        now + timedelta(seconds=60))
    assert next_attempt(created, now, 2, base=60, maximum=3600, max_age=200) is None


@pytest.mark.parametrize(("action", "current", "expected"), [
    ("failed", R.ACCEPTED, R.BOUNCED),
    ("failed", R.DELAYED, R.BOUNCED),
    ("failed", R.UNKNOWN, R.BOUNCED),
    ("Failed", R.ACCEPTED, R.BOUNCED),
    ("delayed", R.ACCEPTED, R.DELAYED),
    ("delivered", R.ACCEPTED, R.DELIVERED),
    ("relayed", R.DELAYED, R.DELIVERED),
    ("expanded", R.UNKNOWN, R.DELIVERED),
    # nothing moves back, nothing moves twice, unknown actions change nothing
    ("delayed", R.BOUNCED, None),
    ("delayed", R.DELIVERED, None),
    ("failed", R.BOUNCED, None),
    ("delivered", R.BOUNCED, None),
    ("failed", R.QUEUED, None),
    ("failed", R.DEFERRED, None),
    ("failed", R.CANCELLED, None),
    ("exploded", R.ACCEPTED, None),
])
def test_dsn_moves(action: str, current: R, expected: R | None) -> None:
    assert dsn_target(action, current) == expected
