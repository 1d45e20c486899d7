"""Which articles a query may see (`Filters`), and the one translation of them into SQL.

Every condition becomes a query selecting the article ids it admits, answered from a
covering index: (code, article_id) for countries, (topic, article_id) for topics,
(dated) for the date window. The three places that filter use those same queries:

- `Store.admitted` runs each one and intersects the ids (the FAISS selector);
- lexical search checks FTS matches against them as `+rowid IN (...)`;
- `Store.article_ids` uses the tag sets as `id IN (...)` and the date window as
  a range on `articles.dated`, so a newest-first listing walks that index and stops
  at its limit.

`after_id` is a plain id comparison everywhere, left to each caller.

Groupings (EU, OPEC) are codes in `article_countries` like countries, so a grouping
filter is the same query. `members` widens a grouping to its member countries while
they were members: those codes are checked against the article's `dated`, grouped by
membership window, as plain SQL (a join on articles) any engine can run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from .dates import isoformat
from .groupings import groupings


@dataclass(frozen=True)
class Filters:
    """Which articles a query may see. Empty tuples mean no restriction.

    `since`/`until` compare with the known publication date: an undated article is in
    no window (never "recent"), unless `undated` admits it by when it was ingested.
    `countries` admits an article about any of them; `with_countries` then requires
    each of these as well (a pair: `countries=("JP",), with_countries=("US",)`).
    `members` lets a grouping code in either stand for its members too. `hints` are
    notes for the user about how the filter was read; they never change the query.
    """

    countries: tuple[str, ...] = ()
    with_countries: tuple[str, ...] = ()
    members: bool = False
    topics: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    after_id: int | None = None  # only articles ingested after this one (digest periods)
    undated: bool = False  # in a since/until window, undated articles by ingestion time
    hints: tuple[str, ...] = field(default=(), compare=False)

    @property
    def active(self) -> bool:
        return bool(
            self.countries
            or self.with_countries
            or self.topics
            or self.since
            or self.until
            or self.after_id is not None
        )

    def country_sets(self) -> list[tuple[str, ...]]:
        """The country conditions, each admitting an article tagged with any of its codes."""
        sets = [self.countries] if self.countries else []
        return sets + [(code,) for code in dict.fromkeys(self.with_countries)]


Query = tuple[str, list[object]]  # SQL and its arguments


@dataclass(frozen=True)
class FilterSQL:
    """`Filters` on the SQLite schema: tag id sets, the date window, the id floor."""

    tag_sets: list[Query]  # each selects article_id through a covering index
    dated: Query | None  # a condition on articles.dated
    after_id: int | None

    @classmethod
    def of(cls, filters: Filters) -> FilterSQL:
        tag_sets = [_codes_query(codes, filters.members) for codes in filters.country_sets()]
        if filters.topics:
            marks = ",".join("?" * len(filters.topics))
            tag_sets.append(
                (
                    f"SELECT article_id FROM article_topics WHERE topic IN ({marks})",
                    list(filters.topics),
                )
            )
        dated: Query | None = None
        if filters.since or filters.until:
            # Always a lower bound, so SQLite reads the window as one range of the index.
            sql, args = "dated >= ?", [isoformat(filters.since) or "0"]  # "" is undated
            if filters.until:
                sql += " AND dated < ?"
                args.append(isoformat(filters.until))
            if filters.undated:  # `dated` is '' for an undated article (see schema.SCHEMA)
                late = "added >= ?" + (" AND added < ?" if filters.until else "")
                sql = f"(({sql}) OR (dated = '' AND {late}))"
                args = [*args, *args]
            dated = (sql, args)
        return cls(tag_sets, dated, filters.after_id)

    def id_sets(self) -> list[Query]:
        """Every condition but `after_id` as a query selecting the ids it admits."""
        sets = list(self.tag_sets)
        if self.dated is not None:
            sql, args = self.dated
            sets.append((f"SELECT id FROM articles WHERE {sql}", args))
        return sets

    def on_fts_rowid(self) -> Query:
        """The conditions on the FTS rowid (the article id), to AND onto a MATCH.

        `+rowid IN (subquery)`: the unary plus keeps SQLite from driving the search
        from the subquery's ids (one FTS lookup each); the set is built once and each
        match is checked against it, which is several times faster than joining the
        articles table, with the same results.
        """
        sets = self.id_sets()
        where = "".join(f" AND +rowid IN ({sql})" for sql, _ in sets)
        args = [a for _, set_args in sets for a in set_args]
        if self.after_id is not None:
            where += " AND rowid > ?"
            args.append(self.after_id)
        return where, args

    def on_articles(self) -> Query:
        """A WHERE clause (or "") on the articles table, unaliased."""
        clauses: list[str] = []
        args: list[object] = []
        for sql, set_args in self.tag_sets:
            clauses.append(f"id IN ({sql})")
            args.extend(set_args)
        if self.dated is not None:
            clauses.append(self.dated[0])
            args.extend(self.dated[1])
        if self.after_id is not None:
            clauses.append("id > ?")
            args.append(self.after_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


Window = tuple[date | None, date | None]


def expand_members(codes: tuple[str, ...]) -> tuple[list[str], dict[Window, list[str]]]:
    """The codes themselves (always), and each grouping's members by membership window."""
    plain = list(dict.fromkeys(codes))
    windows: dict[Window, list[str]] = defaultdict(list)
    table = groupings()
    for code in codes:
        for member in table[code].members if code in table else ():
            window = (member.since, member.until)
            if window == (None, None):
                if member.code not in plain:
                    plain.append(member.code)
            elif member.code not in windows[window]:
                windows[window].append(member.code)
    return plain, dict(windows)


def _codes_query(codes: tuple[str, ...], members: bool) -> Query:
    """Article ids tagged with any of `codes` (and, with `members`, their dated members)."""
    plain, windows = expand_members(codes) if members else (list(codes), {})
    parts = [f"SELECT article_id FROM article_countries WHERE code IN ({_marks(plain)})"]
    args: list[object] = list(plain)
    for (since, until), member_codes in windows.items():
        sql = (
            "SELECT c.article_id FROM article_countries c JOIN articles a ON a.id = c.article_id"
            f" WHERE c.code IN ({_marks(member_codes)})"
        )
        args.extend(member_codes)
        if since is not None:
            sql += " AND a.dated >= ?"
            args.append(since.isoformat())
        if until is not None:
            sql += " AND a.dated < ?"
            args.append(until.isoformat())
        parts.append(sql)
    return " UNION ".join(parts), args


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))
