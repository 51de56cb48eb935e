"""Regenerate ``data/dovecot_sections.json``: the IMAP section numbers Dovecot gives every part of
every message of the shared MIME corpus (BODYSTRUCTURE walked by the RFC 3501 numbering rule).

Not a test. Run by hand when the corpus changes, with Dovecot installed::

    .venv/bin/python tests/mime/make_dovecot_sections.py

It starts Dovecot's ``imap`` binary in PREAUTH mode on a throw-away Maildir (no daemon, no
network), APPENDs each corpus file and FETCHes its BODYSTRUCTURE.
"""

from __future__ import annotations

import csv
import imaplib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from imapclient.response_parser import parse_fetch_response

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("WEBMAIL_CORPORA") or HERE.parents[1].parent / "shared" / "corpora")

CONF = """base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
protocols =
ssl = no
mail_location = maildir:{d}/mail
userdb {{
  driver = static
  args = uid={user} gid={group} home={d}/home
}}
passdb {{
  driver = static
  args = password=unused
}}
"""


def _lower(value: Any) -> str:
    return value.decode("ascii", "replace").lower() if isinstance(value, bytes) else ""


def _split_multipart(bs: Any) -> tuple[list[Any], str]:
    """imapclient gives the top multipart as ([children], subtype, ...) but a nested one, inside
    a message/rfc822 body, as (child, child, ..., subtype, ...)."""
    if isinstance(bs[0], list):
        return list(bs[0]), _lower(bs[1])
    children: list[Any] = []
    for item in bs:
        if not isinstance(item, tuple):
            return children, _lower(item)
        children.append(item)
    return children, ""


def _walk_part(bs: Any, section: str, out: list[list[str]]) -> None:
    if isinstance(bs[0], list | tuple):
        out.append([section, "multipart/" + _split_multipart(bs)[1]])
        _walk_children(bs, section, out)
        return
    ctype = _lower(bs[0]) + "/" + _lower(bs[1])
    out.append([section, ctype])
    if ctype == "message/rfc822" and len(bs) > 8 and isinstance(bs[8], tuple):
        _walk_body(bs[8], section, out)


def _walk_children(bs: Any, section: str, out: list[list[str]]) -> None:
    prefix = section + "." if section else ""
    for number, child in enumerate(_split_multipart(bs)[0], start=1):
        _walk_part(child, f"{prefix}{number}", out)


def _walk_body(bs: Any, section: str, out: list[list[str]]) -> None:
    if isinstance(bs[0], list | tuple):
        _walk_children(bs, section, out)
    else:
        _walk_part(bs, f"{section}.1" if section else "1", out)


def main() -> int:
    imap_bin = "/usr/lib/dovecot/imap"
    if not Path(imap_bin).exists():
        print("Dovecot's imap binary is not installed", file=sys.stderr)
        return 1
    mime = CORPUS / "mime"
    with (mime / "INDEX.tsv").open(encoding="utf-8", newline="") as handle:
        files = [row["file"] for row in csv.DictReader(handle, delimiter="\t")]
    tmp = tempfile.mkdtemp(prefix="dvsections-")
    try:
        for sub in ("run", "state", "mail", "home"):
            os.mkdir(os.path.join(tmp, sub))
        Path(tmp, "dovecot.conf").write_text(CONF.format(d=tmp, user="nobody", group="nogroup"))
        shutil.chown(tmp, "nobody", "nogroup")
        for root, dirs, names in os.walk(tmp):
            for name in dirs + names:
                shutil.chown(os.path.join(root, name), "nobody", "nogroup")
        command = (
            f"runuser -u nobody -- env USER=corpus HOME={tmp}/home MAIL=maildir:{tmp}/mail "
            f"{imap_bin} -c {tmp}/dovecot.conf"
        )
        imap = imaplib.IMAP4_stream(command)
        imap.select("INBOX")
        result: dict[str, list[list[str]]] = {}
        for uid, name in enumerate(files, start=1):
            imap.append("INBOX", None, None, (mime / name).read_bytes())
            _, data = imap.uid("FETCH", str(uid), "(BODYSTRUCTURE)")
            parsed = parse_fetch_response(data)
            bs = parsed[uid][b"BODYSTRUCTURE"]
            out: list[list[str]] = []
            _walk_body(bs, "", out)
            result[name] = out
        imap.logout()
    finally:
        subprocess.run(["rm", "-rf", tmp], check=False)
    target = HERE / "data" / "dovecot_sections.json"
    lines = [f"{json.dumps(name)}: {json.dumps(parts)}" for name, parts in sorted(result.items())]
    target.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {len(result)} messages to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
