"""Push log: every group's health, last and next push, the log itself, and the outbox."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from ..pushing import health, receipts
from ..pushing.alerts import active_alerts
from ..pushing.schedule import next_slot
from .blueprint import bp, local_now
from .inbox import local_time
from .sign_in import actor, db, login_required

PAGE_SIZE = 50
STATUSES = {"sent": "已发送", "failed": "失败", "skipped": "跳过", "missed": "错过",
            "unknown": "状态不明", "sending": "发送中"}
STATUS_HINTS = {
    "failed": "会在“下次重试”时间自动重试（次数和宽限期内）",
    "skipped": "没有发：群不健康，或没有适合的提示",
    "missed": "调度程序停机太久，已过宽限期",
    "unknown": "可能已发出，不会自动重发；请到群里看一下，需要时用 push --group 补发",
}
CHANNEL_NAMES = {"outbox": "发件箱（不真发）", "wecom_robot": "企业微信群机器人"}
_COLUMNS = ("id", "group_id", "slot", "message_key", "item_kind", "item_id", "channel", "status",
            "errcode", "errmsg", "attempts", "sent_at", "next_attempt_at", "created_at",
            "updated_at")
HANDED = {"wecom_robot": "已发到群机器人", "outbox": "已写入发件箱",
          "wecom_customer_group": "已交给企业微信，等群主在企业微信里确认发送",
          "relay": "已发给网格员，等网格员转发"}
CHANNELS = {"wecom_robot": "群机器人", "outbox": "发件箱", "wecom_customer_group": "客户群群发",
            "relay": "网格员转发"}


def push_steps(row: dict, receipt: dict | None, tz: ZoneInfo) -> list[dict]:
    """The message's way so far, one step per state with its time: planned → handed to WeCom
    (or a worker) → confirmed per group / relayed, or failed / expired / unknown."""
    steps = [{"label": "计划", "at": local_time(row["slot"], tz), "kind": "done"}]
    status = row["status"]
    if status in ("missed", "skipped"):
        steps.append({"label": STATUSES[status], "at": local_time(row["updated_at"], tz),
                      "kind": "bad"})
        return steps
    if status == "sending":
        return steps + [{"label": "发送中", "at": local_time(row["updated_at"], tz), "kind": "wait"}]
    if status == "unknown":
        return steps + [{"label": "状态不明：可能已发出，不会自动重发",
                         "at": local_time(row["updated_at"], tz), "kind": "bad"}]
    if status == "failed":
        retry = f"，{local_time(row['next_attempt_at'], tz)} 重试" if row["next_attempt_at"] else ""
        return steps + [{"label": f"发送失败{retry}", "at": local_time(row["updated_at"], tz),
                         "kind": "bad"}]
    steps.append({"label": HANDED.get(row["channel"], "已发送"),
                  "at": local_time(row["sent_at"], tz), "kind": "done"})
    if receipt is None:
        return steps
    state = receipt["state"]
    if receipt.get("reminded_at"):
        steps.append({"label": "已提醒网格员", "at": local_time(receipt["reminded_at"], tz),
                      "kind": "done"})
    final = local_time(receipt["final_at"], tz)
    if state == "confirmed":
        steps.append({"label": "企业微信确认：已发到客户群", "at": final, "kind": "ok"})
    elif state == "relayed":
        steps.append({"label": "网格员已确认转发", "at": final, "kind": "ok"})
    elif state == "awaiting":
        steps[-1]["kind"] = "wait"
        if receipt.get("expires_at"):
            steps.append({"label": "链接有效期到", "at": local_time(receipt["expires_at"], tz),
                          "kind": "wait"})
    elif state == "expired":
        steps.append({"label": "链接已过期，没有记录转发", "at": final, "kind": "bad"})
    elif state == "not_sent":
        steps.append({"label": "群主没有发送", "at": final, "kind": "bad"})
    elif state == "failed":
        steps.append({"label": f"企业微信：{receipt.get('detail') or '发送失败'}",
                      "at": final, "kind": "bad"})
    return steps


def group_health(settings) -> dict[str, dict | None]:
    """Each configured group's group_health row (None: never marked)."""
    rows = health.health_rows(db())
    return {g.id: rows.get(g.id) for g in settings.groups}


def _group_summary(settings, tz: ZoneInfo, now: datetime) -> list[dict]:
    """One row per configured group: health, last push, next scheduled push."""
    rows = group_health(settings)
    last = {r[0]: (r[1], r[2]) for r in db().execute(
        "SELECT group_id, status, MAX(slot) FROM pushes GROUP BY group_id").fetchall()}
    out = []
    for g in settings.groups:
        h = rows.get(g.id)
        status, slot = last.get(g.id, (None, None))
        out.append({
            "id": g.id, "name": g.name, "area": g.area, "channel": g.channel,
            "via": _via(settings, g),
            "healthy": health.is_healthy(g, h), "config_problem": g.problem,
            "errcode": h["errcode"] if h else None, "reason": h["reason"] if h else "",
            "last_status": status, "last_slot": local_time(slot, tz),
            "next": next_slot(g, now, tz).strftime("%Y-%m-%d %H:%M") if g.schedule else "",
        })
    return out


def message_label(key: str) -> str:
    """'tip' -> 每周提示, 'alert:3' -> 本周预警 #3, 'manual:…' -> 手动推送."""
    kind, _, rest = (key or "").partition(":")
    return {"tip": "每周提示", "alert": f"本周预警 #{rest}", "manual": "手动推送"}.get(kind, key)


def _titles(items) -> dict:
    """{(kind, id): title} of the pushed tips and cases."""
    out = {}
    for kind, table in (("tip", "tips"), ("case", "cases")):
        ids = [i for k, i in items if k == kind and i]
        if ids:
            out.update({(kind, r[0]): r[1] for r in db().execute(
                f"SELECT id, title FROM {table} WHERE id IN ({', '.join('?' * len(ids))})",
                ids)})
    return out
def _via(settings, group) -> str:
    """Through whom a group is reached: its grid worker, or its customer group's owner."""
    if group.channel == "relay":
        worker = settings.grid_worker(group.relay_by)
        return f"网格员 {worker.name if worker else group.relay_by}"
    if group.channel == "wecom_customer_group":
        return f"群主 {group.owner}"
    return ""


def _payload_text(payload: str | None) -> tuple[str, str]:
    """(title, message text) of an outbox payload; the raw payload if it is not ours."""
    try:
        data = json.loads(payload or "")
    except ValueError:
        return "", payload or ""
    if not isinstance(data, dict):
        return "", payload
    return str(data.get("title") or ""), str(data.get("content") or "")


@bp.get("/pushes")
@login_required()
def pushes():
    settings = current_app.config["SETTINGS"]
    tz = ZoneInfo(settings.scheduler.timezone)
    group_id = request.args.get("group", "")
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    where, params = ["1"], []
    if group_id:
        where.append("group_id = ?")
        params.append(group_id)
    if status:
        where.append("status = ?")
        params.append(status)
    clause = " AND ".join(where)
    total = db().execute(f"SELECT COUNT(*) FROM pushes WHERE {clause}", params).fetchone()[0]
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int)), pages)
    rows = [dict(zip(_COLUMNS, r)) for r in db().execute(
        f"SELECT {', '.join(_COLUMNS)} FROM pushes WHERE {clause} "
        f"ORDER BY slot DESC, id DESC LIMIT ? OFFSET ?",
        [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE]).fetchall()]
    found = receipts.receipts_for(db(), [r["id"] for r in rows])
    for r in rows:
        r["slot_local"] = local_time(r["slot"], tz)
        r["sent_local"] = local_time(r["sent_at"], tz)
        r["next_local"] = local_time(r["next_attempt_at"], tz)
        r["steps"] = push_steps(r, found.get(r["id"]), tz)
    outbox = [dict(zip(("id", "push_id", "group_id", "msgtype", "payload", "created_at"), r))
              for r in db().execute("SELECT id, push_id, group_id, msgtype, payload, created_at "
                                    "FROM outbox ORDER BY id DESC LIMIT 50").fetchall()]
    for r in outbox:
        r["created_local"] = local_time(r["created_at"], tz)
        r["title"], r["text"] = _payload_text(r["payload"])
    names = {g.id: g.name for g in settings.groups}
    titles = _titles({(r["item_kind"], r["item_id"]) for r in rows})
    for r in rows:
        r["what"] = message_label(r["message_key"])
        r["title"] = titles.get((r["item_kind"], r["item_id"]), r["item_id"] or "")
    return render_template(
        "admin/pushes.html", rows=rows, outbox=outbox, channels=CHANNELS, summary=_group_summary(
            settings, tz, local_now()), names=names, statuses=STATUSES, hints=STATUS_HINTS,
        alerts=alert_rows(settings, tz), channel_names=CHANNEL_NAMES,
        group_id=group_id, status=status, page=page, pages=pages, total=total,
        page_params={k: v for k, v in (("group", group_id), ("status", status)) if v})


@bp.post("/pushes/<group_id>/healthy")
@login_required(role="admin")
def mark_healthy(group_id: str):
    """After fixing a group (robot re-added to its chat, key unchanged): try it again."""
    if current_app.config["SETTINGS"].group(group_id) is None:
        abort(404)
    if health.mark_healthy(db(), actor(), group_id):
        flash("已恢复：下一次推送会重新尝试这个群。", "ok")
    return redirect(url_for("admin.pushes"))


def send_alert_now(alert_id: int) -> None:
    """Send an alert to its groups now and flash, in Chinese, what happened to each group."""
    import time

    from ..pushing.pusher import Pusher

    settings = current_app.config["SETTINGS"]
    pusher = Pusher(settings, current_app.extensions["db"], time.time, time.sleep)
    try:
        results = pusher.send_alert_now(alert_id, datetime.now(pusher.tz))
    except LookupError as exc:
        flash(str(exc), "error")
        return
    if not results:
        flash("这条预警没有要发的群（config.toml 里没有它指定的群）。", "error")
        return
    sent = [r.group.name for r in results if r.outcome == "sent"]
    if sent:
        flash(f"本周预警 #{alert_id} 已发送到 {len(sent)} 个群：" + "、".join(sent) + "。", "ok")
    for r in results:
        if r.outcome != "sent":
            flash(f"{r.group.name}：{r.reason}", "error")


@bp.post("/alerts/<int:alert_id>/send")
@login_required()
def send_alert(alert_id: int):
    """本周预警 now, not only at each group's next slot (recorded like any push, never twice)."""
    send_alert_now(alert_id)
    return redirect(url_for("admin.pushes"))


def alert_rows(settings, tz: ZoneInfo) -> list[dict]:
    """The active alerts with, per targeted group, whether it already has it."""
    db_ = db()
    titles = {("tip", r[0]): r[1] for r in db_.execute("SELECT id, title FROM tips")}
    titles.update({("case", r[0]): r[1] for r in db_.execute("SELECT id, title FROM cases")})
    live = {(r[0], r[1]) for r in db_.execute(
        "SELECT group_id, message_key FROM pushes WHERE message_key LIKE 'alert:%' "
        "AND status IN ('sending', 'sent', 'unknown', 'failed')")}
    rows = []
    for a in reversed(active_alerts(db_)):
        groups = [g for g in settings.groups if a.targets(g.id)]
        done = [g.name for g in groups if (g.id, f"alert:{a.id}") in live]
        rows.append({"id": a.id, "title": titles.get((a.item_kind, a.item_id), a.item_id),
                     "kind": "案例" if a.item_kind == "case" else "提示",
                     "created": local_time(a.created_at, tz),
                     "groups": "所有群" if a.groups is None else "、".join(
                         g.name for g in groups) or "（指定的群都不在配置里）",
                     "done": done, "pending": len(groups) - len(done)})
    return rows
