"""Grid-worker relay: village groups no robot can join get their tips through a grid worker.

At each slot every grid worker gets one message (more only when it would pass WeCom's 2,048
bytes) with the tips for their groups and, per group, a personal one-tap link
"已转发到 <群名>" (``relay_links``). Tapping it records the relay (``receipts``); relays still
unconfirmed get one reminder at ``relay.reminder_time`` the next morning; links expire after
``relay.link_ttl_hours``. The message reaches the worker as a WeCom app message
(``message/send`` to their userid, doc https://developer.work.weixin.qq.com/document/path/90236)
or through their worker group's robot.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from .. import receipts
from ..relay_links import relay_url
from ..wecom_api import ERR_RATE_LIMIT, TOKEN_ERRORS, WeComApi
from . import SendResult, map_bundles, register
from .wecom_robot import RobotRateLimiter

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 2048            # app text messages and robot text messages alike
WEEKDAYS = "一二三四五六日"
FORWARD_LINE = "—— 转发后点一下对应的群（仅供您本人使用）——"


def compose(worker_name: str, slot: datetime, items: list[tuple[str, str, str]],
            reminder: bool = False) -> list[tuple[str, list[int]]]:
    """Messages for one worker: ``items`` are (group name, message text, link); returns
    [(text, indexes of the items it carries)], each within TEXT_MAX_BYTES. Groups with the same
    tip share one copy of it. Usually one message; a tip too long to go with its links goes on
    its own (exactly what to forward), its links in the next message."""
    head = (f"【反诈提醒·{'还没记录转发' if reminder else '请转发'}】{slot.month}月{slot.day}日"
            f"周{WEEKDAYS[slot.weekday()]}，{worker_name}：")
    by_text: dict[str, list[int]] = {}
    for i, (_, text, _) in enumerate(items):
        by_text.setdefault(text, []).append(i)
    blocks: list[tuple[str, list[int], bool]] = []      # (text, indexes, standalone)
    for text, indexes in by_text.items():
        names = "、".join(items[i][0] for i in indexes)
        links = [f"已转发到 {items[i][0]}：{items[i][2]}" for i in indexes]
        if reminder:
            intro = f"以下群还没有记录转发：{names}"
        else:
            intro = f"请把这条提醒转发到：{names}\n\n{text}\n\n{FORWARD_LINE}"
        body = intro + "\n" + "\n".join(links)
        if len(f"{head}\n{body}".encode()) <= TEXT_MAX_BYTES:
            blocks.append((body, indexes, False))
            continue
        if not reminder:
            blocks.append((text, indexes, True))
            intro = f"请把上面这条提醒转发到：{names}\n{FORWARD_LINE}"
        lines, carried = [intro], []
        for i, line in zip(indexes, links):
            if len((f"{head}\n" + "\n".join(lines + [line])).encode()) > TEXT_MAX_BYTES:
                blocks.append(("\n".join(lines), carried, False))
                lines, carried = [FORWARD_LINE], []
            lines.append(line)
            carried.append(i)
        blocks.append(("\n".join(lines), carried, False))
    messages: list[tuple[str, list[int]]] = []
    current, current_items = "", None
    for body, indexes, standalone in blocks:
        if standalone:
            if current_items is not None:
                messages.append((current, current_items))
                current, current_items = "", None
            messages.append((body, list(indexes)))
            continue
        candidate = f"{current}\n\n{body}" if current_items is not None else f"{head}\n{body}"
        if current_items is not None and len(candidate.encode()) > TEXT_MAX_BYTES:
            messages.append((current, current_items))
            current, current_items = f"{head}\n{body}", list(indexes)
        else:
            current, current_items = candidate, (current_items or []) + list(indexes)
    if current_items is not None:
        messages.append((current, current_items))
    return messages


@register("relay")
class RelayChannel:
    batched = True

    def __init__(self, settings, db_factory, clock, sleep):
        self.settings = settings
        self.tz = ZoneInfo(settings.scheduler.timezone)
        self._db = db_factory
        self.api = WeComApi(settings, db_factory, clock, sleep)
        self.robot_url = settings.wecom.base_url.rstrip("/") + "/cgi-bin/webhook/send"
        self.robot_limiter = RobotRateLimiter(settings.scheduler.rate_per_minute, clock, sleep)
        self.member_limiter = RobotRateLimiter(
            settings.wecom.app_message_per_member_per_minute, clock, sleep)
        self.timeout = settings.scheduler.send_timeout_seconds

    # -- sending ----------------------------------------------------------------------------
    def send(self, group, message, push_id: int) -> SendResult:
        raise NotImplementedError("relay hands messages over in batches (send_batch)")

    def send_batch(self, jobs: list, now: datetime) -> list[SendResult]:
        """One message per worker and slot; every job gets the result of the message that
        carried it. Workers are served concurrently."""
        bundles: dict[tuple[str, str], list] = {}
        for job in jobs:
            bundles.setdefault((job.group.relay_by, job.slot.isoformat()), []).append(job)
        results = map_bundles(lambda key, bundle: self._send_bundle(key[0], bundle, now),
                              bundles, self.settings.scheduler.max_concurrent_sends)
        return [results[j.push_id] for j in jobs]

    def _send_bundle(self, worker_id: str, bundle: list, now: datetime) -> dict:
        db = self._db()
        results = {}
        worker = self.settings.grid_worker(worker_id)
        expires = now + timedelta(hours=self.settings.relay.link_ttl_hours)
        receipts.open_receipts(db, [{
            "push_id": j.push_id, "group_id": j.group.id, "slot": j.slot.isoformat(),
            "channel": "relay", "route": worker_id,
            "expires_at": receipts.iso(expires)} for j in bundle], now)
        link_of: dict[str, str] = {}
        # One link per group and slot (a tip and an alert in one slot share it).
        for j in bundle:
            link_of.setdefault(j.group.id, relay_url(
                self.settings.server.public_url, self.settings.relay.secret, j.push_id,
                int(expires.timestamp())))
        items = [(j.group.name, j.message.text, link_of[j.group.id]) for j in bundle]
        # A push is handed over when every message carrying it (its tip, its link) went.
        for text, indexes in compose(worker.name, bundle[0].slot, items):
            result = self.deliver(worker, text)
            for i in indexes:      # a failure sticks
                if bundle[i].push_id not in results or results[bundle[i].push_id].ok:
                    results[bundle[i].push_id] = result
        handed = [pid for pid, result in results.items() if result.ok]
        receipts.handed(db, handed, now)
        for pid, result in results.items():
            if not result.ok:
                receipts.not_handed(db, [pid], result.errmsg)
        return results

    def deliver(self, worker, text: str) -> SendResult:
        """A text to one worker: app message to their userid, or their worker group's robot."""
        if worker.userid:
            token = self.member_limiter.acquire(worker.userid)
            try:
                result = self.api.post("message/send", {
                    "touser": worker.userid, "msgtype": "text",
                    "agentid": self.settings.wecom.agent_id, "text": {"content": text}})
            finally:
                self.member_limiter.done(token)
            if result.ok and (result.data.get("invaliduser") or "").strip():
                return SendResult(ok=False, errcode=0, permanent=True,
                                  errmsg="WeCom: the worker's userid is not valid for this app")
            return as_send_result(result.ok, result.errcode, result.errmsg, result.uncertain,
                                permanent=not result.transient)
        token = self.robot_limiter.acquire(worker.robot_key)
        try:
            response = self.api.session.post(self.robot_url, params={"key": worker.robot_key},
                                             json={"msgtype": "text", "text": {"content": text}},
                                             timeout=self.timeout)
            data = response.json()
            errcode = int(data.get("errcode", -1))
        except requests.ConnectTimeout:
            return SendResult(ok=False, errmsg="network error: ConnectTimeout")
        except (requests.RequestException, ValueError, AttributeError, TypeError) as exc:
            return SendResult(ok=False, errmsg=f"no clear answer: {type(exc).__name__}",
                              uncertain=True)
        finally:
            self.robot_limiter.done(token)
        return as_send_result(errcode == 0, errcode, str(data.get("errmsg", "")), False,
                            permanent=errcode not in (-1, ERR_RATE_LIMIT))

    # -- after the send ---------------------------------------------------------------------
    def follow_up(self, now: datetime) -> dict[str, int]:
        """Expire old links; remind each worker once about relays still unconfirmed."""
        db = self._db()
        expired = receipts.expire_relays(db, now)
        reminded = 0
        for worker_id, rows in receipts.due_reminders(db, now, self.tz,
                                                      self.settings.relay.reminder_time).items():
            worker = self.settings.grid_worker(worker_id)
            if worker is None:
                continue
            items, seen = [], set()
            for row in rows:
                if (row["group_id"], row["slot"]) in seen:
                    continue
                seen.add((row["group_id"], row["slot"]))
                group = self.settings.group(row["group_id"])
                first = db.execute("SELECT MIN(push_id) FROM receipts WHERE group_id = ? AND "
                                   "slot = ? AND channel = 'relay'",
                                   [row["group_id"], row["slot"]]).fetchone()[0]
                expires = int(datetime.fromisoformat(row["expires_at"]).timestamp())
                items.append((group.name if group else row["group_id"], "", relay_url(
                    self.settings.server.public_url, self.settings.relay.secret, first,
                    expires)))
            ok = all(self.deliver(worker, text).ok
                     for text, _ in compose(worker.name, now.astimezone(self.tz), items,
                                            reminder=True))
            # One reminder only, whatever its fate: a failed reminder is not worth a second.
            receipts.mark_reminded(db, [r["push_id"] for r in rows], now)
            reminded += len(rows) if ok else 0
        return {"relays_expired": expired, "relay_reminders": reminded}


def as_send_result(ok: bool, errcode, errmsg: str, uncertain: bool, permanent: bool) -> SendResult:
    if ok:
        return SendResult(ok=True, errcode=errcode, errmsg=errmsg)
    if uncertain:
        return SendResult(ok=False, errcode=errcode, errmsg=errmsg, uncertain=True)
    if errcode == ERR_RATE_LIMIT:
        return SendResult(ok=False, errcode=errcode, errmsg=errmsg, retry_after=60.0)
    if errcode in TOKEN_ERRORS:     # refreshed once already and still refused: try later
        return SendResult(ok=False, errcode=errcode, errmsg=errmsg)
    return SendResult(ok=False, errcode=errcode, errmsg=errmsg, permanent=permanent)
