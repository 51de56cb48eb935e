"""Drafts on the IMAP server: build, save (replacing the previous version), find, delete.

A draft is a real MIME message in the Drafts folder (RFC 6154 ``\\Drafts``, else "Drafts") with
``\\Draft \\Seen``. Every version of one compose session carries the same
``X-Webmail-Draft-Id`` (the session token) and the same Message-ID
``<draft.<token>@<the user's domain>>``; saving APPENDs the new version and then expunges
every other message with that Message-ID (and the UID it was resumed from), so there is always
one draft, and a crash between the two steps leaves two versions rather than none.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.conf import settings

from webmail.compose.prefill import DRAFT_ID_HEADER, ORIGIN_HEADER, origin_header
from webmail.compose.uploads import ComposeState
from webmail.imap.errors import ImapNotFound
from webmail.imap.gateway import MailStore
from webmail.imap.types import SpecialUse
from webmail.mime.addresses import idna_domain
from webmail.mime.compose import BuiltMessage, ComposeSpec, build_message

DRAFT_FLAGS = ("\\Draft", "\\Seen")
DEFAULT_DRAFTS = "Drafts"


@dataclass(frozen=True)
class SavedDraft:
    folder: str
    uid: int | None  # None when the server did not say (no UIDPLUS) and SEARCH found nothing


def drafts_folder(store: MailStore) -> str:
    """The folder marked ``\\Drafts``, else one the server calls Drafts, else "Drafts"."""
    folders = store.list_folders()
    found = next((f.name for f in folders if f.special_use is SpecialUse.DRAFTS), None)
    return found or DEFAULT_DRAFTS


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip("[]") or "localhost"
    try:
        return idna_domain(domain)
    except ValueError:
        return "localhost"


def draft_message_id(token: str, owner: str) -> str:
    """The Message-ID every version of the session's draft has. ``owner`` is the user's own
    address (not the chosen identity, which may change between saves)."""
    return f"<draft.{token}@{_domain(owner)}>"


def send_message_id(token: str, from_email: str) -> str:
    """The Message-ID a compose session sends with: fixed per session, so a second submit of
    the same page is recognised by the outbox (``AlreadyQueued``) instead of sent twice. Derived
    with a keyed hash so the session token never appears in the message."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"compose-msgid:{token}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"<{digest}@{_domain(from_email)}>"


def _bcc_lines(spec: ComposeSpec) -> bytes:
    """A ``Bcc:`` header for the draft (the sent message never has one): the To header that
    ``build_message`` writes for the Bcc list, renamed, so encoding and folding are its own."""
    if not spec.bcc:
        return b""
    probe = build_message(ComposeSpec(from_=spec.from_, to=spec.bcc, subject="x", text="x",
                                      message_id="<bcc.probe@localhost>"))
    head = probe.raw.partition(b"\r\n\r\n")[0].split(b"\r\n")
    out: list[bytes] = []
    inside = False
    for line in head:
        if line[:1] in (b" ", b"\t"):
            if inside:
                out.append(line)
            continue
        inside = line.lower().startswith(b"to:")
        if inside:
            out.append(b"Bcc:" + line[3:])
    return b"\r\n".join(out) + b"\r\n"


def draft_build(spec: ComposeSpec, *, token: str, owner: str,
                state: ComposeState) -> BuiltMessage:
    """The draft version of ``spec``: Bcc kept as a header, recipients optional, and our
    session headers in front. Raises ``ComposeError`` like ``build_message``."""
    # build_message wants a recipient and never writes Bcc; the sender stands in as an
    # envelope-only recipient, which leaves no trace in the bytes.
    stand_in = replace(spec, bcc=(spec.from_,),
                       message_id=draft_message_id(token, owner))
    built = build_message(stand_in)
    extra = f"{DRAFT_ID_HEADER}: {token}\r\n".encode("ascii")
    origin = origin_header(state)
    if origin:
        extra += f"{ORIGIN_HEADER}: {origin}\r\n".encode("ascii")
    raw = extra + _bcc_lines(spec) + built.raw
    return replace(built, raw=raw, recipients=())


def draft_save(store: MailStore, *, built: BuiltMessage, folder: str,
               previous_uids: Sequence[int] = ()) -> SavedDraft:
    """APPEND the draft, then expunge its older versions (same Message-ID) and
    ``previous_uids`` (the draft it was resumed from). Creates the folder when missing.

    Raises the gateway's errors (``ImapUnavailable``, ``ImapProtocolError``, ...).
    """
    try:
        uid = store.append(folder, built.raw, DRAFT_FLAGS)
    except ImapNotFound:
        store.create_folder(folder)
        uid = store.append(folder, built.raw, DRAFT_FLAGS)
    versions = set(store.find_by_message_id(folder, built.message_id))
    if uid is None and versions:
        uid = max(versions)  # without UIDPLUS the newest version has the highest UID
    stale = (versions | set(previous_uids)) - {uid}
    if stale:
        store.expunge(folder, sorted(stale))
    return SavedDraft(folder=folder, uid=uid)


def draft_delete(store: MailStore, *, folder: str, message_id: str,
                 uids: Sequence[int] = ()) -> int:
    """Delete for good every version of a draft; returns how many messages went."""
    doomed = set(store.find_by_message_id(folder, message_id)) | set(uids)
    if doomed:
        store.expunge(folder, sorted(doomed))
    return len(doomed)

