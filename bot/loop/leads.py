"""举报 leads: the short guided conversation that collects one, and the leads themselves.

One question at a time (what happened; the number / link / account / app; when; optional
screenshots, read by OCR in the screenshot worker pool, their text and links joining the lead);
"取消" ends it at any step and saves nothing; a conversation left half-way expires
and is kept as an incomplete lead, so nothing a resident said is lost. Links and numbers are
grouped by their key and counted by distinct residents: one resident cannot inflate a count.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import write_transaction
from .indicators import extract

log = logging.getLogger(__name__)

START_WORDS = {"举报", "举报线索", "我要举报", "我想举报", "举报骗子"}
CANCEL_WORDS = {"取消", "算了", "不举报了", "退出"}
NONE_WORDS = {"没有", "无", "没", "不知道", "不清楚", "没有了"}
DONE_WORDS = {"好了", "发完了", "完成", "没有了", "没有", "结束", "好"}
STATUSES = {"new": "新线索", "checked": "已核实", "passed": "已移交公安",
            "not_actionable": "无法处理"}

CHANNELS = ("官方举报渠道（本号不能代替它们）：\n"
            "· 国家反诈中心APP →“我要举报”\n"
            "· 12321 网络不良与垃圾信息举报（电话、短信、网址）\n"
            "· 正在被骗或有危险，立即拨打110")
ASK_WHAT = ("好的，我们来记录您要举报的诈骗线索，一次问一个问题，随时回复“取消”可以退出。\n\n"
            "第1步（共4步）：发生了什么？简单说说对方怎么说、让您做什么。")
ASK_DETAIL = ("第2步：对方的电话号码、网址链接、微信号/QQ号、银行卡号或让您下载的APP名字是什么？"
              "直接发过来；确实没有就回复“没有”。")
ASK_DETAIL_AGAIN = ("没看出号码、链接或账号。请把对方的号码、网址或账号原样发过来；"
                    "确实没有就回复“没有”。")
ASK_WHEN = "第3步：大概什么时候发生的？比如“今天上午”“11月20日”。"
ASK_SHOTS = ("第4步：有截图的话现在发给我（可以发几张），发完回复“好了”；没有截图就回复“没有”。")
CANCELLED = "已取消举报，什么都没有保存。需要时再回复“举报”。"
EXPIRED = ("（您上次的举报没有填完，已经过期，已填的内容我们先收下了。需要补充的话请重新回复“举报”。）")


# A conversation the scheduler stored leaves this marker (user hash and time only), so the
# resident's next message says what became of it; unseen markers are dropped after this long.
EXPIRED_STEP = "expired"
EXPIRED_NOTICE_DAYS = 30


def _now_iso(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


class LeadDesk:
    """The 举报 conversation over one database; time is a parameter."""

    def __init__(self, db: Database, session_minutes: int, max_leads_per_day: int):
        self.db = db
        self.session_minutes = session_minutes
        self.max_leads_per_day = max_leads_per_day
        self.expired_notice = False   # set when active() found and closed an expired one
        self.took_screenshot = False  # set when screenshot() counted one

    # -- sessions ---------------------------------------------------------------------------
    def _session(self, user_hash: str) -> tuple[str, dict, str] | None:
        row = self.db.execute("SELECT step, data, updated_at FROM lead_sessions WHERE "
                              "user_hash = ?", [user_hash]).fetchone()
        return (row[0], json.loads(row[1]), row[2]) if row else None

    def _save(self, user_hash: str, step: str, data: dict, now: datetime) -> None:
        with write_transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO lead_sessions (user_hash, step, data, "
                            "updated_at) VALUES (?, ?, ?, ?)",
                            [user_hash, step, json.dumps(data, ensure_ascii=False),
                             _now_iso(now)])

    def active(self, user_hash: str, now: datetime) -> tuple[str, dict] | None:
        """The conversation in progress, or None; an expired one is saved as an incomplete
        lead and removed (``expired_notice`` tells the caller to say so once)."""
        session = self._session(user_hash)
        if session is None:
            return None
        step, data, updated = session
        if step == EXPIRED_STEP:   # the scheduler stored it: say so once, then forget it
            with write_transaction(self.db):
                self.db.execute("DELETE FROM lead_sessions WHERE user_hash = ? AND step = ?",
                                [user_hash, EXPIRED_STEP])
            self.expired_notice = True
            return None
        if datetime.fromisoformat(updated) + timedelta(minutes=self.session_minutes) >= now:
            return step, data
        self._finish(user_hash, data, now, complete=False)
        self.expired_notice = True
        return None

    def expire_abandoned(self, now: datetime) -> int:
        """Store every conversation idle past its time as an incomplete lead (run by the
        scheduler), so a 举报 left half-way reaches staff even if the resident never writes
        again. Returns how many were closed."""
        cutoff = _now_iso(now - timedelta(minutes=self.session_minutes))
        idle = self.db.execute("SELECT user_hash, data FROM lead_sessions WHERE updated_at < ? "
                               "AND step != ?", [cutoff, EXPIRED_STEP]).fetchall()
        for user_hash, data in idle:
            lead_id, _, _ = self._finish(user_hash, json.loads(data), now, complete=False)
            if lead_id is not None:
                # Kept so that the resident's next message is told what became of it.
                self._save(user_hash, EXPIRED_STEP, {}, now)
        forget = _now_iso(now - timedelta(days=EXPIRED_NOTICE_DAYS))
        with write_transaction(self.db):
            self.db.execute("DELETE FROM lead_sessions WHERE step = ? AND updated_at < ?",
                            [EXPIRED_STEP, forget])
        return len(idle)

    def start(self, user_hash: str, now: datetime) -> str:
        today = self.db.execute("SELECT COUNT(*) FROM leads WHERE user_hash = ? AND "
                                "created_at >= ?", [user_hash,
                                                    _now_iso(now - timedelta(days=1))]).fetchone()[0]
        if today >= self.max_leads_per_day:
            return ("您今天已经提交了好几条线索，我们都收到了，民警会逐条核实。"
                    "更多线索请直接用国家反诈中心APP举报，或拨打110。\n\n" + CHANNELS)
        self._save(user_hash, "what", {}, now)
        return ASK_WHAT

    def cancel(self, user_hash: str) -> None:
        with write_transaction(self.db):
            self.db.execute("DELETE FROM lead_sessions WHERE user_hash = ?", [user_hash])

    # -- one step -----------------------------------------------------------------------------
    def answer(self, user_hash: str, text: str, now: datetime) -> str | None:
        """The next question or the closing reply for a text within a conversation; None when
        there is no conversation."""
        state = self.active(user_hash, now)
        if state is None:
            return None
        step, data = state
        text = text.strip()
        if text in CANCEL_WORDS:
            self.cancel(user_hash)
            return CANCELLED
        if step == "what":
            data["what"] = text[:1000]
            self._save(user_hash, "detail", data, now)
            return ASK_DETAIL
        if step == "detail":
            found = extract(text)
            if text not in NONE_WORDS:
                data["detail"] = "\n".join(filter(None, [data.get("detail", ""), text[:500]]))
            if not found and text not in NONE_WORDS and not data.get("asked_again"):
                data["asked_again"] = True
                self._save(user_hash, "detail", data, now)
                return ASK_DETAIL_AGAIN
            self._save(user_hash, "when", data, now)
            return ASK_WHEN
        if step == "when":
            data["happened"] = text[:100]
            self._save(user_hash, "shots", data, now)
            return ASK_SHOTS
        if step == "shots":
            return self._close(user_hash, data, now)
        return None

    def screenshot(self, user_hash: str, now: datetime, delivery_key: str = "") -> str | None:
        """An image within a conversation: counted at the screenshot step, and its delivery key
        kept when it is to be read (what it says joins the lead; the picture is never kept);
        at another step the resident is told what is asked now. ``took_screenshot`` tells the
        caller it was counted."""
        state = self.active(user_hash, now)
        if state is None:
            return None
        step, data = state
        if step != "shots":
            return "请先用文字回答上面的问题，截图在最后一步再发。回复“取消”可以退出举报。"
        with write_transaction(self.db):   # an OCR worker may have added text meanwhile
            data = self._session(user_hash)[1]
            data["screenshots"] = data.get("screenshots", 0) + 1
            if delivery_key:
                data.setdefault("shots", []).append(delivery_key)
            self._save(user_hash, "shots", data, now)
        self.took_screenshot = True
        return f"收到第{data['screenshots']}张截图。还有就继续发，发完回复“好了”。"

    def _close(self, user_hash: str, data: dict, now: datetime) -> str:
        lead_id, items, repeats = self._finish(user_hash, data, now, complete=True)
        lines = [f"谢谢！线索已记录（编号 {lead_id}），社区民警会核实。"]
        if not items:
            lines.append("这条线索没有号码、链接或账号，核实起来会难一些；想起来了可以再举报一次补上。")
        if repeats:
            lines.append("其中" + "、".join(repeats) + "您之前已经举报过，这次合并记录，不重复计数。")
        lines += ["", CHANNELS]
        return "\n".join(lines)

    def _finish(self, user_hash: str, data: dict, now: datetime, complete: bool):
        """Store the conversation as a lead (with its links and numbers) and end it; screenshots
        still being read are pointed at the lead, so their text joins it when it comes."""
        repeats = []
        with write_transaction(self.db):
            stored = self._session(user_hash)   # what OCR workers added since it was read
            if stored is not None:
                data = {**data, "screenshot_text": stored[1].get("screenshot_text", ""),
                        "shots": stored[1].get("shots", [])}
            text = "\n".join(filter(None, [data.get("detail", ""), data.get("what", ""),
                                           data.get("screenshot_text", "")]))
            found = extract(text)
            self.db.execute("DELETE FROM lead_sessions WHERE user_hash = ?", [user_hash])
            if not complete and not data.get("what"):
                return None, [], []
            cur = self.db.execute(
                "INSERT INTO leads (created_at, user_hash, what, detail, happened, screenshots, "
                "screenshot_text, status, complete, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                "'new', ?, ?)",
                [_now_iso(now), user_hash, data.get("what", ""), data.get("detail", ""),
                 data.get("happened", ""), data.get("screenshots", 0),
                 data.get("screenshot_text", ""), int(complete), _now_iso(now)])
            lead_id = cur.lastrowid
            for key in data.get("shots", []):
                self.db.execute("UPDATE screenshot_jobs SET lead_id = ? WHERE delivery_key = ?",
                                [lead_id, key])
            for ind in found:
                seen = self.db.execute("SELECT 1 FROM lead_items WHERE key = ? AND user_hash = ?",
                                       [ind.key, user_hash]).fetchone()
                if seen:
                    repeats.append(ind.masked)
                self.db.execute("INSERT INTO lead_items (lead_id, kind, value, masked, key, "
                                "user_hash) VALUES (?, ?, ?, ?, ?, ?)",
                                [lead_id, ind.kind, ind.value, ind.masked, ind.key, user_hash])
        log.info("lead %s stored (%s, %d items: %s)", lead_id,
                 "complete" if complete else "expired", len(found),
                 ",".join(i.key for i in found))
        return lead_id, found, repeats


# -- screenshots read after the fact --------------------------------------------------------------
SHOT_TEXT_MAX = 2000   # characters kept of one screenshot
SHOT_FAILED = {
    "not_image": "不是图片", "too_large": "图片太大", "fetch_failed": "没能下载",
    "ocr_failed": "没能识别", "no_text": "没认出文字", "busy": "识别排队已满",
}


def attach_screenshot(db: Database, user_hash: str, delivery_key: str, status: str,
                      text: str) -> str:
    """Add what a 举报 screenshot says (or why it could not be read) to its lead, or to the
    conversation while it goes on, and its links and numbers to the lead's items (counted by
    distinct residents like the rest). Returns where it went: lead, session or dropped (the
    conversation was cancelled)."""
    if status == "read":
        part = text.strip()[:SHOT_TEXT_MAX]
    else:
        part = f"（有一张截图{SHOT_FAILED.get(status, '没能识别')}，内容未录入）"
    with write_transaction(db):
        row = db.execute("SELECT lead_id FROM screenshot_jobs WHERE delivery_key = ?",
                         [delivery_key]).fetchone()
        if row and row[0]:
            return _attach_to_lead(db, row[0], user_hash, part, status == "read")
        session = db.execute("SELECT data FROM lead_sessions WHERE user_hash = ?",
                             [user_hash]).fetchone()
        data = json.loads(session[0]) if session else {}
        if delivery_key not in data.get("shots", []):
            log.info("screenshot %s: its 举报 was cancelled, text dropped", delivery_key)
            return "dropped"
        data["screenshot_text"] = "\n".join(filter(None, [data.get("screenshot_text", ""), part]))
        # updated_at is left alone: reading a picture does not keep the conversation alive.
        db.execute("UPDATE lead_sessions SET data = ? WHERE user_hash = ?",
                   [json.dumps(data, ensure_ascii=False), user_hash])
    return "session"


def _attach_to_lead(db: Database, lead_id: int, user_hash: str, part: str, read: bool) -> str:
    db.execute("UPDATE leads SET screenshot_text = trim(coalesce(screenshot_text, '') || "
               "char(10) || ?, char(10)) WHERE id = ?", [part, lead_id])
    for ind in extract(part) if read else ():
        if db.execute("SELECT 1 FROM lead_items WHERE lead_id = ? AND key = ?",
                      [lead_id, ind.key]).fetchone() is None:
            db.execute("INSERT INTO lead_items (lead_id, kind, value, masked, key, user_hash) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [lead_id, ind.kind, ind.value, ind.masked, ind.key, user_hash])
    return "lead"


# -- for staff ----------------------------------------------------------------------------------
LEAD_COLUMNS = ("id", "created_at", "what", "detail", "happened", "screenshots",
                "screenshot_text", "status", "status_note", "complete", "updated_at",
                "updated_by")


def list_leads(db: Database, status: str = "") -> list[dict]:
    where, params = ("WHERE status = ?", [status]) if status in STATUSES else ("", [])
    rows = [dict(zip(LEAD_COLUMNS, r)) for r in db.execute(
        f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads {where} ORDER BY created_at DESC, id DESC "
        f"LIMIT 500", params)]
    for row in rows:
        row["items"] = [dict(zip(("kind", "value", "masked", "reporters"), r)) for r in db.execute(
            "SELECT i.kind, i.value, i.masked, (SELECT COUNT(DISTINCT user_hash) FROM lead_items "
            "WHERE key = i.key) FROM lead_items i WHERE i.lead_id = ? ORDER BY i.id", [row["id"]])]
    return rows


def grouped_items(db: Database, limit: int = 100) -> list[dict]:
    """The same number or link across leads: distinct residents, leads, last reported."""
    cols = ("kind", "value", "masked", "reporters", "leads", "last_at")
    return [dict(zip(cols, r)) for r in db.execute(
        "SELECT i.kind, i.value, i.masked, COUNT(DISTINCT i.user_hash), COUNT(DISTINCT i.lead_id),"
        " MAX(l.created_at) FROM lead_items i JOIN leads l ON l.id = i.lead_id GROUP BY i.key "
        "ORDER BY 4 DESC, 6 DESC LIMIT ?", [limit])]


def set_status(db: Database, lead_id: int, status: str, note: str, actor: str,
               now: datetime) -> bool:
    if status not in STATUSES:
        return False
    with write_transaction(db):
        row = db.execute("SELECT status, status_note FROM leads WHERE id = ?",
                         [lead_id]).fetchone()
        if row is None:
            return False
        db.execute("UPDATE leads SET status = ?, status_note = ?, updated_at = ?, updated_by = ? "
                   "WHERE id = ?", [status, note.strip()[:500], _now_iso(now), actor, lead_id])
        audit(db, actor, "lead.status", "lead", str(lead_id),
              {"status": row[0], "note": row[1]}, {"status": status, "note": note.strip()[:500]})
    return True
