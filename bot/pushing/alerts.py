"""本周预警 alerts: a published case or tip sent once to every targeted group at its first slot
after the alert was made, in addition to the tip."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import utcnow_iso, write_transaction


@dataclass(frozen=True)
class Alert:
    id: int
    item_kind: str          # case | tip
    item_id: str
    groups: tuple[str, ...] | None   # None: every group
    created_at: str

    def targets(self, group_id: str) -> bool:
        return self.groups is None or group_id in self.groups


def create_alert(db: Database, actor: str, kind: str, item_id: str, groups: list[str],
                 note: str = "") -> int:
    """Record an alert and its audit row together, or neither."""
    alert = {"item_kind": kind, "item_id": item_id,
             "groups": json.dumps(groups) if groups else None, "note": note[:200],
             "created_by": actor, "created_at": utcnow_iso(), "active": 1}
    with write_transaction(db):
        alert_id = db["alerts"].insert(alert).last_pk
        audit(db, actor, "alert", kind, item_id, None, {**alert, "id": alert_id})
    return alert_id


def active_alerts(db: Database) -> list[Alert]:
    return [Alert(id=r[0], item_kind=r[1], item_id=r[2],
                  groups=tuple(json.loads(r[3])) if r[3] else None, created_at=r[4])
            for r in db.execute("SELECT id, item_kind, item_id, groups, created_at FROM alerts "
                                "WHERE active = 1 ORDER BY id")]
