"""Backups with SQLite's online backup API, and a restore that checks before it writes.

A plain ``cp`` of the live database is not a backup: in WAL mode the latest commits live in
``bot.db-wal`` until a checkpoint, so a copy of ``bot.db`` alone can lack hours of rows (it once
held 0 admins and 0 questions against 2 and 154). ``backup`` copies every page in one step under
a read transaction: a consistent snapshot, taken while the server and scheduler keep writing.
The copy is self-contained (rollback journal, no -wal file) and checked before it gets its name.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from datetime import datetime
from pathlib import Path

from .schema import migrations

REQUIRED_TABLES = ("cases", "tips", "questions", "meta", "pushes", "admins")
BACKUP_GLOB = "bot-*.db"


class BackupError(Exception):
    """A backup or restore that was refused; the message says why."""


def backup_name(now: datetime) -> str:
    return f"bot-{now:%Y%m%d-%H%M%S}.db"


def backup(source: Path, dest: Path, now: datetime | None = None,
           directory: bool = False) -> Path:
    """Copy the live database to ``dest``: a file, or a directory (an existing one, one ending
    in '/', or any with ``directory``) that gets bot-<time>.db."""
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise BackupError(f"{source}: no database here")
    if directory or dest.is_dir() or str(dest).endswith(os.sep):
        dest = dest / backup_name(now or datetime.now())
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(source, timeout=30)) as src, \
            contextlib.closing(sqlite3.connect(part)) as out:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(out)   # pages=-1: one step, so one snapshot, whatever writers do meanwhile
        out.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
        problems = _integrity_problems(out)
    if problems:
        part.unlink(missing_ok=True)
        raise BackupError(f"{dest}: the copy failed its integrity check: {problems[0]}")
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    return dest


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` bot-<time>.db files in ``directory``."""
    files = sorted(Path(directory).glob(BACKUP_GLOB))
    doomed = files[:-keep] if keep > 0 else []
    for f in doomed:
        f.unlink()
    return doomed


def _integrity_problems(conn: sqlite3.Connection) -> list[str]:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def check_backup(path: Path) -> dict:
    """Refuse anything but an intact database of this application that this version can run:
    integrity check, our tables, and no migration this version does not know."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    uri = f"file:{path.resolve()}?mode=ro&immutable=1"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            problems = _integrity_problems(conn)
            if problems:
                raise BackupError(f"{path}: integrity check failed: {problems[0]}")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in (migrations.migrations_table, *REQUIRED_TABLES)
                       if t not in tables]
            if missing:
                raise BackupError(f"{path}: not a 反诈助手 database (no table {missing[0]})")
            applied = [r[0] for r in conn.execute(
                f"SELECT name FROM {migrations.migrations_table} WHERE migration_set = ?",
                [migrations.name])]
            counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                      for t in ("cases", "questions", "admins", "pushes")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    known = known_migrations()
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise BackupError(f"{path}: made by a newer version (migration {unknown[0]} is unknown "
                          "here); upgrade the code first")
    return {"migrations": len(applied), "pending": len(known) - len(applied), **counts}


def known_migrations() -> set[str]:
    """The names of every migration this version has (all are pending on an empty database)."""
    from sqlite_utils import Database

    return {m.name for m in migrations.pending(Database(memory=True))}


def scheduler_running(lock_path: Path) -> bool:
    """True while a scheduler holds its lock file."""
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def restore(source: Path, live: Path, now: datetime | None = None) -> dict:
    """Replace the live database's contents with a checked backup. The live database is first
    backed up next to itself (bot.before-restore-<time>.db); then the pages are copied in with
    the backup API (so a process that still has the file open sees a consistent database), the
    migrations this version adds are applied, and the content version moves past both so every
    worker reloads its answer engine."""
    from .db import connect
    from .schema import migrate

    source, live = Path(source), Path(live)
    info = check_backup(source)
    safety = None
    previous_version = 0
    if live.exists():
        stamp = f"{now or datetime.now():%Y%m%d-%H%M%S}"
        safety = backup(live, live.with_name(f"{live.stem}.before-restore-{stamp}.db"))
        with contextlib.closing(sqlite3.connect(live)) as conn:
            with contextlib.suppress(sqlite3.Error):
                previous_version = int(conn.execute(
                    "SELECT value FROM meta WHERE key = 'content_version'").fetchone()[0])
    live.parent.mkdir(parents=True, exist_ok=True)
    uri = f"file:{source.resolve()}?mode=ro&immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as src, \
            contextlib.closing(sqlite3.connect(live, timeout=30)) as out:
        src.backup(out)
    db = connect(live)
    try:
        migrate(db)
        db.execute("UPDATE meta SET value = MAX(CAST(value AS INTEGER), ?) + 1 "
                   "WHERE key = 'content_version'", [previous_version])
        problems = _integrity_problems(db.conn)
    finally:
        db.conn.close()
    if problems:
        raise BackupError(f"{live}: integrity check failed after the restore: {problems[0]}; "
                          f"the previous database is in {safety}")
    return {**info, "safety_copy": str(safety) if safety else None}
