"""``ResidentLoop``: what the WeChat handlers ask of the residents' loop, over one database.

Handlers get it through ``Context.loop``; it holds no Flask and no wechatpy, so the scheduler
and the tests use it as it is.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..content.render import fit_bytes, utf8_len
from ..storage.questions import insert_questions
from ..storage.db import write_transaction
from . import feedback, late_answers, watchlist
from ..wechat.api_client import OfficialAccountApi
from .cs_client import OfficialAccountMessenger
from .ocr import load_reader
from .outreach import Outreach
from .screenshots import BUSY, RECEIVED, TYPE_IT, ScreenshotDesk
from .leads import CANCEL_WORDS, EXPIRED, START_WORDS, LeadDesk, attach_screenshot


# Most messages come from residents with no 举报 conversation and no answer waiting: one
# indexed read per message tells, instead of one read for each (leads.py, late_answers.py).
_PROBE = ("SELECT EXISTS (SELECT 1 FROM lead_sessions WHERE user_hash = ?), "
          "EXISTS (SELECT 1 FROM late_answers WHERE user_hash = ? "
          "AND status IN ('pending', 'quota', 'failed'))")   # as late_answers.pending_notice


class ResidentLoop:
    def __init__(self, db_factory, settings, answers=None, reader="auto", messenger=None):
        self._db = db_factory
        self.settings = settings
        self.answers = answers
        s = settings.loop
        self.messenger = messenger or OfficialAccountMessenger(
            OfficialAccountApi(settings.wechat, db_factory))
        self.outreach = Outreach(db_factory, self.messenger, s.cs_quota, s.cs_window_hours)
        reader = load_reader(s.ocr, s.ocr_threads) if reader == "auto" else reader
        self.screenshots = ScreenshotDesk(
            db_factory, reader, self.outreach, self.answer_screenshot, s.image_max_bytes,
            s.image_timeout_seconds, s.ocr_workers, s.ocr_queue_max,
            settings.wechat.reply_max_bytes, attach_to_lead=self.attach_lead_screenshot)

    def db(self):
        return self._db()

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    # -- links and numbers ----------------------------------------------------------------
    def check(self, text: str) -> str:
        return watchlist.check_text(self.db(), text)

    def answer_with_check(self, text: str, answer: dict, answers, limit: int) -> str:
        """The answer, and what is known about the message's links and numbers, within
        ``limit`` bytes: the answer gives way (fewer bullets), the check is kept whole."""
        note = self.check(text)
        if not note:
            return answer["answer"]
        budget = max(0, limit - utf8_len(note) - 2)
        article = answers.article((answer.get("case_ids") or [""])[0])
        body = answers.compose(article, answer["urgent"], budget) if article and budget > 200 \
            else fit_bytes(answer["answer"], budget)
        return fit_bytes(note + "\n\n" + body, limit) if body else fit_bytes(note, limit)

    # -- 举报 leads ---------------------------------------------------------------------------
    def desk(self) -> LeadDesk:
        s = self.settings.loop
        return LeadDesk(self.db(), s.lead_session_minutes, s.max_leads_per_day)

    def start_lead(self, user_hash: str, now: datetime | None = None) -> str:
        return self.desk().start(user_hash, now or self.now())

    def handle_text(self, user_hash: str, text: str,
                    now: datetime | None = None) -> tuple[str | None, str]:
        """(reply, notice): a reply when the text belongs to the loop (举报 started or going
        on); otherwise None and a notice to put before the ordinary answer ('' mostly)."""
        now = now or self.now()
        text = text.strip()
        if text in START_WORDS:
            return self.start_lead(user_hash, now), ""
        in_lead, late = self.db().conn.execute(_PROBE, [user_hash, user_hash]).fetchone()
        desk = self.desk()
        reply = desk.answer(user_hash, text, now) if in_lead else None
        if reply:
            return reply, ""
        notice = "\n".join(filter(None, [EXPIRED if desk.expired_notice else "",
                                          late_answers.pending_notice(self, user_hash)
                                          if late else ""]))
        if text in feedback.USELESS_WORDS or text in feedback.USEFUL_WORDS:
            return self.rate_last_answer(user_hash, text in feedback.USEFUL_WORDS, now), ""
        if text in CANCEL_WORDS:
            return "现在没有进行中的举报。" + (("\n" + notice) if notice else ""), ""
        return None, notice

    def handle_image(self, user_hash: str, delivery_key: str = "", pic_url: str = "",
                     now: datetime | None = None) -> str | None:
        """A screenshot within a 举报 conversation: counted, and read in the OCR worker pool
        (never in the request) when OCR is on; None outside a conversation."""
        now = now or self.now()
        desk = self.desk()
        read = self.screenshots.reader is not None and bool(delivery_key and pic_url)
        reply = desk.screenshot(user_hash, now, delivery_key if read else "")
        if read and desk.took_screenshot and not self.screenshots.submit(
                delivery_key, user_hash, pic_url, now, for_lead=True):
            self.attach_lead_screenshot(user_hash, delivery_key, "busy", "")
        return reply

    def attach_lead_screenshot(self, user_hash: str, delivery_key: str, status: str,
                               text: str) -> str:
        """Where a 举报 screenshot's text went (recorded as the job's send status)."""
        return attach_screenshot(self.db(), user_hash, delivery_key, status, text)

    # -- feedback -----------------------------------------------------------------------------
    def rate_last_answer(self, user_hash: str, useful: bool, now: datetime) -> str:
        """有用 / 没用 typed right after an answer counts for that answer."""
        db = self.db()
        last = feedback.last_answer(db, user_hash, now, self.settings.loop.feedback_window_minutes)
        if last is None:
            return ("谢谢！不过我没找到您刚才问的问题。请把情况再说一遍，我重新帮您看看。"
                    if not useful else "谢谢您的肯定！有可疑情况随时发给我。")
        feedback.record(db, "wechat", last[1], useful, user_hash=user_hash,
                        question_id=last[0], now=now)
        if useful:
            return "谢谢您的肯定！有可疑情况随时发给我。"
        return ("谢谢反馈，已经记下这条回答没帮上忙，编辑会改进。您可以换个说法再问一次，"
                "拿不准的可以拨打96110咨询；正在被骗请立即拨打110。")

    # -- answers that come later ------------------------------------------------------------
    def after_question(self, user_hash: str, openid: str, question: dict,
                       now: datetime | None = None) -> None:
        """An unanswered or low-confidence question keeps the customer-service window's OpenID,
        so an answer that comes later can be sent."""
        if not self.settings.loop.customer_service or not user_hash:
            return
        if question["category"] == "none" or \
                question["score"] < self.settings.admin.low_confidence_score:
            self.outreach.resident_wrote(user_hash, openid, now or self.now())

    def deliver_late_answers(self, now: datetime | None = None, force: bool = False) -> dict:
        return late_answers.deliver(self, now or self.now(), force)

    # -- screenshots ----------------------------------------------------------------------------
    def screenshot(self, user_hash: str, openid: str, delivery_key: str, pic_url: str,
                   now: datetime | None = None) -> str:
        """The passive reply to a screenshot outside a 举报 conversation."""
        now = now or self.now()
        if not self.settings.loop.customer_service or self.screenshots.reader is None:
            return TYPE_IT
        self.outreach.resident_wrote(user_hash, openid, now)
        return RECEIVED if self.screenshots.submit(delivery_key, user_hash, pic_url, now) \
            else BUSY

    def answer_screenshot(self, text: str, user_hash: str) -> str:
        """A screenshot's text answered like a typed question (logged as one, channel
        wechat-ocr), with the check of its links and numbers."""
        from ..answering.context import question_row
        answer = self.answers.ask(text)
        db = self.db()
        with write_transaction(db):
            insert_questions(db, [question_row(text, answer, "wechat-ocr", user_hash)])
        limit = self.settings.wechat.reply_max_bytes - 400   # room for "截图里写着：…"
        return self.answer_with_check(text, answer, self.answers, limit)
