"""Article identity: the keys ingest, the store and feed polling compare."""

from __future__ import annotations

from retrieval.identity import content_key, dedupe_keys, entry_keys, ext_key
from retrieval.loaders import RawArticle


def test_ext_key_is_per_source():
    assert ext_key("Wire", "42") != ext_key("Daily", "42")
    assert ext_key(None, "42") == ext_key("", "42")
    assert ext_key("Wire", None) is None


def test_dedupe_keys_cannot_collide_across_kinds():
    """A URL that happens to equal another article's content hash is not that article."""
    digest = content_key("T", "Body.")
    assert dedupe_keys(digest, None, None).isdisjoint(dedupe_keys("other", digest, digest))
    assert dedupe_keys(digest, "https://e.com/a", None) == {f"c:{digest}", "u:https://e.com/a"}


def test_feed_entry_keys_normalise_the_link_and_share_the_content_key():
    entry = RawArticle(
        title="T",
        origin="feed",
        body="Body.",
        url="HTTPS://E.com:443/a?utm_source=x#top",
        external_id=" g1 ",
    )
    assert entry_keys(entry) == ["g:g1", "u:https://e.com/a", f"c:{content_key('T', 'Body.')}"]
