"""Sanitizer for HTML mail and composed HTML: the only module that imports bleach.

Callers use :func:`sanitize_html`, :func:`sanitize_compose_html`, :class:`RemotePolicy`,
:class:`SanitizedHtml` and :data:`POLICY_VERSION` only, so the engine can be replaced.

One pass: parse the whole message like a browser (html5lib, as bleach vendors it), emit only
allow-listed elements and attributes from the tree (dangerous subtrees go with their content,
unknown elements are unwrapped, text and attribute values are re-escaped), filter CSS with
:mod:`webmail.sanitize_css`, then run bleach's Cleaner over the result with the same allow-list
as an independent second layer. The pass is repeated until its output is a fixed point, and the
result is re-parsed and checked; output that fails the check is replaced by its escaped text.
The body is still meant to be shown in a sandboxed iframe with a strict CSP (defence in depth).
"""

from __future__ import annotations

import enum
import html as htmllib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast
from urllib.parse import unquote
from xml.etree import ElementTree as ET

import bleach
from bleach import html5lib_shim

from webmail.sanitize_css import (
    css_string,
    host_allowed,
    normalise_url,
    sanitize_declarations,
    sanitize_stylesheet,
)

#: Part of the cache key of sanitized bodies: change it whenever the output may change.
POLICY_VERSION = "sanitize-1"
#: HTML beyond this many characters is not shown: a browser-grade parse in pure Python costs
#: about 4 s per MB, and a message that long is a document, not a mail to read in the frame.
MAX_HTML_CHARS = 2_000_000
#: Seconds the first pass may take. A browser-grade parse is quadratic on some markup (deeply
#: nested formatting elements or tables: ~30 s for 100 KB); past this the rest of the passes
#: are not run and the body is shown as plain text (stricter, never looser).
FIRST_PASS_BUDGET = 5.0
logger = logging.getLogger(__name__)

_TAG_ATTRS: Mapping[str, frozenset[str]] = {
    tag: frozenset(attrs.split())
    for tags, attrs in (
        ("table thead tbody tfoot tr td th col colgroup caption",
         "align valign width height bgcolor border cellpadding cellspacing colspan rowspan "
         "background span nowrap"),
        ("a", "href"), ("img", "src alt width height border hspace vspace"),
        ("font", "color face size"), ("hr", "width size noshade color"),
        ("ol", "start type reversed"), ("ul", "type"), ("li", "value type"),
        ("blockquote", "type"), ("del ins", "datetime"),
    )
    for tag in tags.split()
}
_GLOBAL_ATTRS = frozenset({"style", "title", "dir", "lang", "class", "id", "align"})
ALLOWED_TAGS = frozenset(
    """table thead tbody tfoot tr td th col colgroup caption div span p br hr h1 h2 h3 h4 h5 h6
    b i u s strike strong em small big sub sup tt kbd samp var wbr blockquote pre code ul ol li
    dl dt dd a img font center abbr cite q mark del ins figure figcaption address section
    article header footer""".split()
)
#: Removed together with everything inside them (other unknown elements are unwrapped).
_DROP = frozenset(
    """script style template noscript noembed noframes iframe frame frameset object embed
    applet title textarea select option optgroup datalist xmp plaintext meta link base
    param source track audio video canvas map area input button portal fencedframe""".split()
)
_VERIFY_TAGS = ALLOWED_TAGS | {"html", "head", "body", "style"}
_VOID = frozenset({"br", "hr", "img", "col", "wbr"})
_DROPPED_URL_ATTRS = frozenset({"srcset", "poster", "lowsrc", "dynsrc", "ping", "data"})
_LINK = {"target": "_blank", "rel": "noopener noreferrer"}
_PREFIX = "m-"
_NAME = re.compile(r"[\w-]+")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_NETWORK = re.compile(r"(?:(?:https?|ftp):)?[\\/]{2}", re.I)
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpe?g|webp);base64,[A-Za-z0-9+/]*={0,2}", re.I)
_CID = re.compile(r"cid:[\w.@%+=$-]+", re.A)
_REMOTE_TEXT = re.compile(r"(?:^|[\s,('\"=])(?:(?:https?|ftp):)?[\\/]{2}[\w\[]", re.I)
_NO_CIDS: Mapping[str, str] = MappingProxyType({})


class RemotePolicy(enum.Enum):
    """Whether remote (http/https) images may load."""

    BLOCK = "block"
    ALLOW = "allow"


@dataclass(frozen=True)
class SanitizedHtml:
    """A body fragment to put inside our own document, plus what was done to remote content."""

    html: str
    remote_blocked: int
    has_remote: bool
    truncated: bool = False  # the input was longer than MAX_HTML_CHARS; only its start is here


def sanitize_html(
    html: str, *, policy: RemotePolicy = RemotePolicy.BLOCK, cid_map: Mapping[str, str] = _NO_CIDS
) -> SanitizedHtml:
    """Sanitize one HTML mail body.

    ``cid_map`` maps a Content-ID (without ``<>``) to a same-origin URL of that part; other
    ``cid:`` references are dropped. ``remote_blocked`` counts remote references removed because
    of ``BLOCK``; ``has_remote`` says the message has remote images (blocked or shown).
    Raises TypeError when ``html`` is not a str; never raises for any str.
    """
    if not isinstance(html, str):
        raise TypeError("html must be str")
    html, truncated = _truncate(html)
    memo: _Memo = {}
    first = _Pass(policy, cid_map, memo)
    started = time.monotonic()
    out = first.run(html)
    if time.monotonic() - started > FIRST_PASS_BUDGET:
        logger.warning("HTML body too costly to sanitize (%d characters); shown as text",
                       len(html))
        return SanitizedHtml(_plain_text(html), first.blocked, bool(first.blocked), truncated)
    out = _settle(out, lambda: _Pass(policy, cid_map, memo))
    return SanitizedHtml(out, first.blocked, bool(first.blocked or first.shown), truncated)


def _plain_text(html: str) -> str:
    """The text of ``html`` without any markup, escaped: no parser, one linear scan."""
    lower = html.lower()
    out: list[str] = []
    i, end = 0, len(html)
    while i < end:
        start = html.find("<", i)
        if start < 0:
            out.append(html[i:])
            break
        out.append(html[i:start] + " ")
        if lower.startswith("<!--", start):
            close = html.find("-->", start + 4)
            i = end if close < 0 else close + 3
            continue
        raw = _RAW_TEXT.match(lower, start)
        close = lower.find("</" + raw[1], start) if raw else start
        close = html.find(">", close) if close >= 0 else -1
        i = end if close < 0 else close + 1
    text = re.sub(r"[ \t\r\f\v]+", " ", htmllib.unescape("".join(out)))
    text = re.sub(r"\n[ \n]*\n", "\n\n", text).strip()
    return f'<div style="white-space:pre-wrap">{htmllib.escape(text, quote=False)}</div>'


_RAW_TEXT = re.compile(r"<(script|style|title|template|textarea|xmp|noscript)\b")


def _truncate(html: str) -> tuple[str, bool]:
    """The first ``MAX_HTML_CHARS`` of ``html``, cut before a tag that would be cut in two."""
    if len(html) <= MAX_HTML_CHARS:
        return html, False
    cut = html.rfind("<", MAX_HTML_CHARS // 2, MAX_HTML_CHARS)
    return html[:cut if cut > 0 else MAX_HTML_CHARS], True


def sanitize_compose_html(html: str) -> str:
    """Sanitize HTML from our own editor: same allow-list, no ``<style>``, no ids, no remote
    images at all (``cid:`` and ``data:image`` stay). Raises TypeError for a non-str."""
    if not isinstance(html, str):
        raise TypeError("html must be str")
    memo: _Memo = {}
    return _settle(_Pass(None, _NO_CIDS, memo).run(html), lambda: _Pass(None, _NO_CIDS, memo))


def _settle(out: str, new_pass: Callable[[], _Pass]) -> str:
    """Repeat the pass until it changes nothing, then verify; fall back to escaped text."""
    for _ in range(3):
        root = _parse(out)  # one parse serves both the repeated pass and the check
        again = new_pass().run(out, root)
        if again == out:
            checker = new_pass()
            checker.tree = (out, root)
            if checker.verify(out):
                return out
            break
        out = again
    logger.error("sanitizer output failed its self-check; showing the text only")
    body = _parse(out).find("body")
    text = "".join(body.itertext()) if body is not None else ""
    return f'<div style="white-space:pre-wrap">{htmllib.escape(text, quote=False)}</div>'


def _parse(html: str) -> ET.Element:
    html = re.sub(r"[\ud800-\udfff]", "\ufffd", html)
    parser = html5lib_shim.HTMLParser(namespaceHTMLElements=False)
    return cast(ET.Element, parser.parse(html))


#: Declaration list -> (filtered result, remote references blocked, remote images shown).
_Memo = dict[str, tuple[str, int, int]]


class _Pass:
    """One sanitizing pass; also the URL policy of the CSS filter and bleach's CSS hook.

    ``memo`` is shared by the passes of one sanitizer call (same policy, same cid map): a
    newsletter repeats a few dozen ``style`` values thousands of times, and the filter is a
    pure function of the text and the policy, so each distinct value is filtered once and the
    remote-reference counts it caused are replayed on every reuse.
    """

    def __init__(self, policy: RemotePolicy | None, cid_map: Mapping[str, str],
                 memo: _Memo | None = None) -> None:
        self.policy = policy  # None: composed HTML
        self.memo: _Memo = {} if memo is None else memo
        self.cid_map = {
            k.strip().strip("<>"): v for k, v in cid_map.items()
            if re.fullmatch(r"/(?![/\\])[^\s\\\"'<>]*", v)
        }
        self.trusted = frozenset(self.cid_map.values())
        self.blocked = self.shown = 0
        self.tree: tuple[str, ET.Element] | None = None  # (text, its parse) for ``verify``

    # -- URL policy ---------------------------------------------------------------------------
    def rewrite(self, url: str) -> str | None:
        """The URL to put in an image context (src, background, CSS url()), or None."""
        value = normalise_url(url)
        lower = value.lower()
        if value in self.trusted:
            return value
        if lower.startswith("data:"):
            value = re.sub(r"[ \t\n\f\r]", "", value)
            return value if _DATA_IMAGE.fullmatch(value) else None
        if lower.startswith("cid:"):
            if self.policy is None:
                return value if _CID.fullmatch(value) else None
            return self.cid_map.get(unquote(value[4:]).strip().strip("<>"))
        if _NETWORK.match(value):
            if self.policy is RemotePolicy.ALLOW and host_allowed(value, private_ok=False):
                self.shown += 1
                return value if _SCHEME.match(value) else "https:" + value
            self.discard(value)
        return None

    def discard(self, url: str) -> None:
        if self.policy is RemotePolicy.BLOCK and _NETWORK.match(normalise_url(url)):
            self.blocked += 1

    def link(self, url: str) -> str | None:
        value = normalise_url(url)
        if value.startswith("#"):
            if self.policy is None or value == "#":
                return value
            new = self.rename_id(unquote(value[1:]))
            return "#" + new if new else None
        if re.match(r"[\\/]{2}", value):
            value = "https:" + value
        scheme = m[1].lower() if (m := _SCHEME.match(value)) else ""
        if scheme in ("http", "https"):
            return value if host_allowed(value, private_ok=True) else None
        return value if scheme in ("mailto", "tel") else None

    def rename_id(self, name: str) -> str | None:
        if self.policy is None or not _NAME.fullmatch(name):
            return None
        return name if name.startswith(_PREFIX) else _PREFIX + name

    def rename_class(self, name: str) -> str | None:
        if self.policy is None:
            return name if _NAME.fullmatch(name) else None
        return self.rename_id(name)

    # -- attributes ---------------------------------------------------------------------------
    def attribute(self, tag: str, name: str, raw: str) -> str | None:
        """The value to keep for an allowed attribute, or None to drop it."""
        if name == "style":
            return self.declarations(raw) or None
        if name == "href":
            return self.link(raw)
        if name in ("src", "background"):
            return self.rewrite(raw)
        if name == "id":
            return self.rename_id(raw.strip())
        if name == "class":
            return " ".join(n for n in map(self.rename_class, raw.split()) if n) or None
        return None if name.startswith("on") else raw

    def attributes(self, tag: str, attrib: Mapping[str, str]) -> dict[str, str]:
        allowed = _TAG_ATTRS.get(tag, frozenset()) | _GLOBAL_ATTRS
        attrs: dict[str, str] = {}
        for key, raw in attrib.items():
            name = key.lower()
            if name in allowed and (value := self.attribute(tag, name, raw)) is not None:
                attrs[name] = value
            elif name in _DROPPED_URL_ATTRS:
                for candidate in raw.split(","):
                    self.discard(candidate.strip())
        if tag == "a":
            anchor = self.rename_id(attrib.get("name", "").strip())
            if anchor and "id" not in attrs:
                attrs["id"] = anchor
            attrs.update(_LINK)
        return attrs

    def allowed(self, tag: str, name: str, value: str) -> bool:
        """bleach's attribute filter (values reach it still entity-encoded)."""
        value = htmllib.unescape(value)
        if tag == "a" and name in _LINK:
            return _LINK[name] == value
        if name not in _GLOBAL_ATTRS and name not in _TAG_ATTRS.get(tag, ()):
            return False
        if name == "style":
            return self.declarations(value) == value
        return self.attribute(tag, name, value) == value

    def sanitize_css(self, style: str) -> str:
        """bleach's CSS hook."""
        return self.declarations(htmllib.unescape(style))

    def declarations(self, text: str) -> str:
        """``sanitize_declarations`` of ``text`` under this policy, memoised (see the class)."""
        hit = self.memo.get(text)
        if hit is None:
            blocked, shown = self.blocked, self.shown
            result = sanitize_declarations(text, self)
            hit = (result, self.blocked - blocked, self.shown - shown)
            self.memo[text] = hit
        else:
            self.blocked += hit[1]
            self.shown += hit[2]
        return hit[0]

    # -- tree ---------------------------------------------------------------------------------
    def discard_tree(self, element: ET.Element) -> None:
        """Count the remote resources of a subtree that is being removed."""
        for node in element.iter():
            local = node.tag.rsplit("}", 1)[-1] if isinstance(node.tag, str) else ""
            for key, value in node.attrib.items():
                name = key.rsplit("}", 1)[-1].lower()
                resource = name in ("src", "background", "href", *_DROPPED_URL_ATTRS)
                if (resource and (name, local) != ("href", "a")) or "url(" in value.lower():
                    if _REMOTE_TEXT.search(" " + normalise_url(value)):
                        self.discard("//remote")

    def emit(self, root: ET.Element) -> tuple[str, str]:
        """(style sheet, body markup) of a parsed document."""
        out: list[str] = []
        styles: list[str] = []
        work: list[ET.Element | str] = []
        self._push_children(root, work)
        while work:
            item = work.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            tag = item.tag
            if not isinstance(tag, str) or tag.startswith("{") or tag in _DROP:
                if tag == "style" and self.policy is not None:
                    styles.append(item.text or "")
                else:
                    self.discard_tree(item)
            elif tag not in ALLOWED_TAGS:
                self._push_children(item, work)
            else:
                attrs = self.attributes(tag, item.attrib)
                out.append(f"<{tag}{''.join(f' {k}={_quote(v)}' for k, v in attrs.items())}>")
                if tag not in _VOID:
                    work.append(f"</{tag}>")
                    self._push_children(item, work)
        sheet = sanitize_stylesheet(
            "\n".join(styles), self, rename_class=self.rename_class, rename_id=self.rename_id
        ) if styles else ""
        return sheet, "".join(out)

    @staticmethod
    def _push_children(element: ET.Element, work: list[ET.Element | str]) -> None:
        items: list[ET.Element | str] = [htmllib.escape(element.text or "", quote=False)]
        for child in element:
            items += [child, htmllib.escape(child.tail or "", quote=False)]
        work.extend(reversed(items))

    def body_style(self, root: ET.Element) -> str:
        """The ``<body>`` presentation (bgcolor, text, background, style) as CSS."""
        body = root.find("body")
        if body is None:
            return ""
        parts = []
        for attr, prop in (("bgcolor", "background-color"), ("text", "color")):
            value = body.get(attr, "").strip()
            value = "#" + value if re.fullmatch(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{6}", value) else value
            if re.fullmatch(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]+", value):
                parts.append(f"{prop}:{value}")
        if background := body.get("background"):
            parts.append(f"background-image:url({css_string(background)})")
        parts.append(body.get("style", ""))
        return self.declarations(";".join(parts))

    def run(self, html: str, root: ET.Element | None = None) -> str:
        """One pass over ``html`` (``root``: its parse tree, when the caller has it)."""
        root = _parse(html) if root is None else root
        sheet, body = self.emit(root)
        if wrapper := self.body_style(root):
            body = f"<div style={_quote(wrapper)}>{body}</div>"
        checker = _Pass(self.policy, self.cid_map, self.memo)
        cleaner = bleach.Cleaner(
            tags=ALLOWED_TAGS, attributes=checker.allowed, strip=True, strip_comments=True,
            protocols={"http", "https", "mailto", "tel", "data", "cid"}, css_sanitizer=checker,
        )
        cleaned = cast(str, cleaner.clean(body))
        return (f"<style>{sheet}</style>" if sheet else "") + cleaned

    def verify(self, out: str) -> bool:
        """Re-parse ``out`` and check every element, attribute and style against the policy
        (the parse ``self.tree`` holds is used when it is of this very text)."""
        root = self.tree[1] if self.tree is not None and self.tree[0] is out else _parse(out)
        head, body = root.find("head"), root.find("body")
        if head is None or body is None or body.attrib:
            return False
        in_head = [n.tag for n in head]  # nothing but the one style sheet, and that only there
        if len(in_head) > 1 or in_head != [n.tag for n in root.iter("style")]:
            return False
        for node in root.iter():
            tag = node.tag
            if not isinstance(tag, str) or tag not in _VERIFY_TAGS:
                return False
            if tag == "style" and (node.text or "") != sanitize_stylesheet(
                node.text or "", self, rename_class=self.rename_class, rename_id=self.rename_id
            ):
                return False
            if not all(self.allowed(tag, k, htmllib.escape(v)) for k, v in node.attrib.items()):
                return False
            if tag == "a" and any(node.get(k) != v for k, v in _LINK.items()):
                return False
        return True


def _quote(value: str) -> str:
    return '"' + htmllib.escape(value, quote=True) + '"'
