"""Fuzzy customer search: pg_trgm on PostgreSQL, FTS5 on SQLite, one tokenizer for both.

Chinese has no spaces, so a name or address is one long "word" to both engines and a part
of it (a two-character name, a street) would never match. `search_terms` therefore splits
runs of CJK characters into overlapping bigrams (as Lucene's CJK analyzer does) and keeps
other words as they are, lower-cased. PostgreSQL then ranks by pg_trgm word similarity over
those terms (typo-tolerant for Latin text, GIN-indexed); SQLite ranks by FTS5's bm25 over the
same terms with prefix matching (unicode61 tokenizer).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, func, literal_column, or_, text

from backend.archive.records import Customer

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_WORD = re.compile(r"\w+")


def search_terms(*texts: str | None) -> str:
    """Return the indexable terms of some texts: CJK bigrams and lower-cased words."""
    terms: list[str] = []
    for value in texts:
        if not value:
            continue
        normal = unicodedata.normalize("NFKC", value).lower()
        for word in _WORD.findall(normal):
            for part in re.split(f"({_CJK.pattern})", word):
                if not part:
                    continue
                if _CJK.fullmatch(part):
                    terms.extend(
                        [part]
                        if len(part) == 1
                        else [part[i : i + 2] for i in range(len(part) - 1)]
                    )
                else:
                    terms.append(part)
    return " ".join(dict.fromkeys(terms))


def customer_search_text(customer: Customer, premises: Iterable[Any]) -> str:
    """Return what a customer is found by: account, name, phones, addresses and lines."""
    phones = [c.get("phone") for c in customer.contacts or [] if c.get("phone")]
    # Phones by all their digits and by the national number (without the +86 prefix).
    digits = [re.sub(r"\D", "", p) for p in phones]
    digits += [d[-11:] for d in digits]
    places = [t for p in premises for t in (p.address, p.line_name)]
    return search_terms(customer.account_number, customer.name, *phones, *digits, *places)


def _fts_query(terms: str) -> str:
    """Build an FTS5 query: every term as a quoted prefix, any of them may match."""
    parts = [f'"{t.replace(chr(34), "")}"*' for t in terms.split() if t.replace('"', "")]
    return " OR ".join(parts) if parts else '""'


def ranked(dialect: str, statement: Select[Any], query: str) -> Select[Any]:
    """Filter a customers select by a free-text query and order it best first."""
    exact = (Customer.account_number == query.strip()).desc()
    terms = search_terms(query)
    if dialect == "postgresql":
        match = or_(
            Customer.account_number == query.strip(),
            bindparam("terms", terms).op("<%")(Customer.search_text),
        )
        rank = func.greatest(
            func.word_similarity(terms, Customer.search_text),
            func.similarity(Customer.name, query.strip()),
        )
        return statement.where(match).order_by(exact, rank.desc(), Customer.account_number)
    fts = _fts_query(terms)
    hits = (
        text(
            "SELECT rowid AS hit_rowid, bm25(customer_search) AS score FROM customer_search "
            "WHERE customer_search MATCH :fts"
        )
        .bindparams(fts=fts)
        .columns(literal_column("hit_rowid"), literal_column("score"))
        .subquery("hits")
    )
    return statement.join(hits, hits.c.hit_rowid == literal_column("customers.rowid")).order_by(
        exact, hits.c.score, Customer.account_number
    )
