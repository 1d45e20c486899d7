"""Article identity: the keys that say two items are the same article.

An article is the same as one already held when its normalised words match
(`content_key`), when it has the same link, or when its source gave it the same id
(`ext_key`). Ingest checks these against the store and the batch in flight; feed
polling keeps its own per-feed keys (`entry_keys`) so an entry is offered only once.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit, urlunsplit

from .text import words

if TYPE_CHECKING:
    from .records import RawArticle

DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that only track the click: the same story shared with and without them
# must give one seen key.
TRACKING_PARAMS = ("utm_", "fbclid=", "gclid=", "mc_cid=", "mc_eid=")


def content_key(title: str, body: str) -> str:
    """Hash of the normalised words, so re-wrapped or re-spaced copies dedupe."""
    joined = " ".join(words(title)) + "\n" + " ".join(words(body))
    return hashlib.sha1(joined.encode()).hexdigest()


def ext_key(source: str | None, external_id: str | None) -> str | None:
    """A source's own id for an article, qualified by the source (ids are per source)."""
    if external_id is None:
        return None
    return f"{source or ''}\x1f{external_id}"


def dedupe_keys(content: str, url: str | None, external: str | None) -> set[str]:
    """The keys of an article not yet stored (content key, URL, ext key), one set for all.

    Prefixed so that a URL can never equal a content hash or an ext key.
    """
    keys = {f"c:{content}"}
    if url:
        keys.add(f"u:{url}")
    if external:
        keys.add(f"e:{external}")
    return keys


def http_parts(url: str) -> SplitResult | None:
    """The parts of an absolute http(s) URL with a host, or None."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts


def normalize_url(url: str) -> str:
    """One spelling per http(s) URL, so a link seen before is recognised however it is written.

    Lower-cases scheme and host, drops the default port, the fragment and click-tracking
    query parameters. Anything that is not an http(s) URL comes back stripped, as is.
    """
    parts = http_parts(url)
    if parts is None:
        return url.strip()
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{parts.port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.lower().startswith(TRACKING_PARAMS)
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def entry_keys(article: RawArticle) -> list[str]:
    """What identifies a feed entry across polls: its guid, its link and its text.

    An entry matching any key was seen before, so a re-issued guid or an edited body
    with the same link still counts as old.
    """
    keys = []
    if article.external_id and article.external_id.strip():
        keys.append(f"g:{article.external_id.strip()}")
    if article.url and article.url.strip():
        keys.append(f"u:{normalize_url(article.url)}")
    keys.append(f"c:{content_key(article.title, article.body)}")
    return keys
