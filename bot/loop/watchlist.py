"""The admin-kept list of known scam and official links and numbers, and the check of a message's
indicators against it and against residents' 举报 reports (counted by distinct residents)."""
from __future__ import annotations

import logging

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import utcnow_iso, write_transaction
from .indicators import KINDS, OFFICIAL_DOMAINS, Indicator, Known, describe, extract, host_of

log = logging.getLogger(__name__)

VERDICTS = {"scam": "诈骗", "official": "官方"}


def normalise(kind: str, value: str) -> str:
    """The form an admin's entry is stored and matched in (as ``extract`` normalises)."""
    value = value.strip()
    if kind == "link":
        return host_of(value)
    if kind in ("phone", "card", "qq"):
        return "".join(ch for ch in value if ch.isdigit())
    return value.lower()


def add_entry(db: Database, kind: str, value: str, verdict: str, note: str,
              actor: str) -> str | None:
    """Add or change one entry (audited); a problem message, or None when saved."""
    if kind not in KINDS:
        return "类型不对。"
    if verdict not in VERDICTS:
        return "请选择“诈骗”或“官方”。"
    value = normalise(kind, value)
    if not value:
        return "请填写号码、网址或名称。"
    with write_transaction(db):
        before = db.execute("SELECT verdict, note, active FROM watchlist WHERE kind = ? AND "
                            "value = ?", [kind, value]).fetchone()
        db.execute("INSERT INTO watchlist (kind, value, verdict, note, added_by, added_at, active)"
                   " VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT(kind, value) DO UPDATE SET "
                   "verdict = excluded.verdict, note = excluded.note, active = 1, "
                   "added_by = excluded.added_by, added_at = excluded.added_at",
                   [kind, value, verdict, note.strip()[:200], actor, utcnow_iso()])
        audit(db, actor, "watchlist.save", "watchlist", f"{kind}:{value}",
              dict(zip(("verdict", "note", "active"), before)) if before else None,
              {"verdict": verdict, "note": note.strip()[:200]})
    return None


def remove_entry(db: Database, entry_id: int, actor: str) -> bool:
    with write_transaction(db):
        row = db.execute("SELECT kind, value, verdict FROM watchlist WHERE id = ? AND active = 1",
                         [entry_id]).fetchone()
        if row is None:
            return False
        db.execute("UPDATE watchlist SET active = 0 WHERE id = ?", [entry_id])
        audit(db, actor, "watchlist.remove", "watchlist", f"{row[0]}:{row[1]}",
              {"verdict": row[2]}, None)
    return True


def entries(db: Database) -> list[dict]:
    cols = ("id", "kind", "value", "verdict", "note", "added_by", "added_at")
    return [dict(zip(cols, r)) for r in db.execute(
        f"SELECT {', '.join(cols)} FROM watchlist WHERE active = 1 ORDER BY kind, value")]


def official_domains(db: Database) -> dict[str, str]:
    domains = dict(OFFICIAL_DOMAINS)
    for value, note in db.execute("SELECT value, note FROM watchlist WHERE active = 1 AND "
                                  "kind = 'link' AND verdict = 'official'"):
        domains[value] = note or value
    return domains


def report_counts(db: Database, keys: list[str]) -> dict[str, int]:
    """Distinct residents who reported each key: one resident cannot inflate a count."""
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    return dict(db.execute(f"SELECT key, COUNT(DISTINCT user_hash) FROM lead_items "
                           f"WHERE key IN ({marks}) GROUP BY key", keys).fetchall())


def lookup(db: Database, found: list[Indicator]) -> list[tuple[Indicator, Known]]:
    counts = report_counts(db, [i.key for i in found])
    out = []
    for ind in found:
        row = db.execute("SELECT verdict, note FROM watchlist WHERE active = 1 AND kind = ? AND "
                         "value = ?", [ind.kind, ind.value]).fetchone()
        out.append((ind, Known(row[0] if row else "", row[1] or "" if row else "",
                               counts.get(ind.key, 0))))
    return out


def check_text(db: Database, text: str) -> str:
    """The paragraph about the links and numbers in ``text`` ('' when it has none)."""
    found = extract(text)
    if not found:
        return ""
    log.debug("checked %d indicators: %s", len(found), ",".join(i.key for i in found))
    return describe(lookup(db, found), official_domains(db))
