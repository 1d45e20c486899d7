"""The `--batch` reader: the project's JSONL reader underneath, the batch wording on top."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.cli_json import read_jsonl
from retrieval import InputError
from retrieval.jsonread import MAX_DEPTH


def _read(tmp_path: Path, data: bytes) -> list[tuple[int, dict | None, str | None]]:
    batch = tmp_path / "q.jsonl"
    batch.write_bytes(data)
    return list(read_jsonl(batch))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"id": "q1"}', (1, {"id": "q1"}, None)),
        (b'{"id": "q1"}\r', (1, {"id": "q1"}, None)),
        # The wording batch results had before they were read by jsonl_values.
        (b"not json", (1, None, "line 1: invalid JSON (Expecting value)")),
        (b'{"id": "q1"', (1, None, "line 1: invalid JSON (Expecting ',' delimiter)")),
        (b"[1, 2]", (1, None, "line 1: expected a JSON object")),
        (b'"text"', (1, None, "line 1: expected a JSON object")),
        # Once a crash (RecursionError); now one line's error like the others.
        (
            b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
            (1, None, f"line 1: nested deeper than {MAX_DEPTH} levels"),
        ),
    ],
)
def test_each_line_gives_an_object_or_its_error(tmp_path: Path, line: bytes, expected):
    assert _read(tmp_path, line + b"\n") == [expected]


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(tmp_path: Path):
    got = _read(tmp_path, b'{"id": 1}\n\n  \nnope\n{"id": 2}')
    assert [(n, obj) for n, obj, _ in got] == [(1, {"id": 1}), (4, None), (5, {"id": 2})]


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path):
    assert _read(tmp_path, b'\xef\xbb\xbf{"id": 1}\n') == [(1, {"id": 1}, None)]


def test_a_line_that_is_not_utf8_is_read_and_noted(tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.cli_json"):
        got = _read(tmp_path, '{"text": "caf\xe9"}\n'.encode("latin-1"))
    assert got == [(1, {"text": "caf\xe9"}, None)]
    assert "q.jsonl#1: not valid UTF-8" in caplog.text


def test_a_file_that_cannot_be_opened_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match=r"^cannot read .*missing\.jsonl: No such file"):
        list(read_jsonl(tmp_path / "missing.jsonl"))
