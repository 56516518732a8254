"""The content bank in the store: loading content/ into it, the shared ``content_version``,
and the published cases and tips parsed once into a ``Library`` for the engine and the scheduler.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from ..content.model import (ContentBank, Library, Problems, load_content, load_taxonomy,
                             parse_article, parse_tip)
from .db import utcnow_iso, write_transaction
from .schema import migrate

log = logging.getLogger(__name__)


def content_version(db: Database) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'content_version'").fetchone()
    return int(row[0]) if row else 0


def load_library(db: Database, content_dir: Path) -> Library:
    """The published cases and tips, parsed once. Rows were validated when saved; one that no
    longer parses (an older parser's row) is logged and skipped, never fatal."""
    taxonomy = load_taxonomy(content_dir)
    problems = Problems()
    articles = {}
    for row in db.execute("SELECT id, source FROM cases WHERE status = 'published' ORDER BY id"):
        article = parse_article(row[1], f"cases/{row[0]}", taxonomy, problems, Path(f"{row[0]}.md"))
        if article:
            articles[article.id] = article
    tips = [t for t in (parse_tip(r[1], f"tips/{r[0]}", taxonomy, problems, Path(f"{r[0]}.md"))
                        for r in db.execute("SELECT id, source FROM tips "
                                            "WHERE status = 'published' ORDER BY id")) if t]
    for p in problems.items:
        log.error("skipping invalid published item: %s", p)
    return Library(tips=tips, articles=articles)


class PublishedContent:
    """What the answer engine reads before every question: the content version (one indexed
    row) and, when it moved, the published library."""

    def __init__(self, db_factory, content_dir: Path):
        self._db = db_factory
        self.content_dir = Path(content_dir)

    def version(self) -> int:
        try:
            return content_version(self._db())
        except sqlite3.OperationalError:   # a database without tables yet: content/ it is
            return -1

    def library(self) -> Library:
        db = self._db()
        if not db["cases"].exists():
            bank = load_content(self.content_dir)
            return Library(tips=bank.tips, articles={a.id: a for a in bank.articles})
        return load_library(db, self.content_dir)


def bump_content_version(db: Database) -> None:
    """Tell every worker (and the scheduler) that published content changed."""
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'")


def _sync_table(db: Database, table: str, items, now: str) -> dict[str, int]:
    """Upsert file items into a table without touching rows that admins made or edited."""
    counts = {"added": 0, "updated": 0, "kept_admin": 0, "unchanged": 0}
    existing = {r["id"]: r for r in db[table].rows_where(select="id, source, origin")}
    for item in items:
        source = Path(item.path_abs).read_text(encoding="utf-8")
        row = existing.get(item.id)
        if row is None:
            db[table].insert({"id": item.id, "title": item.title, "source": source,
                              "status": item.status, "origin": "content", "created_at": now,
                              "updated_at": now, **item.extra})
            counts["added"] += 1
        elif row["origin"] != "content":
            counts["kept_admin"] += 1
        elif row["source"] != source:
            db[table].update(item.id, {"title": item.title, "source": source,
                                       "status": item.status, "updated_at": now, **item.extra})
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts


class _FileItem:
    def __init__(self, obj, content_dir: Path, extra: dict):
        self.id, self.title, self.status = obj.id, obj.title, obj.status
        self.path_abs = content_dir.parent / obj.path if not Path(obj.path).is_absolute() \
            else Path(obj.path)
        self.extra = extra


def init_db(db: Database, content_dir: Path, bank: ContentBank | None = None) -> dict:
    """Migrate, then load content/ into the database. Never deletes or overwrites admin rows."""
    migrate(db)
    content_dir = Path(content_dir)
    bank = bank or load_content(content_dir)
    now = utcnow_iso()
    with write_transaction(db):
        cases = _sync_table(db, "cases", [
            _FileItem(a, content_dir, {"category": a.category}) for a in bank.articles], now)
        tips = _sync_table(db, "tips", [_FileItem(t, content_dir, {}) for t in bank.tips], now)
        bump_content_version(db)
    log.info("init-db: cases %s, tips %s", cases, tips)
    return {"cases": cases, "tips": tips}


def ensure_database(db: Database, content_dir: Path) -> None:
    """Migrate; on a brand-new database also load content/, so every entry point works."""
    migrate(db)
    if not db["cases"].count:
        init_db(db, content_dir)
