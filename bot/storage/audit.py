"""The audit log: who did what to which item, with the row before and after. Every admin action
writes its row in the same transaction as the change, so neither lands without the other."""
from __future__ import annotations

import json

from sqlite_utils import Database

from .db import utcnow_iso


def audit(db: Database, actor: str, action: str, kind: str, item_id: str,
          before=None, after=None) -> None:
    """One audit row: who did what to which item, with the row before and after."""
    db.execute("INSERT INTO audit_log (at, actor, action, target_kind, target_id, before, after) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               [utcnow_iso(), actor, action, kind, item_id,
                json.dumps(before, ensure_ascii=False) if before is not None else None,
                json.dumps(after, ensure_ascii=False) if after is not None else None])
