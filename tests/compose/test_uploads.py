"""The compose-session file store: limits, names, other users, clean-up."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from webmail.compose import uploads
from webmail.compose.tasks import compose_uploads_cleanup_task

TOKEN = "0123456789abcdef0123456789abcdef"


def test_store_list_read_delete() -> None:
    first = uploads.upload_store(user_id=1, token=TOKEN, filename="C:\\Users\\x\\report.pdf",
                                 chunks=[b"%PDF", b"-1.7"])
    second = uploads.upload_store(user_id=1, token=TOKEN, filename="\u202eexe.txt",
                                  chunks=[b"x"])
    assert first.filename == "report.pdf" and first.content_type == "application/pdf"
    assert first.size == 8
    assert "\u202e" not in second.filename
    assert [u.id for u in uploads.uploads_list(user_id=1, token=TOKEN)] == [first.id, second.id]
    assert uploads.upload_read(user_id=1, token=TOKEN, upload_id=first.id) == b"%PDF-1.7"
    assert uploads.upload_delete(user_id=1, token=TOKEN, upload_id=first.id)
    assert not uploads.upload_delete(user_id=1, token=TOKEN, upload_id=first.id)
    with pytest.raises(uploads.UploadError):
        uploads.upload_read(user_id=1, token=TOKEN, upload_id=first.id)


def test_another_user_sees_nothing_under_the_same_token() -> None:
    stored = uploads.upload_store(user_id=1, token=TOKEN, filename="a.txt", chunks=[b"a"])
    assert uploads.uploads_list(user_id=2, token=TOKEN) == []
    with pytest.raises(uploads.UploadError):
        uploads.upload_read(user_id=2, token=TOKEN, upload_id=stored.id)
    assert not uploads.upload_delete(user_id=2, token=TOKEN, upload_id=stored.id)


@pytest.mark.parametrize("token", ["", "..", "../1/0123456789abcdef0123456789abcdef",
                                   TOKEN.upper(), TOKEN + "0"])
def test_malformed_tokens_never_reach_the_disk(token: str) -> None:
    with pytest.raises(uploads.UploadError):
        uploads.session_dir(1, token)
    with pytest.raises(uploads.UploadError):
        uploads.upload_store(user_id=1, token=token, filename="a", chunks=[b"a"])


@pytest.mark.parametrize("upload_id", ["../state", "state", "x" * 16, ""])
def test_malformed_upload_ids_are_refused(upload_id: str) -> None:
    with pytest.raises(uploads.UploadError):
        uploads.upload_read(user_id=1, token=TOKEN, upload_id=upload_id)


def test_budget_counts_all_files_of_the_session(settings: SettingsWrapper) -> None:
    settings.WEBMAIL_MAX_MESSAGE_BYTES = 64 * 1024 + 78 * 10  # room for 570 raw bytes
    assert uploads.attachment_budget() == 570
    uploads.upload_store(user_id=1, token=TOKEN, filename="a", chunks=[b"a" * 500])
    with pytest.raises(uploads.UploadError, match="too large"):
        uploads.upload_store(user_id=1, token=TOKEN, filename="b", chunks=[b"b" * 40, b"b" * 40])
    # nothing of the refused file stays behind
    assert [u.size for u in uploads.uploads_list(user_id=1, token=TOKEN)] == [500]
    assert len(list(uploads.session_dir(1, TOKEN).glob("*.bin"))) == 1


def test_state_round_trip_and_garbage() -> None:
    state = uploads.ComposeState(origin_folder="A/B", origin_uid=3, origin_kind="reply",
                                 in_reply_to="<x@y>", references=["<x@y>"])
    uploads.state_write(user_id=1, token=TOKEN, state=state)
    assert uploads.state_read(user_id=1, token=TOKEN) == state
    assert state.origin == ("A/B", 3, "reply")
    (uploads.session_dir(1, TOKEN) / "state.json").write_text(json.dumps(
        {"origin_uid": [], "origin_folder": 5, "references": ["<a@b>", 3], "draft_uid": 7}))
    assert uploads.state_read(user_id=1, token=TOKEN) == uploads.ComposeState(draft_uid=7)
    (uploads.session_dir(1, TOKEN) / "state.json").write_text("[1, 2]")
    assert uploads.state_read(user_id=1, token=TOKEN) == uploads.ComposeState()
    (uploads.session_dir(1, TOKEN) / "state.json").write_text("{not json")
    assert uploads.state_read(user_id=1, token=TOKEN) == uploads.ComposeState()


def test_cleanup_removes_only_abandoned_sessions(_var_dir: Path) -> None:
    other = "f" * 32
    uploads.upload_store(user_id=1, token=TOKEN, filename="old", chunks=[b"x"])
    uploads.upload_store(user_id=1, token=other, filename="new", chunks=[b"x"])
    old = time.time() - 3 * 24 * 3600
    for path in [uploads.session_dir(1, TOKEN), *uploads.session_dir(1, TOKEN).iterdir()]:
        os.utime(path, (old, old))
    assert compose_uploads_cleanup_task() == 1
    assert not uploads.session_dir(1, TOKEN).exists()
    assert uploads.session_dir(1, other).exists()
