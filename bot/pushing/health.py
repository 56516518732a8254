"""Group health: a group whose robot WeCom refused for good (a bad key, removed from the chat)
is skipped until its key changes or an admin marks it healthy again. One rule for the scheduler
and the admin pages."""
from __future__ import annotations

import hashlib
import logging

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import utcnow_iso, write_transaction

log = logging.getLogger(__name__)


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12] if key else ""


def is_healthy(group, health_row: dict | None) -> bool:
    """Unhealthy while its configuration has a problem (a missing robot key), or while marked
    so with the same robot key: a changed key (config fixed) or an admin's reset makes it
    healthy again."""
    if getattr(group, "problem", ""):
        return False
    return (health_row is None or bool(health_row["healthy"])
            or health_row["key_fingerprint"] != key_fingerprint(group.robot_key))


def problem_of(group, health_row: dict | None) -> str:
    """Why the group is skipped, in words for the admin pages, /healthz and the log; '' if not."""
    if getattr(group, "problem", ""):
        return group.problem
    if is_healthy(group, health_row):
        return ""
    return (f"企业微信拒绝了这个群的机器人（errcode {health_row['errcode']}："
            f"{health_row['reason'] or ''}），换了 key 或在推送页恢复后再试")


def group_problems(db: Database, groups) -> list[dict]:
    """Every configured group that is skipped, with the reason."""
    rows = health_rows(db)
    return [{"group": g.id, "problem": why} for g in groups
            if (why := problem_of(g, rows.get(g.id)))]


def health_rows(db: Database) -> dict[str, dict]:
    return {r["group_id"]: r for r in db["group_health"].rows}


def health_row(db: Database, group_id: str) -> dict | None:
    return next(db["group_health"].rows_where("group_id = ?", [group_id]), None)


def mark_unhealthy(db: Database, group, errcode, errmsg: str) -> None:
    """The scheduler's verdict after a permanent WeCom error (no actor: not audited)."""
    log.error("group %s marked unhealthy: errcode %s %s", group.id, errcode, errmsg)
    db["group_health"].upsert({
        "group_id": group.id, "healthy": 0, "reason": errmsg, "errcode": errcode,
        "key_fingerprint": key_fingerprint(group.robot_key), "updated_at": utcnow_iso()},
        pk="group_id")


def mark_healthy(db: Database, actor: str, group_id: str) -> bool:
    """An admin's reset after fixing the group; audited in the same transaction. False if the
    group was not marked unhealthy."""
    with write_transaction(db):
        before = health_row(db, group_id)
        if before is None or before["healthy"]:
            return False
        db["group_health"].update(group_id, {"healthy": 1, "updated_at": utcnow_iso()})
        audit(db, actor, "mark_healthy", "group", group_id, before, {**before, "healthy": 1})
    return True
