"""CSS and URL helpers of the HTML-mail sanitizer (pure tinycss2 and stdlib; no bleach).

Style attributes and ``<style>`` sheets are parsed with tinycss2 (whose tokenizer decodes CSS
escapes the way browsers do, so ``backgr\\ound`` *is* ``background``), reduced to an allow-list
and re-serialised from tokens in one canonical form. Values may only contain plain tokens and a
few inert functions; every ``url()`` goes through the caller's :class:`UrlPolicy`. Nothing that
could close a ``<style>`` element (``<``, ``&``) survives serialisation.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import tinycss2

#: Visual properties only: nothing that positions, animates, transforms or runs code.
ALLOWED_PROPERTIES = frozenset(
    """color background-color background background-image background-repeat background-position
    background-size font font-family font-size font-style font-variant font-weight line-height
    text-align text-decoration text-decoration-line text-decoration-color text-decoration-style
    text-indent text-transform text-overflow text-shadow letter-spacing word-spacing word-break
    word-wrap overflow-wrap vertical-align white-space direction list-style list-style-type
    list-style-position list-style-image margin margin-top margin-right margin-bottom margin-left
    padding padding-top padding-right padding-bottom padding-left border border-top border-right
    border-bottom border-left border-width border-style border-color border-top-width
    border-right-width border-bottom-width border-left-width border-top-style border-right-style
    border-bottom-style border-left-style border-top-color border-right-color border-bottom-color
    border-left-color border-radius border-top-left-radius border-top-right-radius
    border-bottom-left-radius border-bottom-right-radius border-collapse border-spacing width
    height max-width min-width max-height min-height display table-layout caption-side
    empty-cells float clear overflow overflow-x overflow-y box-sizing""".split()
)
#: The only properties in which an image url() may stay (rewritten by the policy).
URL_PROPERTIES = frozenset(
    {"background", "background-image", "list-style", "list-style-image"}
)
_DISPLAY = frozenset(
    """none block inline inline-block list-item table inline-table table-row table-cell
    table-row-group table-header-group table-footer-group table-column table-column-group
    table-caption flex inline-flex""".split()
)
_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc", "linear-gradient", "radial-gradient"})
_PSEUDO_CLASSES = frozenset(
    {"hover", "link", "visited", "active", "first-child", "last-child", "only-child",
     "first-of-type", "last-of-type", "empty"}
)
_NTH = frozenset({"nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type"})
_IDENT = re.compile(r"-?[^\W\d][\w-]*")
_SAFE_STRING_CHAR = re.compile(r"[A-Za-z0-9 ._~:/?#@!$*+,;=%()'\[\]-]")


class UrlPolicy(Protocol):
    """What the sanitizer does with URLs found in CSS."""

    def rewrite(self, url: str) -> str | None:
        """The URL to keep (possibly rewritten), or None to remove it."""

    def discard(self, url: str) -> None:
        """Note a URL removed with the construct that held it (for counting)."""


def css_string(value: str) -> str:
    """``value`` as a double-quoted CSS string that contains no ``" \\ < > &`` or controls."""
    out = (ch if _SAFE_STRING_CHAR.fullmatch(ch) else f"\\{ord(ch):x} " for ch in value)
    return '"' + "".join(out) + '"'


def _is_ident(value: object) -> bool:
    return isinstance(value, str) and _IDENT.fullmatch(value) is not None


def _urls(tokens: Iterable[Any]) -> Iterable[str]:
    """Every URL-like value (url(), strings in image-set()/@import) inside ``tokens``."""
    for token in tokens:
        if token.type == "url":
            yield _unquote(token.value)
        elif token.type in ("function", "() block", "[] block", "{} block"):
            inner = token.arguments if token.type == "function" else token.content
            name = getattr(token, "lower_name", "")
            if name in ("url", "image-set", "-webkit-image-set", "image", "src"):
                yield from (t.value for t in inner if t.type == "string")
            yield from _urls(inner)


def _space(parts: list[str]) -> None:
    if parts and parts[-1] != " ":
        parts.append(" ")


def _join(parts: list[str]) -> str:
    """Concatenate serialised tokens; whitespace/comments became single spaces."""
    return "".join(parts).strip()


def _unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


class _ValueFilter:
    """Serialises one declaration value, or refuses it (None)."""

    def __init__(self, prop: str, policy: UrlPolicy) -> None:
        self.prop = prop
        self.policy = policy

    def url(self, raw: str) -> str:
        if self.prop not in URL_PROPERTIES:
            self.policy.discard(raw)
            raise ValueError(raw)
        kept = self.policy.rewrite(raw)
        return "none" if kept is None else f"url({css_string(kept)})"

    def tokens(self, tokens: Iterable[Any], depth: int = 0) -> str:
        out: list[str] = []
        for token in tokens:
            kind = token.type
            if kind in ("whitespace", "comment"):
                _space(out)
            elif kind in ("number", "percentage"):
                out.append(tinycss2.serialize([token]))
            elif kind == "dimension" and _is_ident(token.unit):
                out.append(tinycss2.serialize([token]))
            elif kind == "ident" and _is_ident(token.value):
                out.append(token.value)
            elif kind == "hash" and re.fullmatch(r"[\w-]+", token.value):
                out.append("#" + token.value)
            elif kind == "string":
                out.append(css_string(token.value))
            elif kind == "literal" and token.value in (",", "/", "+", "-", "*"):
                out.append(token.value)
            elif kind == "url":
                out.append(self.url(_unquote(token.value)))
            elif kind == "function" and token.lower_name == "url":
                args = [t for t in token.arguments if t.type not in ("whitespace", "comment")]
                if len(args) != 1 or args[0].type != "string":
                    raise ValueError("url")
                out.append(self.url(args[0].value))
            elif kind == "function" and token.lower_name in _FUNCTIONS and depth < 4:
                out.append(f"{token.lower_name}({self.tokens(token.arguments, depth + 1)})")
            elif kind == "() block" and depth and depth < 4:
                out.append(f"({self.tokens(token.content, depth + 1)})")
            else:
                raise ValueError(kind)
        return _join(out)


def _declaration(decl: Any, policy: UrlPolicy) -> str | None:
    if decl.type != "declaration":
        return None
    name = decl.lower_name
    if name not in ALLOWED_PROPERTIES:
        for url in _urls(decl.value):
            policy.discard(url)
        return None
    try:
        value = _ValueFilter(name, policy).tokens(decl.value)
    except ValueError:
        for url in _urls(decl.value):
            policy.discard(url)
        return None
    if not value or (name == "display" and value.lower() not in _DISPLAY):
        return None
    return f"{name}:{value}" + (" !important" if decl.important else "")


def sanitize_declarations(text: str, policy: UrlPolicy) -> str:
    """Filter a declaration list (a ``style`` attribute); '' when nothing is left."""
    parsed = tinycss2.parse_declaration_list(text, skip_comments=True, skip_whitespace=True)
    kept = (_declaration(decl, policy) for decl in parsed)
    return ";".join(d for d in kept if d)


def _selector(prelude: Iterable[Any], rename_class: Callable[[str], str | None],
              rename_id: Callable[[str], str | None]) -> str | None:
    """A selector list from a restricted grammar (no attribute selectors, pseudo-elements)."""
    out: list[str] = []
    tokens = list(prelude)
    i = 0
    while i < len(tokens):
        token, after = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else None
        kind, value = token.type, str(getattr(token, "value", ""))
        if kind in ("whitespace", "comment"):
            _space(out)
        elif kind == "ident" and _is_ident(value):
            out.append(value)
        elif kind == "hash" and _is_ident(value) and (new := rename_id(value)):
            out.append("#" + new)
        elif kind == "literal" and value in (">", "+", "~", ",", "*"):
            out.append(value)
        elif kind == "literal" and value == "." and after is not None and after.type == "ident":
            new = rename_class(after.value) if _is_ident(after.value) else None
            if not new:
                return None
            out.append("." + new)
            i += 1
        elif kind == "literal" and value == ":" and after is not None:
            if after.type == "ident" and after.lower_value in _PSEUDO_CLASSES:
                out.append(":" + after.lower_value)
            elif after.type == "function" and after.lower_name in _NTH and all(
                t.type in ("number", "dimension", "ident", "whitespace", "literal")
                and re.fullmatch(r"[\w+ -]*", tinycss2.serialize([t]))
                for t in after.arguments
            ):
                out.append(f":{after.lower_name}({tinycss2.serialize(after.arguments).strip()})")
            else:
                return None
            i += 1
        else:
            return None
        i += 1
    return _join(out) or None


def _rules(rules: Iterable[Any], policy: UrlPolicy, rename_class: Callable[[str], str | None],
           rename_id: Callable[[str], str | None], depth: int) -> list[str]:
    out: list[str] = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selector = _selector(rule.prelude, rename_class, rename_id)
            content = tinycss2.serialize(rule.content)
            body = sanitize_declarations(content, policy) if selector else ""
            if selector and body:
                out.append(f"{selector}{{{body}}}")
            elif not selector:
                for url in _urls(rule.content):
                    policy.discard(url)
        elif rule.type == "at-rule" and rule.lower_at_keyword == "media" and depth < 2:
            query = _media_query(rule.prelude)
            inner = tinycss2.parse_rule_list(rule.content or [], skip_comments=True,
                                             skip_whitespace=True)
            kept = _rules(inner, policy, rename_class, rename_id, depth + 1)
            if query is not None and kept:
                out.append(f"@media {query}{{{''.join(kept)}}}")
        elif rule.type == "at-rule":
            for url in _urls([*rule.prelude, *(rule.content or [])]):
                policy.discard(url)
            if rule.lower_at_keyword == "import":
                for token in rule.prelude:
                    if token.type == "string":
                        policy.discard(token.value)
    return out


def _media_query(prelude: Iterable[Any]) -> str | None:
    out: list[str] = []
    for token in prelude:
        if token.type in ("whitespace", "comment"):
            _space(out)
        elif token.type == "ident" and _is_ident(token.value):
            out.append(token.value)
        elif token.type == "literal" and token.value in (",", ":"):
            out.append(token.value)
        elif token.type in ("number", "dimension") and re.fullmatch(
            r"[\w.+-]+", tinycss2.serialize([token])
        ):
            out.append(tinycss2.serialize([token]))
        elif token.type == "() block":
            inner = _media_query(token.content)
            if inner is None:
                return None
            out.append(f"({inner})")
        else:
            return None
    return _join(out)


def sanitize_stylesheet(text: str, policy: UrlPolicy, *, rename_class: Callable[[str], str | None],
                        rename_id: Callable[[str], str | None]) -> str:
    """Filter a ``<style>`` sheet: plain rules and ``@media`` only; '' when nothing is left.

    ``rename_class``/``rename_id`` map the names used in selectors the same way the sanitizer
    maps ``class``/``id`` attributes (None drops the rule).
    """
    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    sheet = "\n".join(_rules(rules, policy, rename_class, rename_id, 0))
    # Belt and braces: the serialisers above never emit these, and a <style> must not close.
    return sheet.replace("<", "\\3c ").replace("&", "\\26 ")


def normalise_url(value: str) -> str:
    """What a URL parser sees: no surrounding C0 controls/space, no tab/CR/LF anywhere."""
    return re.sub(r"[\t\n\r]", "", value).strip("".join(map(chr, range(0x21))))


def host_allowed(url: str, *, private_ok: bool) -> bool:
    """True for a URL whose host is a public (or, with ``private_ok``, non-loopback) host."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    host = unicodedata.normalize("NFKC", unquote(host)).lower()
    host = re.sub("[\u3002\uff0e\uff61]", ".", host).rstrip(".")
    if host == "localhost" or host.endswith(".localhost") or not host:
        return False
    address = _ip_address(host)
    if address is None:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if private_ok:
        return not (address.is_loopback or address.is_unspecified or address.is_reserved)
    return address.is_global and not address.is_multicast


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a browser makes of ``host`` (WHATWG IPv4 forms such as ``0x7f.1``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not re.fullmatch(r"0x[0-9a-f]*|[0-9]+", parts[-1]):
        return None  # a domain name
    if len(parts) > 4:
        return ipaddress.IPv4Address(0)
    numbers = []
    for part in parts:
        m = re.fullmatch(r"0x([0-9a-f]*)|(0[0-7]*)|([1-9][0-9]*)", part)
        if not m:  # "ends in a number" but invalid: browsers refuse the URL
            return ipaddress.IPv4Address(0)
        if m[1] is not None:
            numbers.append(int(m[1] or "0", 16))
        else:
            numbers.append(int(m[2], 8) if m[2] else int(m[3]))
    value = numbers.pop()
    if any(n > 255 for n in numbers) or value >= 256 ** (4 - len(numbers)):
        return ipaddress.IPv4Address(0)
    for i, n in enumerate(numbers):
        value += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(value)
