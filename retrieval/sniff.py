"""What a file holds, told from its bytes, never from its name.

A PNG named `.txt` is an image, and a report named `.dat` may be text. Ingest reads a
file by what `sniff` finds in its first bytes:

- **text**: a byte-order mark (UTF-8, UTF-16, UTF-32: `records.read_text` decodes by
  it), or bytes with no NUL and few control characters;
- **docx** and **pdf**: read as documents (`documents.py`, with python-docx and pypdf);
- **binary**: anything else (an image, archive, audio, video, executable, font, SQLite
  database, an office format we do not read...), skipped and reported with what it is.

Text is told first, by its bytes: no NUL and few control characters (text has none but
tab, line ends, form feed and escape). Only then are other formats named by their magic
numbers with `filetype`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import filetype

HEAD_BYTES = 8192  # enough for every magic number and a fair sample of the text
# Control characters (other than \t \n \r \f and ESC) in a text file are rare; a binary
# file is full of them. Past this share of the sample, it is not text.
MAX_CONTROL_SHARE = 0.05
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")
_SQLITE = b"SQLite format 3\x00"
_DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

Kind = Literal["text", "docx", "pdf", "binary"]


@dataclass(frozen=True)
class Sniffed:
    kind: Kind
    what: str = ""  # for binary: what it is, for the skip reason
    # binary only by a few stray NUL bytes (no magic number, few control characters):
    # in a record file that is one bad record, not a binary file
    stray: bool = False


def sniff(head: bytes, path: Path | None = None) -> Sniffed:
    """What `head` (a file's first `HEAD_BYTES`) holds. `path`, when given, lets a zip
    archive be looked into: a .docx is a zip with `word/document.xml`."""
    if head.startswith(_BOMS):
        return Sniffed("text")
    if head.startswith(b"%PDF-"):
        return Sniffed("pdf")
    if _looks_like_text(head):
        return Sniffed("text")
    if head.startswith(_SQLITE):
        return Sniffed("binary", "an SQLite database")
    kind = filetype.guess(head)
    if kind is not None and (
        kind.mime == _DOCX_MIME or (kind.mime == "application/zip" and _is_docx(path))
    ):
        return Sniffed("docx")
    if kind is not None:
        return Sniffed("binary", f"{kind.mime} data")
    nul = b"\x00" in head
    stray = nul and _control_share(head) <= MAX_CONTROL_SHARE
    return Sniffed("binary", "binary data" + (" (NUL bytes)" if nul else ""), stray=stray)


def _looks_like_text(head: bytes) -> bool:
    """No NUL and few control characters. Tested before any magic number: some are two
    letters (a bitmap starts "BM", as "BMW recalls..." does)."""
    if b"\x00" in head:
        return False
    return _control_share(head) <= MAX_CONTROL_SHARE


def _control_share(head: bytes) -> float:
    controls = sum(1 for b in head if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    return controls / len(head) if head else 0.0


def _is_docx(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def sniff_file(path: Path) -> Sniffed:
    """`sniff` of the file at `path` (an unreadable file raises OSError)."""
    with path.open("rb") as fh:
        return sniff(fh.read(HEAD_BYTES), path)
