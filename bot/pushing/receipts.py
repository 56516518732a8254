"""Receipts: what became of a push after it left us (``receipts`` table).

The push log says whether a message left (sent to a robot, to WeCom's mass-send, to a grid
worker); a receipt says whether it reached the village group: WeCom's per-group answer for a
customer-group mass send, or the grid worker's tap on "已转发到 <群名>". One row per push.

States: ``pending`` (being handed over; ``failed`` if that fails, and the push log retries)
→ ``awaiting`` (handed over, no answer yet) → ``confirmed`` (WeCom: sent to the customer
group) | ``relayed`` (the worker tapped the link) | ``not_sent`` (the owner never confirmed) |
``failed`` (WeCom: could not send to this group) | ``expired`` (the relay link ran out).

The reports read these through ``relayed_by_group``, ``confirmed_by_group`` and
``delivery_summary``; nothing here needs Flask. Times are UTC ISO strings; slots keep the push
log's local ISO form.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

FINAL_STATES = ("confirmed", "relayed", "not_sent", "failed", "expired")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def open_receipts(db, rows: list[dict], now: datetime) -> None:
    """A receipt per push about to be handed over (replacing an earlier failed attempt's)."""
    stamp = iso(now)
    for row in rows:
        db.execute(
            "INSERT INTO receipts (push_id, group_id, slot, channel, route, chat_id, state, "
            "expires_at, created_at, polls) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, 0) "
            "ON CONFLICT(push_id) DO UPDATE SET state = 'pending', route = excluded.route, "
            "expires_at = excluded.expires_at, detail = NULL, handed_at = NULL, msgid = NULL",
            [row["push_id"], row["group_id"], row["slot"], row["channel"], row["route"],
             row.get("chat_id"), row.get("expires_at"), stamp])


def handed(db, push_ids, now: datetime, msgid: str | None = None,
           next_poll_at: datetime | None = None) -> None:
    """WeCom (or the worker) has it: wait for the answer."""
    for push_id in push_ids:
        db.execute("UPDATE receipts SET state = 'awaiting', handed_at = ?, msgid = ?, "
                   "next_poll_at = ? WHERE push_id = ?",
                   [iso(now), msgid, next_poll_at and iso(next_poll_at), push_id])


def not_handed(db, push_ids, detail: str) -> None:
    """The hand-over failed (the push log decides about retries)."""
    for push_id in push_ids:
        db.execute("UPDATE receipts SET state = 'failed', detail = ? WHERE push_id = ? "
                   "AND state = 'pending'", [detail, push_id])


def settle(db, push_id: int, state: str, at: datetime, detail: str = "") -> None:
    db.execute("UPDATE receipts SET state = ?, final_at = ?, detail = ?, next_poll_at = NULL "
               "WHERE push_id = ? AND state = 'awaiting'", [state, iso(at), detail, push_id])


def reschedule_poll(db, push_ids, at: datetime, detail: str = "") -> None:
    for push_id in push_ids:
        db.execute("UPDATE receipts SET next_poll_at = ?, polls = polls + 1, detail = ? "
                   "WHERE push_id = ?", [iso(at), detail, push_id])


def due_polls(db, channel: str, now: datetime) -> dict[str, list[dict]]:
    """Awaiting receipts of ``channel`` whose next poll is due, by msgid."""
    out: dict[str, list[dict]] = {}
    for row in db.execute(
            "SELECT push_id, group_id, route, msgid, chat_id, handed_at, polls FROM receipts "
            "WHERE state = 'awaiting' AND channel = ? AND next_poll_at <= ? "
            "ORDER BY push_id", [channel, iso(now)]).fetchall():
        out.setdefault(row[3], []).append(dict(zip(
            ("push_id", "group_id", "route", "msgid", "chat_id", "handed_at", "polls"), row)))
    return out


# -- relays -------------------------------------------------------------------------------------
def confirm_relay(db, push_id: int, now: datetime) -> str:
    """A worker's tap: 'recorded', 'already', 'expired' or 'unknown'. Records every push of the
    same group and slot (a tip and an alert go together), once."""
    stamp = iso(now)
    row = db.execute("SELECT group_id, slot FROM receipts WHERE push_id = ? AND channel = "
                     "'relay'", [push_id]).fetchone()
    if row is None:
        return "unknown"
    changed = db.execute(
        "UPDATE receipts SET state = 'relayed', final_at = ? WHERE group_id = ? AND slot = ? "
        "AND channel = 'relay' AND state = 'awaiting' AND expires_at > ?",
        [stamp, row[0], row[1], stamp]).rowcount
    if changed:
        return "recorded"
    states = {r[0] for r in db.execute(
        "SELECT state FROM receipts WHERE group_id = ? AND slot = ? AND channel = 'relay'",
        row).fetchall()}
    return "already" if "relayed" in states else "expired"


def expire_relays(db, now: datetime) -> int:
    stamp = iso(now)
    return db.execute("UPDATE receipts SET state = 'expired', final_at = expires_at WHERE "
                      "channel = 'relay' AND state = 'awaiting' AND expires_at <= ?",
                      [stamp]).rowcount


def due_reminders(db, now: datetime, tz, reminder_time: str) -> dict[str, list[dict]]:
    """Unconfirmed relays whose worker has not been reminded, once the reminder time of the day
    after the hand-over has come: {worker id: rows}."""
    hour, minute = (int(x) for x in reminder_time.split(":"))
    out: dict[str, list[dict]] = {}
    for push_id, group_id, slot, route, handed_at, expires_at in db.execute(
            "SELECT push_id, group_id, slot, route, handed_at, expires_at FROM receipts WHERE "
            "channel = 'relay' AND state = 'awaiting' AND reminded_at IS NULL AND expires_at > ?"
            " ORDER BY push_id", [iso(now)]).fetchall():
        local = datetime.fromisoformat(handed_at).astimezone(tz)
        remind_at = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0,
                                                        microsecond=0)
        if now >= remind_at:
            out.setdefault(route, []).append({"push_id": push_id, "group_id": group_id,
                                              "slot": slot, "expires_at": expires_at})
    return out


def mark_reminded(db, push_ids, now: datetime) -> None:
    for push_id in push_ids:
        db.execute("UPDATE receipts SET reminded_at = ? WHERE push_id = ?", [iso(now), push_id])


# -- for the console and the reports -------------------------------------------------------------
RECEIPT_COLUMNS = ("push_id", "group_id", "slot", "channel", "route", "msgid", "chat_id",
                   "state", "detail", "handed_at", "final_at", "expires_at", "reminded_at")


def receipts_for(db, push_ids) -> dict[int, dict]:
    ids = list(push_ids)
    if not ids:
        return {}
    rows = db.execute(f"SELECT {', '.join(RECEIPT_COLUMNS)} FROM receipts WHERE push_id IN "
                      f"({', '.join('?' * len(ids))})", ids).fetchall()
    return {r[0]: dict(zip(RECEIPT_COLUMNS, r)) for r in rows}


def _window(column: str) -> str:
    # Slots carry their offset: compare as instants (julianday), as bot.reporting.weekly does.
    return f"julianday({column}) >= julianday(?) AND julianday({column}) < julianday(?)"


def relayed_by_group(db, start: datetime, end: datetime) -> dict[str, int]:
    """{group_id: messages a grid worker confirmed relaying} for slots in [start, end)."""
    return dict(db.execute(
        f"SELECT group_id, COUNT(*) FROM receipts WHERE state = 'relayed' AND {_window('slot')} "
        "GROUP BY group_id", [start.isoformat(), end.isoformat()]).fetchall())


def confirmed_by_group(db, start: datetime, end: datetime) -> dict[str, int]:
    """{group_id: messages WeCom confirmed sent to the customer group} for slots in [start, end)."""
    return dict(db.execute(
        f"SELECT group_id, COUNT(*) FROM receipts WHERE state = 'confirmed' AND "
        f"{_window('slot')} GROUP BY group_id", [start.isoformat(), end.isoformat()]).fetchall())


DELIVERY_KINDS = ("robot_sent", "outbox", "customer_group_confirmed", "relayed",
                  "awaiting", "not_arrived")


def delivery_summary(db, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Per group, for slots in [start, end): ``robot_sent`` (a WeCom robot took it),
    ``outbox`` (written locally), ``customer_group_confirmed`` (WeCom says the customer group got
    it), ``relayed`` (a grid worker tapped the link), ``awaiting`` (handed over, no answer yet),
    ``not_arrived`` (not sent by the owner, refused by WeCom, or the relay link expired)."""
    out: dict[str, dict[str, int]] = {}

    def add(group_id, kind, n):
        out.setdefault(group_id, dict.fromkeys(DELIVERY_KINDS, 0))[kind] += n

    params = [start.isoformat(), end.isoformat()]
    for group_id, channel, n in db.execute(
            f"SELECT group_id, channel, COUNT(*) FROM pushes WHERE status = 'sent' AND "
            f"channel IN ('wecom_robot', 'outbox') AND {_window('slot')} "
            "GROUP BY group_id, channel", params).fetchall():
        add(group_id, "robot_sent" if channel == "wecom_robot" else "outbox", n)
    kinds = {"confirmed": "customer_group_confirmed", "relayed": "relayed",
             "awaiting": "awaiting", "not_sent": "not_arrived", "failed": "not_arrived",
             "expired": "not_arrived"}
    for group_id, state, n in db.execute(
            f"SELECT r.group_id, r.state, COUNT(*) FROM receipts r JOIN pushes p "
            f"ON p.id = r.push_id WHERE p.status = 'sent' AND {_window('r.slot')} "
            "GROUP BY r.group_id, r.state", params).fetchall():
        if state in kinds:
            add(group_id, kinds[state], n)
    return out
