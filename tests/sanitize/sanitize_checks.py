"""Shared helpers of the sanitizer tests: corpus access, payload extraction, safety checks."""

from __future__ import annotations

import codecs
import csv
import email
import email.policy
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import html5lib
import tinycss2

REPO = Path(__file__).resolve().parents[2]

FORBIDDEN_TAGS = frozenset(
    """script iframe frame frameset object embed applet form base meta link svg math input
    button textarea select option template noscript noembed noframes xmp plaintext title
    video audio source track canvas map area portal""".split()
)
URL_ATTRS = frozenset(
    "href src action formaction background poster data srcset cite ping lowsrc dynsrc".split()
)
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:", "mocha:")
DATA_IMAGE = re.compile(r"data:image/(png|gif|jpeg|jpg|webp)[;,]")
BAD_CSS_FUNCTIONS = frozenset(
    {"expression", "image-set", "-webkit-image-set", "var", "env", "attr", "element", "image"}
)
BAD_CSS_PROPERTIES = frozenset(
    {"behavior", "-moz-binding", "position", "z-index", "top", "left", "right", "bottom",
     "transform", "animation", "animation-name", "transition", "content", "cursor", "filter",
     "mask", "clip-path", "pointer-events"}
)


def corpus_root() -> Path:
    override = os.environ.get("WEBMAIL_CORPORA")
    return Path(override) if override else REPO.parent / "shared" / "corpora"


@dataclass(frozen=True)
class CorpusRow:
    file: str
    id: str
    vector_kind: str
    payload_location: str
    envelope: str
    interaction: str

    @property
    def path(self) -> Path:
        return corpus_root() / "xss" / self.file


def corpus_rows() -> list[CorpusRow]:
    """The rows of xss/INDEX.tsv ([] when the corpus is missing: the caller must fail)."""
    index = corpus_root() / "xss" / "INDEX.tsv"
    if not index.is_file():
        return []
    with index.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            CorpusRow(r["file"], r["id"], r["vector_kind"], r["payload_location"], r["envelope"],
                      r["interaction"])
            for r in reader
        ]


def decode_text(raw: bytes, charset: str | None) -> list[str]:
    """Decode like a mail client (declared charset, errors replaced), plus plain UTF-8."""
    texts = []
    try:
        texts.append(raw.decode(codecs.lookup(charset or "utf-8").name, "replace"))
    except (LookupError, ValueError):
        pass
    utf8 = raw.decode("utf-8", "replace")
    if utf8 not in texts:
        texts.append(utf8)
    return texts


@dataclass(frozen=True)
class Payload:
    label: str
    content_type: str
    text: str


def message_payloads(path: Path) -> tuple[list[Payload], dict[str, str]]:
    """Every leaf part decoded to text (each a sanitizer input) and a cid map for the message."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    payloads: list[Payload] = []
    cid_map: dict[str, str] = {}
    headers: list[str] = []
    for number, part in enumerate(_walk(msg), start=1):
        headers += [str(v) for v in _header_values(part)]
        cid = part.get("Content-ID")
        if cid:
            cid_map[str(cid).strip().strip("<>")] = f"/mail/INBOX/1/part/{number}/?inline=1"
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        try:
            raw = part.get_payload(decode=True)
        except Exception:
            raw = None
        if not isinstance(raw, bytes):
            raw = str(part.get_payload()).encode("utf-8", "surrogateescape")
        charset = _charset(part)
        for i, text in enumerate(decode_text(raw, charset)):
            payloads.append(Payload(f"part{number}.{i}", part.get_content_type(), text))
    payloads.append(Payload("headers", "headers", "\n".join(headers)))
    return payloads, cid_map


def _walk(msg: Message) -> Iterator[Message]:
    yield from msg.walk()


def _header_values(part: Message) -> Iterator[str]:
    for key in part.keys():
        try:
            yield str(part.get(key))
        except Exception:
            yield str(part.get_all(key, failobj=[""])[0])


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


# -- checks over sanitizer output (independent of the sanitizer's own parser) -----------------
def parse_output(html: str) -> ET.Element:
    document = f"<!DOCTYPE html><html><head></head><body>{html}</body></html>"
    return html5lib.parse(document, namespaceHTMLElements=False)  # type: ignore[no-any-return]


def normalise_url(value: str) -> str:
    value = re.sub(r"[\t\n\r]", "", value)
    return value.strip("".join(map(chr, range(0x21)))).lower()


def css_problems(css: str, *, sheet: bool, block: bool) -> list[str]:
    """Forbidden functions/properties and (for BLOCK) remote url()s in a style text."""
    problems: list[str] = []
    lowered = css.lower()
    for needle in ("expression(", "-moz-binding", "behavior:", "javascript:", "vbscript:"):
        if needle in lowered:
            problems.append(f"{needle} in {css!r}")
    if sheet:
        nodes: list[Any] = tinycss2.parse_stylesheet(css)
    else:
        nodes = tinycss2.parse_declaration_list(css)
    for node in _all_tokens(nodes):
        kind = getattr(node, "type", "")
        if kind == "at-rule" and node.lower_at_keyword != "media":
            problems.append(f"@{node.lower_at_keyword}")
        if kind == "declaration" and node.lower_name in BAD_CSS_PROPERTIES:
            problems.append(f"property {node.lower_name}")
        if kind == "function" and node.lower_name in BAD_CSS_FUNCTIONS:
            problems.append(f"function {node.lower_name}()")
        url = None
        if kind == "url":
            url = node.value
        elif kind == "function" and node.lower_name == "url":
            url = "".join(getattr(t, "value", "") for t in node.arguments if t.type == "string")
        if url is not None:
            target = normalise_url(url)
            remote = bool(re.match(r"([a-z][a-z0-9+.-]*:)?[\\/]{2}", target))
            local = target.startswith("/mail/") or bool(DATA_IMAGE.match(target))
            if block and not local:
                problems.append(f"url({url}) in BLOCK output")
            if not local and not remote:
                problems.append(f"url({url}) neither local nor http(s)")
    return problems


def _all_tokens(nodes: list[Any]) -> Iterator[Any]:
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        kind = getattr(node, "type", "")
        if kind == "qualified-rule":
            stack += tinycss2.parse_declaration_list(node.content)
            stack += node.prelude
        elif kind == "at-rule":
            stack += node.prelude
            if node.content is not None:
                stack += tinycss2.parse_stylesheet(node.content)
                stack += tinycss2.parse_declaration_list(node.content)
        elif kind == "declaration":
            stack += node.value
        elif kind == "function":
            stack += node.arguments
        elif kind in ("() block", "[] block", "{} block"):
            stack += node.content


def safety_problems(
    html: str, *, block: bool, compose: bool = False, text_may_hold_beacon: bool = False
) -> list[str]:
    """Everything in ``html`` (sanitizer output) that the sanitizer promises never to emit.

    Under BLOCK the corpus beacon address must not appear anywhere; for generated input whose
    text itself holds it, ``text_may_hold_beacon`` limits that to attributes and style sheets.
    """
    problems: list[str] = []
    root = parse_output(html)
    if block and "127.0.0.1:9" in html and not text_may_hold_beacon:
        problems.append("beacon address in BLOCK output")
    for node in root.iter():
        if not isinstance(node.tag, str):
            problems.append("comment in output")
            continue
        local = node.tag.rsplit("}", 1)[-1].lower()
        if "}" in node.tag or local in FORBIDDEN_TAGS:
            problems.append(f"element {node.tag}")
        if local == "style":
            problems += css_problems(node.text or "", sheet=True, block=block)
        if block and "127.0.0.1:9" in " ".join([*node.attrib.values(), *(
                [node.text or ""] if local == "style" else [])]):
            problems.append(f"beacon address in <{local}> attributes or sheet")
        for key, value in node.attrib.items():
            name = key.rsplit("}", 1)[-1].lower()
            if name.startswith("on"):
                problems.append(f"event handler {name} on {local}")
            if name == "style":
                problems += css_problems(value, sheet=False, block=block)
            if name in URL_ATTRS:
                url = normalise_url(value)
                if not (compose and name == "src" and url.startswith("cid:")):
                    problems += _url_problems(local, name, url, block=block)
    return problems


def _url_problems(tag: str, name: str, url: str, *, block: bool) -> list[str]:
    problems = []
    if url.startswith(SCRIPT_SCHEMES):
        problems.append(f"script URL in {tag}[{name}]")
    if url.startswith("data:") and not (name == "src" and DATA_IMAGE.match(url)):
        problems.append(f"data URL in {tag}[{name}]")
    if name == "href" and not url.startswith(("http://", "https://", "mailto:", "tel:", "#")):
        problems.append(f"href {url!r}")
    if name in ("src", "background"):
        remote = url.startswith(("http://", "https://"))
        if not (remote or url.startswith("/mail/") or DATA_IMAGE.match(url)):
            problems.append(f"{tag}[{name}] {url!r}")
        if remote and block:
            problems.append(f"remote {tag}[{name}] in BLOCK output")
    if name not in ("href", "src", "background"):
        problems.append(f"unexpected URL attribute {name}")
    return problems
