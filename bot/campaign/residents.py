"""Residents tied to villages: a follower who arrives through a village's parametric QR code
(EventKey ``qrscene_<village id>`` on subscribe, the bare id on SCAN) is bound to that village
by the hashed openid only, so their questions count toward the village's figures."""
from __future__ import annotations

from ..storage.db import utcnow_iso
from .villages import ID_RE

SCENE_PREFIX = "qrscene_"


def village_scene(event_key: str) -> str:
    """The village id a QR event carries ('' when it carries none)."""
    key = (event_key or "").strip()
    if key.startswith(SCENE_PREFIX):
        key = key[len(SCENE_PREFIX):]
    return key if ID_RE.match(key) else ""


def bind_follower(db, user_hash: str, village_id: str) -> bool:
    """Bind a hashed follower to a known village (the latest code scanned wins)."""
    if not user_hash or not village_id:
        return False
    if not db.execute("SELECT 1 FROM villages WHERE id = ?", [village_id]).fetchone():
        return False
    db.execute("INSERT INTO village_followers (user_hash, village_id, bound_at) VALUES (?, ?, ?) "
               "ON CONFLICT(user_hash) DO UPDATE SET village_id = excluded.village_id, "
               "bound_at = excluded.bound_at", [user_hash, village_id, utcnow_iso()])
    return True


def followers(db, village_id: str) -> int:
    return db.execute("SELECT COUNT(*) FROM village_followers WHERE village_id = ?",
                      [village_id]).fetchone()[0]
