"""有用 / 没用 on answers: from the case page (a signed token in the form stands in for a session)
or a "没用" typed in WeChat right after an answer; ratings per case, flagged when many 没用."""
from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlite_utils import Database

from ..storage.db import write_transaction

USELESS_WORDS = {"没用", "没有用", "没帮助", "没有帮助", "不对", "答非所问"}
USEFUL_WORDS = {"有用", "有帮助", "谢谢有用"}
TOKEN_MAX_AGE = 7 * 24 * 3600


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="case-feedback")


def form_token(secret: str, case_id: str) -> str:
    """Put in the case page's form: proves the POST came from a page we served for this case."""
    return _serializer(secret).dumps(case_id)


def token_case(secret: str, token: str) -> str | None:
    try:
        return _serializer(secret).loads(token, max_age=TOKEN_MAX_AGE)
    except BadSignature:
        return None


def record(db: Database, channel: str, case_id: str | None, useful: bool, reason: str = "",
           user_hash: str = "", question_id: int | None = None,
           now: datetime | None = None) -> None:
    with write_transaction(db):
        db.execute("INSERT INTO feedback (at, channel, case_id, question_id, user_hash, useful, "
                   "reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [now.isoformat(timespec="seconds"), channel, case_id, question_id, user_hash,
                    int(useful), reason.strip()[:500]])


def last_answer(db: Database, user_hash: str, now: datetime, minutes: int):
    """(question id, case id) of the resident's last answered question within ``minutes``."""
    since = (now - timedelta(minutes=minutes)).isoformat(timespec="seconds")
    return db.execute("SELECT id, case_id FROM questions WHERE user_hash = ? AND asked_at >= ? "
                      "AND case_id IS NOT NULL ORDER BY asked_at DESC, id DESC LIMIT 1",
                      [user_hash, since]).fetchone()


def ratings(db: Database, flag_unhelpful: int) -> list[dict]:
    """Per case: 有用, 没用, the latest reasons, and whether it needs a review."""
    out = []
    for case_id, useful, useless, title in db.execute(
            "SELECT f.case_id, SUM(f.useful), SUM(1 - f.useful), c.title FROM feedback f "
            "LEFT JOIN cases c ON c.id = f.case_id WHERE f.case_id IS NOT NULL "
            "GROUP BY f.case_id ORDER BY 3 DESC, 2 ASC"):
        reasons = [r[0] for r in db.execute(
            "SELECT reason FROM feedback WHERE case_id = ? AND useful = 0 AND reason != '' "
            "ORDER BY at DESC LIMIT 5", [case_id])]
        out.append({"case_id": case_id, "title": title or case_id, "useful": useful,
                    "useless": useless, "reasons": reasons,
                    "flagged": useless >= flag_unhelpful and useless > useful})
    return out
