"""What webmail/settings.py reads from the environment, found by reading its source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETTINGS = REPO / "webmail" / "settings.py"
ENV_EXAMPLE = REPO / ".env.example"

_SET = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
_LISTED = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=")


def settings_reads() -> dict[str, str]:
    """Every variable name settings.py passes to an ``env_*`` reader, with the reader's name.

    The names are string literals (``env_int("WEBMAIL_PAGE_SIZE", ...)``); a reader called with
    anything else is a mistake this function reports.

    Raises:
        AssertionError: if an ``env_*`` call's first argument is not a string literal.
    """
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(SETTINGS.read_text(), str(SETTINGS))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id.startswith("env_")):
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"settings.py:{node.lineno}: {node.func.id}() without a literal name")
            found[first.value] = node.func.id
    return found


def accepted_names() -> set[str]:
    """Names the app accepts: every read name, plus NAME_FILE for secrets (Docker secrets)."""
    reads = settings_reads()
    return set(reads) | {f"{name}_FILE" for name, reader in reads.items()
                         if reader == "env_secret"}


def env_example() -> tuple[dict[str, str], set[str]]:
    """(variables set in .env.example with their values, variables listed only in comments)."""
    set_vars: dict[str, str] = {}
    listed: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := _SET.match(line):
            set_vars[match.group(1)] = match.group(2)
        elif match := _LISTED.match(line):
            listed.add(match.group(1))
    return set_vars, listed
