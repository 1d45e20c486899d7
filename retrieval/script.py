"""Which writing system a question is in: the embedding model and the stemmer read English.

A question mostly in another script (Japanese, Cyrillic, Arabic…) embeds to noise, so the
answer says so instead of abstaining silently. Unicode character names carry the script
("CJK UNIFIED IDEOGRAPH-…", "CYRILLIC SMALL LETTER…"); the standard library's
`unicodedata` is enough, and no language-detection model is needed for a script test.
"""

from __future__ import annotations

import unicodedata

# A character name's first word, for the scripts whose name is not the script's own.
_SCRIPT_NAMES = {
    "CJK": "Chinese or Japanese",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "HANGUL": "Korean",
    "HALFWIDTH": "Japanese",
    "FULLWIDTH": "",  # fullwidth Latin letters are Latin; others fall through
}
# Below this share of Latin letters among a question's letters, it is not English.
LATIN_SHARE_MIN = 0.5


def foreign_script(text: str) -> str | None:
    """The name of the script most of `text`'s letters are in, if that is not Latin."""
    counts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        name = unicodedata.name(char, "")
        first = name.split(" ", 1)[0]
        if first == "LATIN" or (first == "FULLWIDTH" and "LATIN" in name):
            counts["Latin"] = counts.get("Latin", 0) + 1
            continue
        script = _SCRIPT_NAMES.get(first, first.title()) or first.title()
        counts[script] = counts.get(script, 0) + 1
    if not letters or counts.get("Latin", 0) / letters >= LATIN_SHARE_MIN:
        return None
    return max((n, s) for s, n in counts.items() if s != "Latin")[1]
