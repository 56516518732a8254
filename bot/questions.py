"""The question log: what residents asked and what the bot answered, for admins."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sqlite_utils import Database


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


def record_questions(db: Database, rows: list[dict]) -> None:
    if rows:
        db["questions"].insert_all(rows)
