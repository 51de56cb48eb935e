"""Background work of compose: removing the files of abandoned compose sessions."""

from __future__ import annotations

from celery import shared_task

from webmail.compose.uploads import uploads_cleanup

# A compose page left open longer than this without any change loses its uploads (a resumed
# draft brings its attachments back from the Drafts folder).
ABANDONED_AFTER_SECONDS = 2 * 24 * 3600


@shared_task(ignore_result=True)
def compose_uploads_cleanup_task() -> int:
    """Remove compose sessions untouched for two days; run it from beat (hourly is plenty)."""
    return uploads_cleanup(older_than_seconds=ABANDONED_AFTER_SECONDS)
