"""JSON in and out of the command line: the `--json` documents and the JSONL batch reader.

The shapes are the contract in `cli-contract.md`; evaluation scripts parse them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# How `jsonl_values` words a line that is not JSON; batch results have always said it as
# `line N: invalid JSON (MESSAGE)` (cli.batch.invalid_json), so the message is taken out.
_INVALID_JSON = re.compile(r"invalid JSON: (?P<error>.*) \(column \d+\)")


def emit(obj: Any) -> None:
    """One JSON document per line on stdout, flushed (batch readers consume it as it comes)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _split(codes) -> tuple[list[str], list[str]]:
    """(countries, groupings): `countries` stays ISO 3166-1 alpha-2 as the contract says."""
    from retrieval.groupings import split_codes

    return split_codes(list(codes))


def article_json(article, score: float | None = None) -> dict[str, Any]:
    countries, groupings = _split(article.countries)
    out = {
        "id": article.id,
        "external_id": article.external_id,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "published": article.published,
        "countries": countries,
        "groupings": groupings,
        "topics": article.topics,
    }
    if score is not None:
        out["score"] = round(float(score), 4)
    return out


def ask_json(result, question: str, qid: Any = None) -> dict[str, Any]:
    return {
        "id": qid,
        "question": question,
        "abstained": result.answer.abstained,
        # How the question was read when it changed the search ("nothing from 2015"), or null.
        "note": result.answer.note,
        "answer": [{"text": s.text, "article": s.article_id} for s in result.answer.sentences],
        "articles": [article_json(r.article, r.score) for r in result.articles],
    }


def digest_json(digest) -> dict[str, Any]:
    from retrieval.dates import isoformat

    return {
        "generated": isoformat(digest.generated),
        "since": isoformat(digest.since),
        "sections": [
            {
                "title": story.title,
                "countries": _split(story.countries)[0],
                "groupings": _split(story.countries)[1],
                "topics": story.topics,
                "summary": story.summary,
                # The stored story (negative: grouped in memory, the store was read-only);
                # developing = it has articles from before this digest's window.
                "story": story.id,
                "developing": story.developing,
                "days": story.days,
                "story_articles": story.total,
                "first_dated": story.first_dated,
                "articles": [
                    {
                        "id": a.id,
                        "title": a.title,
                        "url": a.url,
                        "source": a.source,
                        "published": a.published,
                    }
                    for a in story.articles
                ],
            }
            for story in digest.stories
        ],
    }


def stats_json(st) -> dict[str, Any]:
    return {
        "articles": st.articles,
        "vectors": st.vectors,
        "index": st.index,
        "model": st.model,
        "backend": st.backend,
        "data_dir": st.data_dir,
        "last_ingest": st.last_ingest,
        "published_range": [st.first_published, st.last_published],
    }


def subscription_json(s) -> dict[str, Any]:
    return {
        "id": s.id,
        "guild_id": s.guild_id,
        "channel_id": s.channel_id,
        "time": s.time,
        "timezone": s.timezone,
        "countries": list(s.countries),
        "with": list(s.with_countries),
        "members": s.members,
        "topics": list(s.topics),
        "delivery": s.delivery,
    }


def feed_json(f) -> dict[str, Any]:
    return {
        "id": f.id,
        "url": f.url,
        "name": f.name,
        "status": f.status,
        "seen": f.seen,
        "added": f.added,
    }


def read_jsonl(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, object, None), or (line number, None, error) for a line that is not one.

    The lines are read by the project's one JSONL reader, `retrieval.jsonread.jsonl_values`
    (blank lines skipped, a line too deeply nested refused alone, a line that is not UTF-8
    read as Windows-1252 and noted on stderr); this adapter gives its verdicts the
    wording of batch results.
    """
    from retrieval import InputError, wording
    from retrieval.jsonread import jsonl_values
    from retrieval.records import Note, Skipped

    try:
        fh = path.open("rb")
    except OSError as exc:
        reason = exc.strerror or exc
        raise InputError(wording.text("cli.cannot_read", path=path, reason=reason)) from None
    with fh:
        for item in jsonl_values(fh, str(path)):
            if isinstance(item, Note):
                log.warning("%s: %s", item.source, item.note)
                continue
            if isinstance(item, Skipped):
                n = _line_number(item.source)
                yield n, None, _batch_error(n, item.reason)
                continue
            where, value = item
            n = _line_number(where)
            if isinstance(value, dict):
                yield n, value, None
            else:
                yield n, None, wording.text("cli.batch.not_object", line=n)


def _line_number(where: str) -> int:
    """N of the `PATH#N` that `jsonl_values` names a line by."""
    return int(where.rpartition("#")[2])


def _batch_error(n: int, reason: str) -> str:
    from retrieval import wording

    invalid = _INVALID_JSON.fullmatch(reason)
    if invalid:
        return wording.text("cli.batch.invalid_json", line=n, error=invalid["error"])
    return wording.text("cli.batch.unreadable", line=n, reason=reason)


def error_kind(exc: BaseException) -> str:
    """The `kind` of a `--json` error: which of the project's errors, else `os`/`internal`."""
    from retrieval import ConfigError, InputError, StoreError

    for cls, kind in ((InputError, "input"), (ConfigError, "config"), (StoreError, "store")):
        if isinstance(exc, cls):
            return kind
    return "os" if isinstance(exc, OSError) else "error"


@contextmanager
def batch_line(qid: Any, line: int, echo: dict[str, Any] | None = None) -> Iterator[None]:
    """The boundary of one --batch line: a failure becomes that line's result (its id,
    `echo`ed fields, `error` and `error_kind`) and the next line runs. A bug is logged with
    its traceback (shown with --debug); KeyboardInterrupt still stops the batch."""
    from retrieval import BriefbotError, wording

    try:
        yield
    except BriefbotError as exc:
        emit({"id": qid, **(echo or {}), "error": str(exc), "error_kind": error_kind(exc)})
    except Exception as exc:
        log.debug("batch line %d failed", line, exc_info=True)
        error = wording.text("cli.batch.unexpected", line=line, kind=type(exc).__name__, error=exc)
        emit({"id": qid, **(echo or {}), "error": error, "error_kind": "internal"})


def batch_text(obj: dict[str, Any], key: str, line: int, required: bool = True) -> str | None:
    """A batch line's text field; missing (when required) or not text is an InputError."""
    from retrieval import InputError, wording

    value = obj.get(key)
    if value is None and not required:
        return None
    if value is None:
        raise InputError(wording.text("cli.batch.missing", line=line, field=key))
    if not isinstance(value, str):
        kind = type(value).__name__
        raise InputError(wording.text("cli.batch.not_text", line=line, field=key, kind=kind))
    return value


def batch_strings(obj: dict[str, Any], key: str, line: int) -> list[str]:
    """A batch field given as one text or a list of texts, as a list."""
    from retrieval import InputError, wording

    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InputError(wording.text("cli.batch.not_texts", line=line, field=key))
