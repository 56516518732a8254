"""WeCom customer-group mass send (企业群发 to 客户群): village groups of external contacts.

``POST /cgi-bin/externalcontact/add_msg_template`` with ``chat_type = group``, the owner as
``sender`` and the owner's groups in ``chat_id_list`` (doc:
https://developer.work.weixin.qq.com/document/path/92135) creates a task; nothing reaches a
group until the owner confirms it in their WeCom client. So a created task is 'handed over', not
'delivered': ``follow_up`` polls ``get_groupmsg_task`` (has the owner sent it?) and then
``get_groupmsg_send_result`` (per group: 0 not sent, 1 sent, 2 not a friend, 3 already got
another mass send today) with backoff until every group has a final answer, or gives up after
``wecom.poll_give_up_hours`` (recorded 'not_sent'). 41063 (task still being dispatched) means
ask again later.

Limits (Tencent, document/path/92135, updated 2025-11): a customer group receives at most "days
in the month" mass sends a month, which the enterprise may tighten to 7 a week or 1 a day; the
planner keeps to ``wecom.customer_group_per_day``.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from .. import receipts
from ..wecom_api import WeComApi
from . import SendResult, map_bundles, register
from .relay import as_send_result

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 4000
ERR_DISPATCHING = 41063
TASK_SENT = 2
RESULT_TEXT = {0: "群主未发送", 1: "已发送", 2: "发送失败：客户不是好友",
               3: "发送失败：客户群当天已收到其他群发"}


@register("wecom_customer_group")
class CustomerGroupChannel:
    batched = True

    def __init__(self, settings, db_factory, clock, sleep):
        self.settings = settings
        self._db = db_factory
        self.api = WeComApi(settings, db_factory, clock, sleep)

    def send(self, group, message, push_id: int) -> SendResult:
        raise NotImplementedError("customer-group mass sends go in batches (send_batch)")

    def send_batch(self, jobs: list, now: datetime) -> list[SendResult]:
        """One task per owner and text: the owner confirms once for all their groups."""
        tasks: dict[tuple[str, str], list] = {}
        for job in jobs:
            tasks.setdefault((job.group.owner, job.message.text), []).append(job)
        results = map_bundles(lambda key, task: self._create_task(key[0], key[1], task, now),
                              tasks, self.settings.scheduler.max_concurrent_sends)
        return [results[j.push_id] for j in jobs]

    def _create_task(self, owner: str, text: str, task: list, now: datetime) -> dict:
        db = self._db()
        if len(text.encode()) > TEXT_MAX_BYTES:
            return {job.push_id: SendResult(
                ok=False, permanent=True,
                errmsg=f"message is {len(text.encode())} bytes, WeCom takes {TEXT_MAX_BYTES}")
                for job in task}
        receipts.open_receipts(db, [{
            "push_id": j.push_id, "group_id": j.group.id, "slot": j.slot.isoformat(),
            "channel": self.name, "route": owner, "chat_id": j.group.chat_id}
            for j in task], now)
        answer = self.api.post("externalcontact/add_msg_template", {
            "chat_type": "group", "sender": owner, "allow_select": False,
            "chat_id_list": [j.group.chat_id for j in task], "text": {"content": text}})
        if not answer.ok:
            receipts.not_handed(db, [j.push_id for j in task], answer.errmsg)
            result = as_send_result(False, answer.errcode, answer.errmsg, answer.uncertain,
                                    permanent=not answer.transient)
            return {job.push_id: result for job in task}
        msgid = str(answer.data.get("msgid", ""))
        refused = set(answer.data.get("fail_list") or [])
        first_poll = now + timedelta(seconds=self.settings.wecom.poll_first_seconds)
        receipts.handed(db, [j.push_id for j in task if j.group.chat_id not in refused],
                        now, msgid=msgid, next_poll_at=first_poll)
        results = {}
        for job in task:
            if job.group.chat_id in refused:
                receipts.not_handed(db, [job.push_id], "WeCom fail_list")
                results[job.push_id] = SendResult(
                    ok=False, errcode=0, permanent=True,
                    errmsg=f"WeCom refused this group (fail_list), task {msgid}")
            else:
                results[job.push_id] = SendResult(ok=True, errcode=0,
                                                  errmsg=f"task {msgid}, awaiting the owner")
        return results

    # -- after the send ---------------------------------------------------------------------
    def follow_up(self, now: datetime) -> dict[str, int]:
        """Poll every task whose next poll is due; settle the groups WeCom has answered for."""
        due = receipts.due_polls(self._db(), self.name, now)
        settled = map_bundles(lambda msgid, rows: {msgid: self._poll(msgid, rows, now)}, due,
                              self.settings.scheduler.max_concurrent_sends)
        return {"customer_groups_settled": sum(settled.values())}

    def _poll(self, msgid: str, rows: list[dict], now: datetime) -> int:
        db = self._db()
        owner = rows[0]["route"]
        w = self.settings.wecom
        handed = datetime.fromisoformat(rows[0]["handed_at"])
        give_up = now - handed >= timedelta(hours=w.poll_give_up_hours)
        delay = min(w.poll_first_seconds * 2 ** (rows[0]["polls"] + 1), w.poll_max_seconds)

        def later(detail: str) -> int:
            if give_up:
                for row in rows:
                    receipts.settle(db, row["push_id"], "not_sent", now,
                                    f"{w.poll_give_up_hours} 小时内群主没有确认发送；{detail}")
                return len(rows)
            receipts.reschedule_poll(db, [r["push_id"] for r in rows],
                                     now + timedelta(seconds=delay), detail)
            return 0

        task = self.api.post("externalcontact/get_groupmsg_task", {"msgid": msgid, "limit": 1000})
        if not task.ok:
            return later(f"get_groupmsg_task: {task.errcode} {task.errmsg}")
        mine = [t for t in task.data.get("task_list") or [] if t.get("userid") == owner]
        if not mine or int(mine[0].get("status", 0)) != TASK_SENT:
            return later("群主还没有确认发送")
        sent_to = self.as_send_results(msgid, owner)
        if sent_to is None:
            return later("get_groupmsg_send_result failed")
        settled, waiting = 0, []
        for row in rows:
            status, send_time = sent_to.get(row["chat_id"], (0, None))
            if status == 1:
                at = datetime.fromtimestamp(send_time, timezone.utc) if send_time else now
                receipts.settle(db, row["push_id"], "confirmed", at, RESULT_TEXT[1])
                settled += 1
            elif status in (2, 3):
                receipts.settle(db, row["push_id"], "failed", now, RESULT_TEXT[status])
                settled += 1
            else:
                waiting.append(row)
        if waiting:
            rows = waiting
            settled += later(RESULT_TEXT[0])
        return settled

    def as_send_results(self, msgid: str, owner: str) -> dict[str, tuple[int, int | None]] | None:
        """{chat_id: (status, send_time)} over every page of the send result."""
        out, cursor = {}, ""
        for _ in range(100):
            body = {"msgid": msgid, "userid": owner, "limit": 1000}
            if cursor:
                body["cursor"] = cursor
            page = self.api.post("externalcontact/get_groupmsg_send_result", body)
            if not page.ok:
                return None
            for entry in page.data.get("send_list") or []:
                if entry.get("chat_id"):
                    out[entry["chat_id"]] = (int(entry.get("status", 0)), entry.get("send_time"))
            cursor = page.data.get("next_cursor") or ""
            if not cursor:
                return out
        return out
