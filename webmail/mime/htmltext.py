"""HTML to readable plain text with the stdlib ``html.parser`` (for the text alternative of an
HTML-only message and for quoting in replies)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

MAX_HTML_TO_TEXT_CHARS = 4_000_000


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "math"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "header",
            "footer",
            "nav",
            "aside",
            "main",
            "form",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "ul",
            "ol",
            "dl",
            "table",
            "address",
            "center",
            "figure",
            "fieldset",
            "details",
            "summary",
            "pre",
            "hr",
        }
    )
    _LINE = frozenset({"tr", "li", "dt", "dd", "caption"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.buffers: list[list[str]] = [[]]
        self.skip = 0
        self.pre = 0
        self.links: list[tuple[str, int]] = []

    def _emit(self, text: str) -> None:
        self.buffers[-1].append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        if self.skip:
            return
        if tag == "br":
            self._emit("\n")
        elif tag == "blockquote":
            self._emit("\n")
            self.buffers.append([])
        elif tag in self._BLOCK:
            self._emit("\n\n")
            if tag == "pre":
                self.pre += 1
            if tag == "hr":
                self._emit("----------\n")
        elif tag in self._LINE:
            self._emit("\n- " if tag == "li" else "\n")
        elif tag in ("td", "th"):
            self._emit(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            if alt.strip():
                self._emit(f"[{alt.strip()}]")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href, len("".join(self.buffers[-1]))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "img", "hr"):
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "blockquote" and len(self.buffers) > 1:
            inner = _tidy("".join(self.buffers.pop()))
            quoted = "\n".join(
                ">" + line if line.startswith(">") else "> " + line if line else ">"
                for line in inner.split("\n")
            )
            self._emit("\n" + quoted + "\n\n")
        elif tag in self._BLOCK:
            self._emit("\n\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.buffers[-1])[start:].strip()
            if re.match(r"(?i)(https?|mailto):", href) and href not in (label, "mailto:" + label):
                self._emit(f" <{href.removeprefix('mailto:')}>")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self._emit(data if self.pre else re.sub(r"[ \t\r\n\f\u00a0]+", " ", data))

    def text(self) -> str:
        while len(self.buffers) > 1:
            self.handle_endtag("blockquote")
        return _tidy("".join(self.buffers[0]))


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\u00a0", " ").split("\n")]
    lines = [
        line[1:] if line.startswith(" ") and not line.startswith("  ") else line for line in lines
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def html_to_text(markup: str) -> str:
    """A readable plain-text version of an HTML body (for the text alternative and for quoting):
    block structure as line breaks, lists as ``- ``, blockquotes as ``> ``, links as
    ``label <url>``; scripts and styles dropped. Never raises."""
    markup = markup[:MAX_HTML_TO_TEXT_CHARS]
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
        return parser.text()
    except Exception:
        stripped = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<[^>]*>", " ", markup)
        return _tidy(re.sub(r"[ \t]+", " ", html.unescape(stripped)))
