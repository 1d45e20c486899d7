"""`Filters` as one SQL condition on PostgreSQL's articles table: the only translation.

The semantics are `retrieval.filters`' (the SQLite engine's `FilterSQL`), condition for
condition: each country set admits an article tagged with any of its codes (`members`
widens a grouping to its members while they were members, by the article's `dated`),
topics any of theirs, the date window compares the known publication date (`dated`, ''
when undated) unless `undated` lets the ingestion time count, `after_id` is an id floor.

Everything else the engine filters — vector search, lexical search, listings, the
admitted count — embeds this condition in its own query, so an admitted-id set is
never shipped to Python and back (the SQLite engine needs it in numpy for FAISS).
"""

from __future__ import annotations

from ..dates import isoformat
from ..filters import Filters, expand_members

Query = tuple[str, list[object]]


def condition(filters: Filters, alias: str = "a") -> Query:
    """A boolean SQL expression (TRUE when nothing restricts) on `articles AS alias`."""
    clauses: list[str] = []
    args: list[object] = []
    for codes in filters.country_sets():
        sql, set_args = _codes(codes, filters.members, alias)
        clauses.append(sql)
        args += set_args
    if filters.topics:
        clauses.append(
            f"{alias}.id IN (SELECT article_id FROM article_topics WHERE topic = ANY(%s))"
        )
        args.append(list(filters.topics))
    if filters.since or filters.until:
        # `dated` is '' for an undated article: any lower bound leaves it out.
        window = f"{alias}.dated >= %s"
        bounds: list[object] = [isoformat(filters.since) or "0"]
        if filters.until:
            window += f" AND {alias}.dated < %s"
            bounds.append(isoformat(filters.until))
        if filters.undated:
            late = window.replace(f"{alias}.dated", f"{alias}.added")
            window = f"(({window}) OR ({alias}.dated = '' AND {late}))"
            bounds = [*bounds, *bounds]
        clauses.append(window)
        args += bounds
    if filters.after_id is not None:
        clauses.append(f"{alias}.id > %s")
        args.append(int(filters.after_id))
    return (" AND ".join(clauses) or "TRUE"), args


def _codes(codes: tuple[str, ...], members: bool, alias: str) -> Query:
    """Tagged with any of `codes`, or (with `members`) with a member while it was one."""
    plain, windows = expand_members(codes) if members else (list(codes), {})
    parts = [f"{alias}.id IN (SELECT article_id FROM article_countries WHERE code = ANY(%s))"]
    args: list[object] = [list(plain)]
    for (since, until), member_codes in windows.items():
        sql = f"({alias}.id IN (SELECT article_id FROM article_countries WHERE code = ANY(%s))"
        args.append(list(member_codes))
        if since is not None:
            sql += f" AND {alias}.dated >= %s"
            args.append(since.isoformat())
        if until is not None:
            sql += f" AND {alias}.dated < %s"
            args.append(until.isoformat())
        parts.append(sql + ")")
    return "(" + " OR ".join(parts) + ")", args


def admitted_ids(filters: Filters) -> Query:
    """A query selecting the ids of the articles `filters` admits."""
    where, args = condition(filters)
    return f"SELECT a.id FROM articles a WHERE {where}", args
