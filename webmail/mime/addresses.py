"""Mail addresses: lenient reading of address headers for display, strict reading of what a
person types into the compose form (RFC 5322 addr-spec, RFC 6531 UTF-8 local parts, IDN domains).
"""

from __future__ import annotations

import ipaddress
import re
from email import policy
from typing import NamedTuple

from webmail.mime.headers import (
    clean_line,
    decode_encoded_words,
    merge_adjacent_encoded_words,
)

MAX_HEADER_CHARS = 64 * 1024  # an address header longer than this is cut before parsing
MAX_ADDRESSES = 1000


class Address(NamedTuple):
    """A display name (decoded, may be empty) and an address (may be empty when unparseable)."""

    name: str
    email: str


# RFC 5322 atext, plus any non-ASCII character (RFC 6532).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_QUOTED_LOCAL = re.compile(r'"(?:[^"\\\r\n]|\\[^\r\n])*"')
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _clean(text: str) -> str:
    return clean_line(text)


def parse_address_header(value: str | None, charset_hint: str | None = None) -> tuple[Address, ...]:
    """Addresses of a To/From/Cc/... header value as stored by the parser. Never raises.

    Uses the ``policy.default`` header registry (groups flattened, RFC 2047 display names
    decoded); falls back to ``email.utils.getaddresses`` when the registry raises on it.
    """
    if not value:
        return ()
    value = value[:MAX_HEADER_CHARS]
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        # raw 8-bit: decode it the way the subject would be, but keep the structure
        from webmail.mime.headers import decode_bytes

        value = decode_bytes(value.encode("utf-8", "surrogateescape"), charset_hint)
    value = "".join(ch if ch.isprintable() or ch in "\t" else " " for ch in value)
    pairs: list[tuple[str, str]] = []
    if "=?" in value:
        value = merge_adjacent_encoded_words(value)
    try:
        header = policy.default.header_factory("to", value)
        for addr in getattr(header, "addresses", ()):
            pairs.append((str(addr.display_name or ""), str(addr.addr_spec or "")))
        # the registry silently drops what it cannot read (``a@b.example <c@d.example>``)
        if any("invalid address" in str(d) for d in getattr(header, "defects", ())):
            pairs = _lenient_pairs(value)
    except Exception:
        pairs = _lenient_pairs(value)
    out: list[Address] = []
    for name, addr in pairs[:MAX_ADDRESSES]:
        if "=?" in name:
            name = decode_encoded_words(name)
        name, addr = _clean(name), _clean(addr).replace(" ", "")
        if addr in ("<>", "@"):
            addr = ""
        if name or addr:
            out.append(Address(name, addr))
    return tuple(out)


def _lenient_pairs(value: str) -> list[tuple[str, str]]:
    """Read each comma-separated item as ``name <address>`` or a bare address, whatever the
    name looks like."""
    pairs: list[tuple[str, str]] = []
    for item in _split_items(value):
        item = re.sub(r'^[^"<>@,]*:\s*', "", item)  # a group's name
        name, addr = "", item
        if item.endswith(">") and "<" in item:
            cut = item.rfind("<")
            name, addr = item[:cut].strip(), item[cut + 1 : -1]
            if len(name) >= 2 and name[0] == name[-1] == '"':
                name = re.sub(r"\\(.)", r"\1", name[1:-1])
        addr = addr.strip().strip("<>")
        if "@" not in addr:
            name, addr = (name or addr), ""
        pairs.append((name, addr))
    return pairs


def format_address(address: Address) -> str:
    """``Name <email>`` for display (not for headers: no quoting or encoding)."""
    if address.name and address.email and address.name != address.email:
        return f"{address.name} <{address.email}>"
    return address.email or address.name


def _split_items(text: str) -> list[str]:
    """Split at commas, semicolons and line breaks outside quotes and angle brackets."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = 0
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif not quoted and not angle and ch in ",;\r\n":
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _domain_error(domain: str) -> str | None:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        literal = literal[5:] if literal.lower().startswith("ipv6:") else literal
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return "the address literal after @ is not an IP address"
        return None
    if not domain:
        return "the domain after @ is missing"
    try:
        ascii_domain = idna_domain(domain)
    except ValueError:
        return f"“{domain}” is not a valid domain name"
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"“{domain}” is not a valid domain name"
    return None


def idna_domain(domain: str) -> str:
    """The ASCII (punycode) form of a domain, lower-cased. Raises ValueError when impossible."""
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid domain name: {domain!r}") from exc


def check_addr_spec(addr: str) -> str | None:
    """Why ``addr`` is not a usable mailbox address, or None when it is."""
    if not addr:
        return "the address is empty"
    if any(not ch.isprintable() or ch.isspace() for ch in addr) and not addr.startswith('"'):
        return "an address cannot contain spaces or control characters"
    local, at, domain = addr.rpartition("@")
    if not at:
        return "the @ and domain are missing"
    if not local:
        return "the part before @ is missing"
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED_LOCAL.fullmatch(local)):
        return f"“{local}” is not a valid part before @"
    if len(local.encode("utf-8")) > 64:
        return "the part before @ is longer than 64 bytes"
    if len(addr.encode("utf-8")) > 254:
        return "the address is longer than 254 bytes"
    return _domain_error(domain)


def _parse_item(item: str) -> tuple[Address | None, str]:
    name = ""
    addr = item
    if item.endswith(">") and "<" in item:
        cut = item.rfind("<", 0, len(item) - 1)
        # the last "<" outside a quoted display name
        name, addr = item[:cut].strip(), item[cut + 1 : -1].strip()
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        elif any(ch in name for ch in '<>"'):
            return None, "a name with < > or quotes must be in double quotes"
    elif "<" in item or ">" in item:
        return None, "unbalanced < >"
    if any(not ch.isprintable() for ch in name):
        return None, "the name contains control characters"
    error = check_addr_spec(addr)
    if error:
        return None, error
    local, _, domain = addr.rpartition("@")
    return Address(_clean(name), f"{local}@{domain.lower()}"), ""


def parse_address_list(text: str) -> tuple[list[Address], list[str]]:
    """Read what a person typed into To/Cc/Bcc.

    Accepts ``a@b.example``, ``Name <a@b.example>``, ``"Doe, Jane" <a@b.example>``, quoted local
    parts and IDN/UTF-8 addresses, separated by commas, semicolons or new lines. Returns the
    addresses and one message per refused item (``'“foo@”: the domain after @ is missing'``).
    Never raises.
    """
    addresses: list[Address] = []
    errors: list[str] = []
    for item in _split_items(text or ""):
        address, error = _parse_item(item)
        if address is None:
            errors.append(f"“{item}”: {error}")
        else:
            addresses.append(address)
    return addresses, errors
