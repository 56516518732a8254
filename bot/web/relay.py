"""``/r/<token>``: where a grid worker's tap on "已转发到 <群名>" lands. Public, no login.

The page says only 已记录, 已记录过 or 链接已过期 (or that the link is not valid): no group name, no
worker, nothing another person could learn from a forwarded link. A tap is a GET because the
link is opened by WeCom's in-app browser with one tap; the signed token and the receipt's state
make a repeated or forged tap harmless.
"""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone

from flask import Blueprint, current_app, render_template

from ..pushing import receipts
from ..pushing.relay_links import read_token

bp = Blueprint("relay", __name__)
BUSY_RETRY_SECONDS = 0.0002   # the other worker holds the write lock for tens of microseconds
BUSY_GIVE_UP_SECONDS = 4.0

PAGES = {
    "recorded": (200, "已记录", "谢谢！已记录您转发了这条反诈提醒。"),
    "already": (200, "已记录过", "这条提醒的转发之前已经记录过了，不用再点。"),
    "expired": (410, "链接已过期", "这个链接已过期，不能再记录。如已转发，请告诉您的联系民警或综治中心。"),
    "invalid": (404, "链接无效", "这个链接无效，请检查是否完整。"),
}


def now() -> datetime:
    """The page's clock (tests set app.config['NOW'])."""
    return current_app.config.get("NOW") or datetime.now(timezone.utc)


def record_tap(db, push_id: int, moment: datetime) -> str:
    """``receipts.confirm_relay`` on a connection without a busy timeout, retried at once when
    the other worker holds the write lock: SQLite's own busy handler sleeps 1 ms, then longer,
    which is what made the slowest taps slow."""
    deadline = time.monotonic() + BUSY_GIVE_UP_SECONDS
    while True:
        try:
            return receipts.confirm_relay(db, push_id, moment)
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or \
                    time.monotonic() > deadline:
                raise
            time.sleep(BUSY_RETRY_SECONDS)


@bp.get("/r/<token>")
def tap(token: str):
    settings = current_app.config["SETTINGS"]
    parsed = read_token(settings.relay.secret, token)
    moment = now()
    if parsed is None:
        outcome = "invalid"
    elif parsed[1] <= moment.timestamp():
        outcome = "expired"
    else:
        outcome = record_tap(current_app.extensions["relay_db"](), parsed[0], moment)
        outcome = "invalid" if outcome == "unknown" else outcome
    status, title, text = PAGES[outcome]
    cache = current_app.extensions.setdefault("relay_pages", {})
    if outcome not in cache:     # four fixed pages: rendered once per process
        cache[outcome] = render_template("relay.html", title=title, text=text, ok=status == 200)
    return cache[outcome], status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
