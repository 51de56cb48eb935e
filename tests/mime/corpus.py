"""Locating the shared corpora (``<repo>/../shared/corpora``, or ``$WEBMAIL_CORPORA``).

A missing corpus is an error, not a skip: these tests exist to run against it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPORA = Path(os.environ.get("WEBMAIL_CORPORA") or REPO.parent / "shared" / "corpora")
MIME = CORPORA / "mime"
XSS = CORPORA / "xss"


def rows(folder: Path = MIME) -> list[dict[str, str]]:
    index = folder / "INDEX.tsv"
    if not index.is_file():
        raise FileNotFoundError(
            f"the shared corpus is missing: {index} (clone shared/ beside the repo or set "
            "WEBMAIL_CORPORA)"
        )
    with index.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read(name: str, folder: Path = MIME) -> bytes:
    return (folder / name).read_bytes()


MIME_ROWS = rows(MIME)
MIME_FILES = [row["file"] for row in MIME_ROWS]
