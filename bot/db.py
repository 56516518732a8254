"""SQLite store: connection settings, schema migrations, and loading content/ into it.

sqlite-utils ``Migrations`` runs each step once, in a transaction with its record, so ``init-db``
is safe to run again. The store is shared by every server worker and the scheduler: WAL mode lets
readers and one writer work side by side.
"""
from __future__ import annotations

import contextlib
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .content import ContentBank, load_content

log = logging.getLogger(__name__)

migrations = Migrations("bot")


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def connect(path: Path | str, busy_timeout_ms: int = 10000) -> Database:
    """Open the database with settings that suit several processes writing small rows.

    ``busy_timeout_ms=0`` is for the webhook's hot path, which retries a busy write itself in
    fractions of a millisecond instead of SQLite's busy handler, whose first sleep is 1 ms."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False,
                           isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL every ~16 MB instead of every 4 MB: fewer, larger checkpoints cut the
    # cost of the webhook's one write per push by about a fifth (bench/webhook_bench.py).
    conn.execute("PRAGMA wal_autocheckpoint=4000")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return Database(conn)


@contextlib.contextmanager
def write_transaction(db: Database):
    """BEGIN IMMEDIATE: take the write lock up front, so concurrent writers wait (busy_timeout)
    instead of failing when a read transaction tries to upgrade."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.execute("COMMIT")


@migrations()
def m001_content_and_questions(db: Database) -> None:
    # Articles keep their whole Markdown source: the same parser validates files and admin
    # edits, and export-content writes the source back unchanged.
    db["cases"].create({
        "id": str, "category": str, "title": str, "source": str,
        "status": str,        # draft | published | archived
        "origin": str,        # content (from content/) | admin (made or edited by an admin)
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"category", "title", "source", "status", "origin"})
    db["cases"].create_index(["category"])
    db["tips"].create({
        "id": str, "title": str, "source": str, "status": str, "origin": str,
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"title", "source", "status", "origin"})
    db["questions"].create({
        "id": int, "asked_at": str, "channel": str, "user_hash": str, "text": str,
        "category": str, "urgent": int, "score": float, "case_id": str,
    }, pk="id")
    db["questions"].create_index(["asked_at"])
    db["questions"].create_index(["category"])
    # One row per WeChat delivery key: a redelivery finds the row and gets the same reply.
    db["wechat_deliveries"].create({
        "key": str, "received_at": float, "reply": str,
    }, pk="key")
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["meta"].insert({"key": "content_version", "value": "0"})


@migrations()
def m002_delivery_age_index(db: Database) -> None:
    # Old deliveries are pruned by age (their replies hold OpenIDs).
    db["wechat_deliveries"].create_index(["received_at"])


@migrations()
def m003_pushes(db: Database) -> None:
    # The push log is the truth for the scheduler: a row is written *before* a send, so a
    # crash can never lead to a second send of the same (group, slot, message).
    db["pushes"].create({
        "id": int, "group_id": str, "slot": str,  # slot: ISO time with offset
        "message_key": str,   # 'tip' for the slot's tip, 'alert:<id>', 'manual:<time>'
        "item_kind": str, "item_id": str, "channel": str,
        "status": str,        # sending | sent | failed | skipped | missed | unknown
        "errcode": int, "errmsg": str, "attempts": int, "text": str,
        "created_at": str, "updated_at": str, "sent_at": str, "next_attempt_at": str,
    }, pk="id", not_null={"group_id", "slot", "message_key", "status", "attempts"},
        defaults={"attempts": 0})
    db["pushes"].create_index(["group_id", "slot", "message_key"], unique=True)
    db["pushes"].create_index(["status", "next_attempt_at"])
    db["pushes"].create_index(["group_id", "item_id"])
    db["alerts"].create({
        "id": int, "item_kind": str, "item_id": str, "groups": str,  # JSON list, or null = all
        "note": str, "created_by": str, "created_at": str, "active": int,
    }, pk="id", not_null={"item_kind", "item_id", "created_at"}, defaults={"active": 1})
    db["outbox"].create({
        "id": int, "push_id": int, "group_id": str, "msgtype": str, "payload": str,
        "created_at": str,
    }, pk="id")
    db["group_health"].create({
        "group_id": str, "healthy": int, "reason": str, "errcode": int, "key_fingerprint": str,
        "updated_at": str,
    }, pk="group_id")
    db["meta"].insert({"key": "scheduler_last_tick", "value": ""}, replace=True)


@migrations()
def m004_delivery_records_its_question(db: Database) -> None:
    # A first delivery is recorded with ONE statement: the delivery row carries its question,
    # and this trigger copies it into the question log in the same statement. An ignored
    # (duplicate) insert fires nothing, so a redelivery can never log twice.
    for column in ("q_asked_at", "q_channel", "q_user_hash", "q_text", "q_category", "q_case_id"):
        db["wechat_deliveries"].add_column(column, str)
    db["wechat_deliveries"].add_column("q_urgent", int)
    db["wechat_deliveries"].add_column("q_score", float)
    db.execute("""
        CREATE TRIGGER delivery_logs_question AFTER INSERT ON wechat_deliveries
        WHEN NEW.q_text IS NOT NULL BEGIN
            INSERT INTO questions (asked_at, channel, user_hash, text, category, urgent, score,
                                   case_id)
            VALUES (NEW.q_asked_at, NEW.q_channel, NEW.q_user_hash, NEW.q_text, NEW.q_category,
                    NEW.q_urgent, NEW.q_score, NEW.q_case_id);
        END""")


@migrations()
def m005_admin(db: Database) -> None:
    db["admins"].create({
        "id": int, "name": str, "password_hash": str, "role": str,  # admin | editor
        "created_at": str, "disabled": int,
    }, pk="id", not_null={"name", "password_hash", "role"}, defaults={"disabled": 0})
    db["admins"].create_index(["name"], unique=True)
    db["login_failures"].create({"id": int, "at": float, "address": str, "name": str}, pk="id")
    db["login_failures"].create_index(["at"])
    # Every admin action: who, what, when, and the row before and after (JSON).
    db["audit_log"].create({
        "id": int, "at": str, "actor": str, "action": str, "target_kind": str,
        "target_id": str, "before": str, "after": str,
    }, pk="id")
    db["audit_log"].create_index(["at"])
    # Every saved version of a case or tip; nothing is ever deleted.
    db["item_versions"].create({
        "id": int, "kind": str, "item_id": str, "version": int, "source": str, "status": str,
        "editor": str, "at": str, "note": str,
    }, pk="id", not_null={"kind", "item_id", "version", "source"})
    db["item_versions"].create_index(["kind", "item_id", "version"], unique=True)


def migrate(db: Database) -> None:
    migrations.apply(db)


def content_version(db: Database) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'content_version'").fetchone()
    return int(row[0]) if row else 0


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
