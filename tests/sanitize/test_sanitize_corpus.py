"""Every message of the XSS corpus, through the sanitizer with both remote policies.

Each leaf part (decoded with its declared charset like a mail client, and as UTF-8), plus the
message's header values, is sanitized as if it were HTML; the output is re-parsed with the
html5lib package (not the copy bleach vendors) and must contain nothing active.
"""

from __future__ import annotations

import pytest

from tests.sanitize.sanitize_checks import (
    FORBIDDEN_TAGS,
    CorpusRow,
    corpus_root,
    corpus_rows,
    message_payloads,
    normalise_url,
    parse_output,
    safety_problems,
)
from webmail.sanitize import RemotePolicy, sanitize_html

ROWS = corpus_rows()
# HTML-bearing locations: their payload must reach the sanitizer as a part of that type.
HTML_LOCATIONS = {
    "text/html body": "text/html",
    "multipart/related cid: part": "text/html",
    "multipart/related Content-Location part": "text/html",
    "attached message/rfc822 body": "text/html",
    "text/plain body": "text/plain",
    "text/plain format=flowed body": "text/plain",
    "text/enriched body": "text/enriched",
    "text/calendar part": "text/calendar",
    "text/vcard attachment": "text/vcard",
}


def test_corpus_is_present() -> None:
    root = corpus_root() / "xss"
    assert root.is_dir(), f"XSS corpus missing at {root} (set WEBMAIL_CORPORA)"
    assert len(ROWS) >= 150, f"INDEX.tsv lists only {len(ROWS)} messages"
    missing = [row.file for row in ROWS if not row.path.is_file()]
    assert not missing, f"files listed in INDEX.tsv but missing: {missing[:5]}"


def test_index_locations_are_all_known() -> None:
    """A new payload location in the corpus must be looked at, not silently ignored."""
    known_prefixes = (
        *HTML_LOCATIONS, "header", "attachment", "part header", "message/delivery-status",
        "attached message/rfc822 headers",
    )
    locations = {r.payload_location for r in ROWS}
    unknown = {loc for loc in locations if not loc.startswith(known_prefixes)}
    assert not unknown
    html_rows = [r for r in ROWS if r.payload_location == "text/html body"]
    assert len(html_rows) >= 100


@pytest.mark.parametrize("row", ROWS or [None], ids=lambda r: r.id if r else "corpus-missing")
def test_corpus_message_is_inert(row: CorpusRow | None) -> None:
    assert row is not None, f"XSS corpus missing at {corpus_root()}"
    payloads, cid_map = message_payloads(row.path)
    expected_type = HTML_LOCATIONS.get(row.payload_location)
    if expected_type:
        assert any(p.content_type == expected_type for p in payloads), (
            f"no {expected_type} part extracted for a '{row.payload_location}' vector"
        )
    for payload in payloads:
        for policy in RemotePolicy:
            result = sanitize_html(payload.text, policy=policy, cid_map=cid_map)
            where = f"{row.file} {payload.label} ({payload.content_type}) {policy.name}"
            problems = safety_problems(result.html, block=policy is RemotePolicy.BLOCK)
            assert not problems, f"{where}: {problems}\n{result.html[:2000]}"
            again = sanitize_html(result.html, policy=policy, cid_map=cid_map)
            assert again.html == result.html, f"{where}: not a fixed point"
            _assert_interaction_inert(row, result.html, where)


def _assert_interaction_inert(row: CorpusRow, html: str, where: str) -> None:
    """What the browser test would click/hover/type on is gone or harmless."""
    action, _, selector = row.interaction.partition(":")
    if action not in ("click", "hover", "type"):
        return
    root = parse_output(html)
    tags = {str(n.tag).rsplit("}", 1)[-1].lower() for n in root.iter()}
    for part in selector.lower().split():
        tag = part.split("[")[0]
        if tag in FORBIDDEN_TAGS | {"mi", "rect"}:
            assert tag not in tags, f"{where}: <{tag}> survived for {row.interaction}"
    for link in root.iter("a"):
        href = normalise_url(link.get("href", "https://x.test/"))
        assert href.startswith(("http://", "https://", "mailto:", "tel:", "#")), where
        assert "127.0.0.1" not in href, where
        assert link.get("target") == "_blank", where
        assert link.get("rel") == "noopener noreferrer", where
