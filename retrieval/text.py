"""Text clean-up, sentence splitting and the small judgements loaders make about lines.

Sentences come from syntok (rule-based, no downloaded data), which keeps
"U.S." and "$11.1 billion" inside a sentence. Every sentence is an exact
substring of the cleaned article text, so answers can quote it verbatim.
Paragraphs syntok could not split are answered without it (see `_one_sentence`).
"""

from __future__ import annotations

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
# syntok (its State class) only ends a sentence at a terminal mark or an opening bracket.
# A paragraph with neither, bar a final run of terminals, closing quotes and brackets
# (and the points inside numbers such as 1.5, which syntok never splits), is one
# sentence; newswire is mostly such paragraphs. A line break (syntok's own paragraph
# split) also sends a paragraph to syntok.
_TERMINALS = ".!?;\u203c\u203d\u2047\u2048\u2049\u3002\ufe52\ufe57\uff01\uff0e\uff1f\uff61"
_OPENING = "([{\uff5f\uff5b\uff3b\uff08\ufe5d\ufe5b\ufe59\ufd3e\u301a\u3018\u2985\u2983\u2329"
_CLOSING = (
    "'\"\u00b4\u2019\u201d\u232a\u27e9\u27eb\u2e29\u3009\u300b\u301e"
    ")]}\uff60\uff5d\uff3d\uff09\ufe5e\ufe5c\ufe5a\ufd3f\u301b\u3019\u2986\u2984"
)
_MAY_SPLIT = re.compile(
    r"\n|(?<![0-9])\.|\.(?![0-9])|[" + re.escape(_TERMINALS.replace(".", "") + _OPENING) + "]"
)
_FINAL = frozenset(_TERMINALS + _CLOSING)
_OPENING_QUOTES = frozenset("\"'\u201c\u2018")

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
        whole = _one_sentence(para)
        if whole is None:
            joined = _rejoin_abbreviations(para, syntok_spans(para))
            spans.extend((offset + s, offset + e) for s, e in joined)
        else:
            spans.append((offset + whole[0], offset + whole[1]))
        offset += len(para) + 2
    return spans


def syntok_spans(para: str) -> list[tuple[int, int]]:
    """Sentence spans of one paragraph, as syntok segments it."""
    spans = []
    for paragraph in segmenter.analyze(para):
        for sentence in paragraph:
            tokens = list(sentence)
            if not tokens:
                continue
            start = tokens[0].offset
            end = tokens[-1].offset + len(tokens[-1].value)
            if end > start:
                spans.append((start, end))
    return spans


# Titles and labels that stand before a name or number and never end a sentence; syntok
# splits after several of them ("Democratic Rep." | "Tom Suozzi ..."). Lower-cased, no point.
_NEVER_FINAL = frozenset(
    [
        "rep",
        "reps",
        "sen",
        "sens",
        "gov",
        "govs",
        "lt",
        "gen",
        "col",
        "maj",
        "capt",
        "cmdr",
        "adm",
        "sgt",
        "cpl",
        "pvt",
        "dr",
        "prof",
        "rev",
        "hon",
        "pres",
        "supt",
        "insp",
        "det",
        "amb",
        "atty",
        "mr",
        "mrs",
        "ms",
        "messrs",
        "mt",
        "ft",
        "no",
        "nos",
        "vs",
    ]  # capitalised only
)
_LAST_TOKEN = re.compile(r"([A-Za-z]+)\.$")
# "R-N.Y." / "D-Calif.": a party-state label inside a sentence.
_PARTY_STATE = re.compile(r"\b[RDI]-[A-Z][A-Za-z]*\.(?:[A-Z]\.)?$")


def _rejoin_abbreviations(para: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge a span into the next when it ends on a title abbreviation ("Rep.", "Gov.",
    "No."), or on a party-state label or a company suffix followed by a lower-case word:
    news sentences never end there, and the cut leaves two fragments."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and _continues(para, out[-1], start):
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _continues(para: str, previous: tuple[int, int], start: int) -> bool:
    if "\n\n" in para[previous[1] : start]:  # a blank line ends a sentence whatever came
        return False
    tail = para[previous[0] : previous[1]]
    token = _LAST_TOKEN.search(tail)
    following = para[start : start + 1]
    if token and token.group(1)[0].isupper() and token.group(1).lower() in _NEVER_FINAL:
        # "No. 2" is a rank; "No." before a word is an answer ("The reply was No.").
        return token.group(1) not in ("No", "Nos") or following.isdigit()
    return following.islower() and bool(
        _PARTY_STATE.search(tail) or (token and token.group(1) in _COMPANY_SUFFIXES)
    )


_COMPANY_SUFFIXES = frozenset({"Corp", "Inc", "Co", "Ltd", "Bros", "Jr", "Sr"})


def _one_sentence(para: str) -> tuple[int, int] | None:
    """The span syntok would give a paragraph it cannot split, or None if it might split it.

    Skipping syntok here halves sentence-splitting time on newswire; the equivalence is
    checked against syntok itself in the tests (hypothesis) and on Reuters and BBC.
    Only paragraphs that start and end on a character syntok surely keeps in a token
    (clean_body's paragraphs) qualify, so the span is the whole paragraph.
    """
    if not para or not (para[0].isalnum() or para[0] in _OPENING_QUOTES):
        return None
    end = len(para)
    if not (para[-1].isalnum() or para[-1] in _FINAL):
        return None
    # No space inside the final run: syntok splits "aa. '" after the point.
    while end and para[end - 1] in _FINAL:
        end -= 1
    if _MAY_SPLIT.search(para, 0, end):
        return None
    return (0, len(para))


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
