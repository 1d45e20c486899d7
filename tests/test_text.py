from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.identity import content_key
from retrieval.text import clean_body, derive_title, is_headline_like, split_sentences


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "U.S. Initiates $11.1 Billion Arms Sale to Taiwan. China objected.",
            ["U.S. Initiates $11.1 Billion Arms Sale to Taiwan.", "China objected."],
        ),
        (
            "Japan asked the U.S. to roll back tariffs. U.S. officials refused.",
            ["Japan asked the U.S. to roll back tariffs.", "U.S. officials refused."],
        ),
        (
            "Exports rose 5.93 mln bags vs. 5.81 last year. Mr. Smith said so.",
            ["Exports rose 5.93 mln bags vs. 5.81 last year.", "Mr. Smith said so."],
        ),
        ("One paragraph.\n\nAnother one", ["One paragraph.", "Another one"]),
    ],
)
def test_split_sentences_keeps_abbreviations_and_numbers(text, expected):
    assert sentences(text) == expected


def test_clean_body_reflows_newswire_and_drops_sign_off():
    raw = (
        "Showers continued in\nthe Bahia zone.\n    The dry period means\nlate crops.\n"
        " Reuter\n&#3;"
    )
    assert (
        clean_body(raw)
        == "Showers continued in the Bahia zone.\n\nThe dry period means late crops."
    )


def test_clean_body_keeps_long_lines_as_paragraphs():
    long = "x" * 120
    assert clean_body(f"{long}.\n{long}.") == f"{long}.\n\n{long}."


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Canada Signals Delay in US Tariff Deal as Talks Shift to USMCA Review", True),
        ("U.S. Initiates $11.1 Billion Arms Sale to Taiwan Amid Rising China Tensions", True),
        ("Japan has called on the United States to reconsider its tariffs.", False),
        ("lower case start", False),
        ("", False),
    ],
)
def test_is_headline_like(line, expected):
    assert is_headline_like(line) is expected


def test_derive_title_is_first_sentence_cut_at_a_word():
    body = (
        "Japan has called on the United States to reconsider its tariffs on automobiles and"
        " steel during recent trade negotiations, but more. Second."
    )
    title = derive_title(body)
    assert title.endswith("…") and len(title) <= 112
    assert body.startswith(title[:-1])


def test_derive_title_reads_only_the_opening_but_finds_the_same_sentence():
    opening = "Tokyo said on Monday it would retaliate against U.S. duties on steel."
    body = opening + " It gave no details. " * 200 + "\n\n" + "Another paragraph. " * 300
    assert derive_title(body) == opening.rstrip(".")
    spans = split_sentences(body)
    assert derive_title(body) == body[spans[0][0] : spans[0][1]].rstrip(".")


def test_content_key_ignores_wrapping_and_case():
    assert content_key("T", "Hello  world,\nagain") == content_key("t", "hello world again")


@given(st.text(max_size=400))
def test_sentence_spans_are_ordered_verbatim_substrings(text):
    body = clean_body(text)
    last = 0
    for start, end in split_sentences(body):
        assert last <= start < end <= len(body)
        assert body[start:end] == body[start:end].strip()
        last = end


# Characters that matter to syntok (terminals, brackets, quotes, digits, odd spaces)
# mixed with plain letters, so generated paragraphs hit both paths of split_sentences.
_SYNTOK_ALPHABET = st.sampled_from(
    [
        *"aAbZ xy 09.,;:!?()[]{}'\"-\u2019\u201d\u00ad\u00a0\u2003\t\n\x1c\u200b\uff08\u3002…",
        *("U.S.", "Mr.", "1.5", "...", " the ", "Tokyo"),
    ]
)


@given(st.lists(_SYNTOK_ALPHABET, max_size=40).map("".join))
def test_split_sentences_matches_syntok_on_any_paragraph(para):
    """The no-split shortcut must give exactly what syntok gives (it only skips work); the
    whole splitter is syntok with titles such as "Mr." rejoined (tests/test_sentences.py)."""
    from retrieval.text import _one_sentence, _rejoin_abbreviations, syntok_spans

    shortcut = _one_sentence(para)
    if shortcut is not None:
        assert [shortcut] == syntok_spans(para)
    assert split_sentences(para) == _rejoin_abbreviations(para, syntok_spans(para))


def test_split_sentences_shortcut_covers_plain_newswire_paragraphs():
    from retrieval.text import _one_sentence

    assert _one_sentence("Exports rose 5.93 pct to 1,200 mln dlrs in March, it said.") == (0, 58)
    assert _one_sentence("He said: \"We will respond.\"") == (0, 27)
    assert _one_sentence("Japan asked the U.S. to act.") is None
    assert _one_sentence("Tariffs (on steel) rose.") is None


def test_split_sentences_shortcut_leaves_a_spaced_final_quote_to_syntok():
    """Found by hypothesis: syntok splits "aa. '" (and with a no-break space) after the point."""
    from retrieval.text import _one_sentence, syntok_spans

    for para in ("aa. '", "aa.\u00a0'"):
        assert _one_sentence(para) is None
        assert split_sentences(para) == syntok_spans(para)
