"""The question log: what residents asked and what the bot answered, for admins."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone


def hash_user(user_id: str, salt: str) -> str:
    """A stable pseudonym: admins can count repeat askers without seeing an OpenID."""
    if not user_id:
        return ""
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:16]


def question_row(text: str, answer: dict, channel: str, user_hash: str = "",
                 now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    return {
        "asked_at": now.isoformat(timespec="seconds"),
        "channel": channel,
        "user_hash": user_hash,
        "text": text[:2000],
        "category": answer["category"],
        "urgent": int(bool(answer["urgent"])),
        "score": float(answer["score"]),
        "case_id": (answer.get("case_ids") or [None])[0],
    }


_COLUMNS = ("asked_at", "channel", "user_hash", "text", "category", "urgent", "score", "case_id")
_INSERT = f"INSERT INTO questions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def insert_questions(db, rows: list[dict]) -> None:
    """Plain INSERTs: sqlite-utils' insert_all inspects the schema on every call (hot path)."""
    for row in rows:
        db.execute(_INSERT, [row[c] for c in _COLUMNS])
