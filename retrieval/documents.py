"""Word (.docx) and PDF documents as plain text, to be read like a `.txt` file.

Both are extracted with well-kept libraries: python-docx gives a document's paragraphs
as written; pypdf gives each page's text. A PDF's lines come wrapped as printed, which
`parse_plain_text` joins within a paragraph; running heads, footers and page numbers
stay in the text (a PDF does not mark them), so a PDF article may carry a stray line.
A scanned PDF (images, no text layer) has no text: it is skipped as such.
"""

from __future__ import annotations

from pathlib import Path

from .records import MAX_BODY_CHARS


def docx_text(path: Path) -> str:
    """The paragraphs of a .docx, one block each (tables are left out)."""
    import docx

    document = docx.Document(str(path))
    return "\n\n".join(p.text for p in document.paragraphs if p.text.strip())


def pdf_text(path: Path) -> str:
    """The text of every page, pages as paragraphs; stops once past the body cap."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages: list[str] = []
    size = 0
    for page in reader.pages:
        text = page.extract_text() or ""
        pages.append(text)
        size += len(text)
        if size > MAX_BODY_CHARS:
            break
    return "\n\n".join(p for p in pages if p.strip())
