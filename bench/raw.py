"""The baselines: the same protocol work done with bare imapclient, no webmail in between."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

import imapclient

from tests.infra import mailstack

SUMMARY_ITEMS = [b"UID", b"ENVELOPE", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"BODYSTRUCTURE"]
PAGE = 50


def login(address: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(mailstack.HOST, port=mailstack.IMAP_PORT, ssl=False,
                                   timeout=600)
    client.login(address, mailstack.PASSWORD)
    return client


def cold_page(address: str, criterion: str = "ARRIVAL", reverse: bool = True, page: int = 1,
              search: Sequence[Any] = ("ALL",)) -> float:
    """LOGIN + SELECT + UID SORT + UID FETCH of one page of 50 + LOGOUT: seconds."""
    started = time.perf_counter()
    client = login(address)
    try:
        client.select_folder("INBOX")
        uids = client.sort([criterion], list(search), charset="UTF-8")
        if reverse:
            uids = uids[::-1]
        wanted = uids[(page - 1) * PAGE:page * PAGE]
        if wanted:
            client.fetch(wanted, SUMMARY_ITEMS)
    finally:
        client.logout()
    return time.perf_counter() - started


def pages_available(address: str) -> int:
    client = login(address)
    try:
        count = int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()
    return max(1, -(-count // PAGE))


def download(address: str, uid: int, section: str) -> float:
    """LOGIN + SELECT + one FETCH of the whole part + base64 decoding: seconds."""
    started = time.perf_counter()
    client = login(address)
    try:
        client.select_folder("INBOX", readonly=True)
        item = f"BODY.PEEK[{section}]".encode()
        data = client.fetch([uid], [item])
        raw = next(v for k, v in data[uid].items() if k.startswith(b"BODY["))
        base64.decodebytes(raw)
    finally:
        client.logout()
    return time.perf_counter() - started


def view(address: str, uid: int) -> float:
    """LOGIN + SELECT + FETCH of the message (what any reader must transfer): seconds."""
    started = time.perf_counter()
    client = login(address)
    try:
        client.select_folder("INBOX", readonly=True)
        client.fetch([uid], [b"BODY.PEEK[]"])
    finally:
        client.logout()
    return time.perf_counter() - started
