"""Text clean-up, sentence splitting and the small judgements loaders make about lines.

Sentences come from syntok (rule-based, no downloaded data), which keeps
"U.S." and "$11.1 billion" inside a sentence. Every sentence is an exact
substring of the cleaned article text, so answers can quote it verbatim.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

import syntok.segmenter as segmenter

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARA_BREAK = re.compile(r"\n\s*\n|\n(?=[ \t]{2,}\S)")
_LINE_BREAK = re.compile(r"\n")
WRAP_COLUMNS = 90
_SIGN_OFF = re.compile(r"\s*\b(Reuter|REUTER|Reuters)\s*$")
_WORD = re.compile(r"\w+(?:[.'’]\w+)*", re.UNICODE)

# A line that reads like a headline: short, and not a finished sentence.
HEADLINE_MAX_CHARS = 200
HEADLINE_MAX_WORDS = 28


def clean_body(text: str) -> str:
    """Reflow hard-wrapped text into paragraphs separated by one blank line.

    Newswire bodies break lines at 70 columns and mark paragraphs by indentation;
    web text separates them by blank lines. Both become "para\\n\\npara".
    """
    text = html.unescape(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [len(line) for line in text.split("\n") if line.strip()]
    # Hard-wrapped text never has lines much past 80 columns; when it does, each
    # line is a paragraph of its own (web copy, the seed document).
    breaks = _LINE_BREAK if lines and max(lines) > WRAP_COLUMNS else _PARA_BREAK
    paragraphs = []
    for para in breaks.split(text):
        para = _SPACES.sub(" ", para.replace("\n", " ")).strip()
        if para:
            paragraphs.append(para)
    if paragraphs:
        paragraphs[-1] = _SIGN_OFF.sub("", paragraphs[-1]).strip()
        if not paragraphs[-1]:
            paragraphs.pop()
    return "\n\n".join(paragraphs)


def clean_line(text: str) -> str:
    """One-line fields (titles, sources): unescape entities and collapse whitespace."""
    return _SPACES.sub(" ", _CONTROL.sub("", html.unescape(text)).replace("\n", " ")).strip()


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, in order.

    Spans never cross a paragraph break and are trimmed of surrounding space,
    so `text[start:end]` is the sentence exactly as written.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for para in text.split("\n\n"):
        for paragraph in segmenter.analyze(para):
            for sentence in paragraph:
                tokens = list(sentence)
                if not tokens:
                    continue
                start = tokens[0].offset
                end = tokens[-1].offset + len(tokens[-1].value)
                if end > start:
                    spans.append((offset + start, offset + end))
        offset += len(para) + 2
    return spans


def is_headline_like(line: str) -> bool:
    """Short, starts like a title and does not end like a sentence."""
    line = line.strip()
    if not line or len(line) > HEADLINE_MAX_CHARS:
        return False
    if len(line.split()) > HEADLINE_MAX_WORDS:
        return False
    if line[-1] in ".;:," and not line.endswith("..."):
        return False
    first = line.lstrip("\"'“‘(")[:1]
    return first.isupper() or first.isdigit()


FIRST_SENTENCE_WINDOW = 2000  # characters; a title is cut at 110 anyway


def derive_title(body: str, max_chars: int = 110) -> str:
    """A title for an untitled article: its first sentence, cut at a word boundary.

    Only the opening of the first paragraph is segmented: splitting a whole body just
    to keep its first sentence doubled the sentence-splitting cost of ingest.
    """
    head = body.split("\n\n", 1)[0][:FIRST_SENTENCE_WINDOW]
    spans = split_sentences(head)
    first = head[spans[0][0] : spans[0][1]] if spans else body.strip()
    first = first.rstrip(".").strip() or body.strip()
    if len(first) <= max_chars:
        return first
    cut = first[:max_chars].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def words(text: str) -> list[str]:
    """Lower-cased word tokens, accents folded (for overlap counts and dedupe keys)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return [w.lower() for w in _WORD.findall(folded)]


def content_key(title: str, body: str) -> str:
    """Hash of the normalised words, so re-wrapped or re-spaced copies dedupe."""
    joined = " ".join(words(title)) + "\n" + " ".join(words(body))
    return hashlib.sha1(joined.encode()).hexdigest()
