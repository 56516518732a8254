"""The question log: what residents asked and what the bot answered, for admins. Residents
appear only as a salted hash of their OpenID."""
from __future__ import annotations

import hashlib

# Where a question came from. Only residents' channels count in the statistics: the try-it
# page, anonymous API calls and admins' previews are staff and visitors testing the bot.
CHANNEL_NAMES = {"wechat": "公众号", "miniprogram": "小程序", "web": "试用页", "api": "接口调用",
                 "admin": "后台预览"}
RESIDENT_CHANNELS = ("wechat", "miniprogram")


def resident_sql(column: str = "channel") -> str:
    """A WHERE fragment selecting residents' questions (constants only: no parameters)."""
    return f"{column} IN ({', '.join(repr(c) for c in RESIDENT_CHANNELS)})"


def hash_user(user_id: str, salt: str) -> str:
    """A stable pseudonym: admins can count repeat askers without seeing an OpenID."""
    if not user_id:
        return ""
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:16]


_COLUMNS = ("asked_at", "channel", "user_hash", "text", "category", "urgent", "score", "case_id")
_INSERT = f"INSERT INTO questions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def insert_questions(db, rows: list[dict]) -> None:
    """Plain INSERTs: sqlite-utils' insert_all inspects the schema on every call (hot path)."""
    for row in rows:
        db.execute(_INSERT, [row[c] for c in _COLUMNS])
