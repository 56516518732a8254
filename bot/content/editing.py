"""Changing the content bank: the one place cases and tips are saved, published, archived and
restored, used by the admin pages and the CLI alike.

Every save is validated by the same parser as ``check-content``, keeps the previous version in
``item_versions`` (nothing is ever deleted: archive instead), is written to the audit log, and
bumps ``content_version`` when published content changed, so every server worker rebuilds its
answer engine and the scheduler sees it at its next tick.

Saves from the editor carry the version the form was opened from (``base_version``): if someone
saved a newer version meanwhile, the save is refused with both versions (``SaveResult.conflict``)
instead of silently reverting the other person's change.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import utcnow_iso, write_transaction
from ..storage.library import bump_content_version
from .model import Problems, load_taxonomy, parse_article, parse_tip

KINDS = {"case": ("cases", "cases", parse_article), "tip": ("tips", "tips", parse_tip)}
STATUSES = ("draft", "published", "archived")
KIND_NAMES = {"case": "案例", "tip": "提示"}
STATUS_NAMES = {"draft": "草稿", "published": "已发布", "archived": "已归档"}


@dataclass
class SaveResult:
    ok: bool
    item_id: str = ""
    problems: list[str] | None = None     # "path:line: message", as check-content prints
    item: object = None
    # A stale save: {"base", "current", "editor", "at", "source"} of the newer saved version.
    conflict: dict | None = None


def parse_source(kind: str, source: str, content_dir: Path, item_id_hint: str = ""):
    """(item, problems) for a source text, validated exactly like a file in content/."""
    folder, _, parser = KINDS[kind]
    problems = Problems()
    taxonomy = load_taxonomy(content_dir)
    ident = item_id_hint or _front_matter_id(source) or "unnamed"
    item = parser(source.replace("\r\n", "\n"), f"{folder}/{ident}.md", taxonomy, problems,
                  Path(f"{ident}.md"))
    return item, problems.items


def _front_matter_id(source: str) -> str:
    for line in source.splitlines()[1:40]:
        if line.startswith("id:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


def current(db: Database, kind: str, item_id: str) -> dict | None:
    table = KINDS[kind][0]
    rows = list(db[table].rows_where("id = ?", [item_id]))
    return rows[0] if rows else None


def current_version(db: Database, kind: str, item_id: str) -> int:
    """The number of the item's latest version (0: never changed since loaded from content/)."""
    return _next_version(db, kind, item_id) - 1


def _next_version(db: Database, kind: str, item_id: str) -> int:
    row = db.execute("SELECT MAX(version) FROM item_versions WHERE kind = ? AND item_id = ?",
                     [kind, item_id]).fetchone()
    return (row[0] or 0) + 1


def _add_version(db, kind, item_id, source, status, editor, note) -> int:
    version = _next_version(db, kind, item_id)
    db.execute("INSERT INTO item_versions (kind, item_id, version, source, status, editor, at, "
               "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [kind, item_id, version, source, status, editor, utcnow_iso(), note])
    return version


def _keep_original(db, kind, row) -> None:
    """The first admin edit of a file-loaded item records the file version as version 1."""
    if _next_version(db, kind, row["id"]) == 1:
        _add_version(db, kind, row["id"], row["source"], row["status"], "content/",
                     "从内容库文件（content/）载入的原版")


def save_item(db: Database, kind: str, source: str, editor: str, content_dir: Path,
              status: str | None = None, expected_id: str | None = None,
              note: str = "", action: str | None = None,
              base_version: int | None = None) -> SaveResult:
    """Create or update a case/tip from its source text. Invalid input saves nothing; with
    ``base_version``, neither does a save based on an older version than the latest."""
    item, problems = parse_source(kind, source, content_dir)
    if expected_id and item is not None and item.id != expected_id:
        problems = problems + [f"{KINDS[kind][1]}/{expected_id}.md:2: 编号（id）不能改"
                               f"（原来是“{expected_id}”）"]
    if problems or item is None:
        return SaveResult(False, problems=problems or ["内容有问题"])
    table = KINDS[kind][0]
    source = source.replace("\r\n", "\n")
    now = utcnow_iso()
    with write_transaction(db):
        before = current(db, kind, item.id)
        if before is None and expected_id is None:
            new_status = status or "draft"
            row = {"id": item.id, "title": item.title, "source": source, "status": new_status,
                   "origin": "admin", "created_at": now, "updated_at": now}
            if kind == "case":
                row["category"] = item.category
            db[table].insert(row)
            action = "create"
        elif before is None:
            return SaveResult(False, problems=[f"没有{KIND_NAMES[kind]}“{expected_id}”"])
        elif expected_id is None:
            return SaveResult(False, problems=[f"{KINDS[kind][1]}/{item.id}.md:2: 编号（id）"
                                               f"“{item.id}”已经被占用了"])
        elif base_version is not None and current_version(db, kind, item.id) != base_version:
            return _conflict(db, kind, item.id, base_version, before)
        else:
            _keep_original(db, kind, before)
            new_status = status or before["status"]
            changes = {"title": item.title, "source": source, "status": new_status,
                       "origin": "admin", "updated_at": now}
            if kind == "case":
                changes["category"] = item.category
            db[table].update(item.id, changes)
            action = action or "edit"
        _add_version(db, kind, item.id, source, new_status, editor, note)
        after = current(db, kind, item.id)
        audit(db, editor, action, kind, item.id, _summary(before), _summary(after))
        if new_status == "published" or (before and before["status"] == "published"):
            bump_content_version(db)
    return SaveResult(True, item.id, item=item)


def _conflict(db, kind: str, item_id: str, base_version: int, row: dict) -> SaveResult:
    latest = db.execute("SELECT version, editor, at FROM item_versions WHERE kind = ? AND "
                        "item_id = ? ORDER BY version DESC LIMIT 1", [kind, item_id]).fetchone()
    version, editor, at = latest or (0, "content/", row.get("updated_at") or "")
    message = (f"没有保存：你打开的是第 {base_version} 版，之后 {editor} 在 {at} 保存了第 "
               f"{version} 版。你的修改还在下面的表单里，一个字也没丢；请对照下面的差异（最新保存的"
               f"第 {version} 版 → 你的修改），确认后再点保存，就会以你的内容存为新的一版。")
    return SaveResult(False, item_id, problems=[message], conflict={
        "base": base_version, "current": version, "editor": editor, "at": at,
        "source": row["source"]})


def set_status(db: Database, kind: str, item_id: str, status: str, editor: str) -> bool:
    """draft -> published -> archived (and back); False if there is no such item."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    with write_transaction(db):
        before = current(db, kind, item_id)
        if before is None:
            return False
        if before["status"] == status:
            return True
        _keep_original(db, kind, before)
        db[KINDS[kind][0]].update(item_id, {"status": status, "origin": "admin",
                                           "updated_at": utcnow_iso()})
        _add_version(db, kind, item_id, before["source"], status, editor,
                     f"状态改为{STATUS_NAMES[status]}")
        audit(db, editor, status if status != "published" else "publish", kind, item_id,
              _summary(before), _summary(current(db, kind, item_id)))
        if "published" in (status, before["status"]):
            bump_content_version(db)
    return True


def history(db: Database, kind: str, item_id: str) -> list[dict]:
    return list(db["item_versions"].rows_where("kind = ? AND item_id = ?", [kind, item_id],
                                               order_by="version desc"))


def version_source(db: Database, kind: str, item_id: str, version: int) -> str | None:
    row = db.execute("SELECT source FROM item_versions WHERE kind = ? AND item_id = ? AND "
                     "version = ?", [kind, item_id, version]).fetchone()
    return row[0] if row else None


def restore(db: Database, kind: str, item_id: str, version: int, editor: str,
            content_dir: Path) -> SaveResult:
    """Make an old version current again (as a new version: history only grows)."""
    source = version_source(db, kind, item_id, version)
    if source is None:
        return SaveResult(False, problems=[f"{KIND_NAMES[kind]}“{item_id}”没有第 {version} 版"])
    return save_item(db, kind, source, editor, content_dir, expected_id=item_id,
                     note=f"恢复第 {version} 版", action="restore")


def unified_diff(old: str, new: str, old_label: str, new_label: str) -> list[str]:
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label,
                                     lineterm=""))


def export_content(db: Database, out_dir: Path) -> dict[str, int]:
    """Write every case and tip (admin-made too, any status) as content/-format files."""
    counts = {}
    for kind, (table, folder, _) in KINDS.items():
        target = Path(out_dir) / folder
        target.mkdir(parents=True, exist_ok=True)
        n = 0
        for row in db[table].rows_where(order_by="id"):
            (target / f"{row['id']}.md").write_text(with_status(row["source"], row["status"]),
                                                    encoding="utf-8")
            n += 1
        counts[folder] = n
    return counts


def with_status(source: str, status: str) -> str:
    """The source with its front matter ``status`` set (omitted when published)."""
    lines = source.split("\n")
    end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() == "---"), 0)
    head = [ln for ln in lines[:end] if not ln.startswith("status:")]
    if status != "published":
        at = next((i for i, ln in enumerate(head) if ln.startswith("id:")), 0)
        head.insert(at + 1, f"status: {status}")
    return "\n".join(head + lines[end:])


def _summary(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: row[k] for k in ("id", "title", "status", "origin", "source") if k in row}
