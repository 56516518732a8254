"""Screenshots: fetched from the message's PicUrl (size and time limits, kept in memory only),
read by OCR in a separate worker pool, answered like a typed question and sent back as a
customer-service message ("截图里写着：…" then the answer), or, within a 举报 conversation, added
to the lead. The web request only queues the job, so text answers never wait behind OCR; a full
queue says so at once.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import requests

from ..content.render import fit_bytes
from ..storage.db import write_transaction
from .ocr import OcrError, looks_like_image

log = logging.getLogger(__name__)

RECEIVED = "收到截图，正在识别，稍等几秒。"
TYPE_IT = "请把截图里的文字发给我（打字或语音都行），我帮您看看。遇到正在发生的诈骗，请立即拨打110。"
BUSY = "现在要识别的截图太多了，请把截图里的文字直接发给我，我马上帮您看。"
FAILURES = {
    "not_image": "您发来的文件不是能识别的图片。请把截图里的文字发给我。",
    "too_large": "这张图片太大了，没法识别。请把截图里的文字发给我。",
    "fetch_failed": "这张截图没能下载下来。请把截图里的文字发给我。",
    "ocr_failed": "这张截图没能识别出来。请把截图里的文字发给我。",
    "no_text": "这张截图里没认出文字。请把截图里的文字发给我。",
}


class FetchError(Exception):
    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def fetch_image(url: str, max_bytes: int, timeout: float) -> bytes:
    """The image bytes, at most ``max_bytes``, within ``timeout`` seconds in all."""
    if not url.startswith(("http://", "https://")):
        raise FetchError("fetch_failed")
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise FetchError("fetch_failed")
            if int(response.headers.get("Content-Length") or 0) > max_bytes:
                raise FetchError("too_large")
            chunks, size = [], 0
            for chunk in response.iter_content(16384):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError("too_large")
                if time.monotonic() > deadline:
                    raise FetchError("fetch_failed")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException:
        raise FetchError("fetch_failed") from None


class ScreenshotDesk:
    """Queues screenshot jobs and runs them in ``workers`` threads (onnxruntime releases the
    GIL, so the web worker's request threads keep answering). A screenshot outside a 举报 is
    answered as a customer-service message; one sent within a 举报 has what it says handed to
    ``attach_to_lead`` (its lead, or the conversation still going on), nothing sent."""

    def __init__(self, db_factory, reader, outreach, answer_text, max_bytes: int,
                 timeout: float, workers: int, queue_max: int, reply_max_bytes: int,
                 attach_to_lead=None):
        self._db = db_factory
        self.reader, self.outreach, self.answer_text = reader, outreach, answer_text
        self.attach_to_lead = attach_to_lead
        self.max_bytes, self.timeout = max_bytes, timeout
        self.workers, self.queue_max = workers, queue_max
        self.reply_max_bytes = reply_max_bytes
        self._pool, self._pid = None, None
        self._pending = 0
        self._idle = threading.Condition()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pid != os.getpid():   # a pool made before gunicorn forked has no threads here
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ocr")
            self._pid = os.getpid()
        return self._pool

    def submit(self, delivery_key: str, user_hash: str, pic_url: str, now: datetime,
               for_lead: bool = False) -> bool:
        """Queue the job (its row written first); False when the queue is full (recorded as
        ``busy``, nothing queued)."""
        db = self._db()
        with self._idle:
            busy = self._pending >= self.queue_max
            if not busy:
                self._pending += 1
        with write_transaction(db):
            db.execute("INSERT OR IGNORE INTO screenshot_jobs (delivery_key, user_hash, "
                       "received_at, status) VALUES (?, ?, ?, ?)",
                       [delivery_key, user_hash, now.isoformat(timespec="seconds"),
                        "busy" if busy else "queued"])
        if busy:
            return False
        self._executor().submit(self._run, delivery_key, user_hash, pic_url, for_lead)
        return True

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued job has finished (tests and the bench)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def read_picture(self, pic_url: str) -> tuple[str, str]:
        """(status, text): fetched and read, or why not; the bytes are dropped here."""
        try:
            data = fetch_image(pic_url, self.max_bytes, self.timeout)
            if not looks_like_image(data):
                return "not_image", ""
            read = self.reader.read(data)
            del data   # never kept beyond processing
        except FetchError as exc:
            return exc.status, ""
        except OcrError:
            return "ocr_failed", ""
        return ("read", read) if read.strip() else ("no_text", "")

    def _answer(self, delivery_key: str, user_hash: str, status: str, read: str,
                now: datetime) -> tuple[str, str]:
        """(status, send status): the answer or the failure sent as a customer-service message."""
        if status == "read":
            answer = self.answer_text(read, user_hash)
            quoted = fit_bytes(" ".join(read.split()), 300)
            text = fit_bytes(f"截图里写着：{quoted}\n\n{answer}", self.reply_max_bytes)
            status = "answered"
        else:
            text = FAILURES[status]
        return status, self.outreach.send(user_hash, f"ocr:{delivery_key}", text, now)

    def _run(self, delivery_key: str, user_hash: str, pic_url: str, for_lead: bool) -> None:
        started = time.perf_counter()
        try:
            status, read = self.read_picture(pic_url)
            chars = len(read)
            now = datetime.now(timezone.utc)
            if for_lead:
                send_status = self.attach_to_lead(user_hash, delivery_key, status, read)
            else:
                status, send_status = self._answer(delivery_key, user_hash, status, read, now)
            with write_transaction(self._db()):
                self._db().execute(
                    "UPDATE screenshot_jobs SET status = ?, chars = ?, seconds = ?, "
                    "send_status = ?, finished_at = ? WHERE delivery_key = ?",
                    [status, chars, round(time.perf_counter() - started, 3), send_status,
                     now.isoformat(timespec="seconds"), delivery_key])
            log.info("screenshot %s: %s in %.2f s, %s", delivery_key, status,
                     time.perf_counter() - started, send_status)
        except Exception:  # noqa: BLE001 - a worker must survive any one job
            log.exception("screenshot job %s failed", delivery_key)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
