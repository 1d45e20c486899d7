"""Only text gets in: files are read by what their bytes hold, never by their name."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from retrieval.loaders import RawArticle, Skipped, load
from retrieval.sniff import sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
ARTICLE = "Tariff talks stall in Tokyo\n\nJapan and the U.S. failed to agree on car tariffs."


def items(*targets: Path, exclude: Path | None = None) -> list:
    return list(load([str(t) for t in targets], exclude=exclude))


def skipped(found: list) -> dict[str, str]:
    return {Path(s.source).name: s.reason for s in found if isinstance(s, Skipped)}


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in Helvetica, cross-reference offsets computed."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def minimal_docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_binary_files_are_skipped_and_listed_named_or_in_a_folder(tmp_path: Path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "photo.txt").write_bytes(PNG)  # a PNG named .txt
    (folder / "photo.png").write_bytes(PNG)
    (folder / "dump.json").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "notes.sgm").write_text("<REUTERS>x</REUTERS>")
    (folder / "ok.txt").write_text(ARTICLE)
    found = items(folder)
    reasons = skipped(found)
    assert reasons["photo.txt"] == "not text: image/png data"
    assert reasons["dump.json"].startswith("not text: binary data")
    assert reasons["photo.png"] == "not a supported file type (.png)"
    assert reasons["notes.sgm"] == "not a supported file type (.sgm)"
    assert [a.title for a in found if isinstance(a, RawArticle)] == ["Tariff talks stall in Tokyo"]
    # Named on its own, a PNG is skipped too (it was stored with the title "‰PNG").
    assert skipped(items(folder / "photo.png")) == {"photo.png": "not text: image/png data"}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_read_as_what_it_is(tmp_path: Path, codec: str):
    path = tmp_path / "bom.txt"
    raw = ARTICLE.encode(codec)
    if codec == "utf-16-be":
        raw = b"\xfe\xff" + raw
    path.write_bytes(raw)
    found = items(path)
    (article,) = [a for a in found if isinstance(a, RawArticle)]
    assert article.title == "Tariff talks stall in Tokyo"
    assert not [n for n in found if not isinstance(n, RawArticle)]  # no Windows-1252 note


def test_docx_and_pdf_are_extracted(tmp_path: Path):
    (tmp_path / "a.docx").write_bytes(
        minimal_docx(["Tariff talks stall in Tokyo", "Japan and the U.S. failed to agree."])
    )
    (tmp_path / "b.pdf").write_bytes(minimal_pdf("Japan and the U.S. failed to agree on cars."))
    (tmp_path / "c.pdf").write_bytes(minimal_pdf(""))
    found = items(tmp_path)
    articles = {Path(a.origin.split("#")[0]).name: a for a in found if isinstance(a, RawArticle)}
    assert articles["a.docx"].title == "Tariff talks stall in Tokyo"
    assert "failed to agree on cars" in articles["b.pdf"].title + articles["b.pdf"].body
    assert skipped(found)["c.pdf"].startswith("no text in this PDF")


def test_a_text_starting_like_a_magic_number_is_still_text():
    assert sniff(b"BMW recalls 40,000 cars over faulty brakes").kind == "text"
    assert sniff(b"ID3 of the suspects was released").kind == "text"
    assert sniff(b"Caf\xe9 owners protest").kind == "text"  # Windows-1252 is text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300))
def test_any_printable_text_sniffs_as_text(text: str):
    for codec in ("utf-8", "utf-16", "utf-32"):
        assert sniff(text.encode(codec)).kind == "text"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_sniff_never_raises_and_is_total(raw: bytes):
    assert sniff(raw).kind in ("text", "docx", "pdf", "binary")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_refuses_an_empty_path_and_the_data_dir(capsys, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    code, out, err = run(capsys, "--data-dir", str(data), "ingest", "", "--json")
    assert code == 2 and "empty PATH" in err
    assert json.loads(out)["error"]["kind"] == "usage"
    for target in (data, data / "sub"):
        code, _, err = run(capsys, "--data-dir", str(data), "ingest", str(target))
        assert code == 2 and "data directory" in err
    assert not (data / "briefbot.sqlite3").exists()  # refused before the store opened


def test_a_folder_walk_passes_over_the_data_dir(tmp_path: Path):
    (tmp_path / "ok.txt").write_text(ARTICLE)
    data = tmp_path / "data"
    data.mkdir()
    (data / "index.meta.json").write_text(json.dumps({"title": "not an article", "body": "x"}))
    with zipfile.ZipFile(data / "x.zip", "w") as z:
        z.writestr("a.txt", "x")
    found = items(tmp_path, exclude=data)
    assert [a.title for a in found if isinstance(a, RawArticle)] == ["Tariff talks stall in Tokyo"]
    assert skipped(found) == {"data": "the data directory: the store, not articles"}


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_exports_with_a_byte_order_mark_are_streamed_as_what_they_are(
    tmp_path: Path, codec: str, suffix: str
):
    rows = [{"title": "Café owners protest", "body": "Prices rose in Tokyo."}]
    text = {
        ".jsonl": json.dumps(rows[0], ensure_ascii=False),
        ".json": json.dumps(rows, ensure_ascii=False),
        ".csv": "title,body\nCafé owners protest,Prices rose in Tokyo.\n",
    }[suffix]
    path = tmp_path / f"export{suffix}"
    path.write_bytes(text.encode(codec))
    found = items(path)
    assert [(a.title, a.body) for a in found if isinstance(a, RawArticle)] == [
        ("Café owners protest", "Prices rose in Tokyo.")
    ]
    assert [f for f in found if not isinstance(f, RawArticle)] == []


def test_a_stray_nul_in_a_csv_costs_only_its_record(tmp_path: Path):
    """Found by the loader fuzz suite: one NUL in one cell made the whole CSV 'binary'."""
    path = tmp_path / "export.csv"
    path.write_bytes(
        b"title,body\n"
        b"Tariff talks stall in Tokyo,Japan and the US failed to agree on car tariffs.\n"
        b"Bad\x00row,\x00\n"
        b"Steel duties rise,The EU raised duties on Chinese steel on Monday.\n"
    )
    titles = [a.title for a in items(path) if isinstance(a, RawArticle)]
    assert "Tariff talks stall in Tokyo" in titles
    assert "Steel duties rise" in titles
