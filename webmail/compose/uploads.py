"""Files of one compose session on the server: attachments and a little state.

Everything of a compose session lives in ``VAR_DIR/uploads/<user id>/<token>/``: one
``<id>.bin`` and ``<id>.json`` per attachment and ``state.json`` (what is being replied to,
the draft that holds it). The token is random and the directory is under the user's own id, so a
token of another user finds nothing. The directory is removed after sending or discarding;
``uploads_cleanup`` removes what abandoned sessions left behind. In a deployment with several web
hosts ``VAR_DIR`` must be shared storage.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from webmail.mime.params import sanitise_filename

_TOKEN = re.compile(r"[0-9a-f]{32}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{16}")
MAX_FILES = 100
# Slack for body, headers and MIME boundaries inside the message size limit.
_MESSAGE_SLACK = 64 * 1024


class UploadError(Exception):
    """An upload that cannot be stored: over the size limit, too many files, bad name."""


@dataclass(frozen=True)
class Upload:
    id: str
    filename: str
    content_type: str
    size: int
    content_id: str = ""  # an image of the HTML body (``cid:``), not an attachment

    @property
    def is_inline(self) -> bool:
        return bool(self.content_id)


@dataclass
class ComposeState:
    """What the server remembers about a compose session between requests."""

    origin_folder: str = ""
    origin_uid: int = 0
    origin_kind: str = ""  # "reply" or "forward"
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    draft_folder: str = ""
    draft_uid: int = 0

    @property
    def origin(self) -> tuple[str, int, str] | None:
        if self.origin_folder and self.origin_uid and self.origin_kind:
            return (self.origin_folder, self.origin_uid, self.origin_kind)
        return None


def attachment_budget() -> int:
    """How many raw bytes of attachments fit in a message of the configured maximum size.

    Base64 turns 57 bytes into a 76-character line plus CRLF (78 bytes).
    """
    return max(0, (settings.WEBMAIL_MAX_MESSAGE_BYTES - _MESSAGE_SLACK) * 57 // 78)


def new_token() -> str:
    return secrets.token_hex(16)


def is_token(value: str) -> bool:
    return bool(_TOKEN.fullmatch(value or ""))


def _root() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def session_dir(user_id: int, token: str) -> Path:
    """The directory of one compose session; raises ``UploadError`` for a malformed token."""
    if not is_token(token):
        raise UploadError("not a compose session")
    return _root() / str(int(user_id)) / token


def clean_filename(name: str) -> str:
    """A file name safe to show and to put in a header: no path, control or bidi characters."""
    return sanitise_filename(unicodedata.normalize("NFC", name or ""))


def _content_type(filename: str) -> str:
    # The browser's claim is not trusted; the extension decides, like most mail programs.
    guessed, _encoding = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def uploads_list(*, user_id: int, token: str) -> list[Upload]:
    """The attachments of a compose session, oldest first."""
    directory = session_dir(user_id, token)
    if not directory.is_dir():
        return []
    found = []
    for meta in directory.glob("*.json"):
        if not _UPLOAD_ID.fullmatch(meta.stem) or not (directory / f"{meta.stem}.bin").exists():
            continue
        try:
            data = json.loads(meta.read_text("utf-8"))
            found.append((float(data.get("created", 0)), Upload(
                id=meta.stem, filename=str(data["filename"]),
                content_type=str(data["content_type"]), size=int(data["size"]),
                content_id=str(data.get("content_id") or ""))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [u for _, u in sorted(found, key=lambda pair: (pair[0], pair[1].id))]


def upload_store(*, user_id: int, token: str, filename: str, chunks: Iterable[bytes],
                 content_type: str | None = None, content_id: str = "") -> Upload:
    """Store one file for the compose session (``content_id``: an image of the HTML body,
    referenced there as ``cid:<content_id>``; it counts against the same limits).

    Raises ``UploadError`` when the session already holds ``MAX_FILES`` files or the file would
    take the session's attachments over ``attachment_budget()`` (nothing is kept then).
    """
    directory = session_dir(user_id, token)
    existing = uploads_list(user_id=user_id, token=token)
    if len(existing) >= MAX_FILES:
        raise UploadError(f"at most {MAX_FILES} attachments")
    room = attachment_budget() - sum(u.size for u in existing)
    directory.mkdir(parents=True, exist_ok=True)
    upload_id = secrets.token_hex(8)
    data_path = directory / f"{upload_id}.bin"
    size = 0
    try:
        with open(data_path, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > room:
                    raise UploadError("the attachments would make the message too large")
                out.write(chunk)
    except BaseException:
        data_path.unlink(missing_ok=True)
        raise
    name = clean_filename(filename)
    upload = Upload(id=upload_id, filename=name,
                    content_type=content_type or _content_type(name), size=size,
                    content_id=content_id)
    meta = asdict(upload) | {"created": time.time()}
    _write_json(directory / f"{upload_id}.json", meta)
    return upload


def upload_read(*, user_id: int, token: str, upload_id: str) -> bytes:
    """The bytes of one attachment; raises ``UploadError`` when there is no such file."""
    if not _UPLOAD_ID.fullmatch(upload_id or ""):
        raise UploadError("no such attachment")
    path = session_dir(user_id, token) / f"{upload_id}.bin"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UploadError("no such attachment") from exc


def upload_delete(*, user_id: int, token: str, upload_id: str) -> bool:
    """Remove one attachment; False when there was none of that id."""
    if not _UPLOAD_ID.fullmatch(upload_id or ""):
        return False
    directory = session_dir(user_id, token)
    existed = (directory / f"{upload_id}.bin").exists()
    (directory / f"{upload_id}.bin").unlink(missing_ok=True)
    (directory / f"{upload_id}.json").unlink(missing_ok=True)
    return existed


def state_read(*, user_id: int, token: str) -> ComposeState:
    """The session's state; a missing or damaged file reads as a fresh session."""
    path = session_dir(user_id, token) / "state.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return ComposeState()
    if not isinstance(data, dict):
        return ComposeState()
    fresh = ComposeState()
    values: dict[str, Any] = {}
    for name in ComposeState.__dataclass_fields__:
        value, default = data.get(name), getattr(fresh, name)
        if isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = type(value) is type(default)
        values[name] = value if ok else default
    return ComposeState(**values)


def state_write(*, user_id: int, token: str, state: ComposeState) -> None:
    directory = session_dir(user_id, token)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / "state.json", asdict(state))


def session_discard(*, user_id: int, token: str) -> None:
    """Forget a compose session: its attachments and state."""
    shutil.rmtree(session_dir(user_id, token), ignore_errors=True)


def uploads_cleanup(*, older_than_seconds: int) -> int:
    """Remove compose sessions untouched for longer than that; returns how many (for beat)."""
    root = _root()
    if not root.is_dir():
        return 0
    limit = time.time() - older_than_seconds
    removed = 0
    for user_dir in root.iterdir():
        for directory in user_dir.iterdir() if user_dir.is_dir() else ():
            newest = max((p.stat().st_mtime for p in directory.iterdir()),
                         default=directory.stat().st_mtime)
            if newest < limit:
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
    return removed


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(data), "utf-8")
    os.replace(tmp, path)
