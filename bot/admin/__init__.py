"""The admin console at /admin: server-rendered pages for community police and 综治中心 staff.

Views only: one blueprint, each area a module registering its views on it (sign_in, editor,
inbox, push_status, dashboard, statistics); every change goes through a service outside this
package (``bot.content.editing``, ``bot.accounts``, ``bot.pushing.alerts`` / ``health``). Every view needs a signed-in account (``login_required``);
account management needs the ``admin`` role. CSRF protection (Flask-WTF) covers every form.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app

bp = Blueprint("admin", __name__, url_prefix="/admin")


def local_now() -> datetime:
    """Now in the scheduler's time zone. ``app.config["NOW"]`` fixes it (tests), so pages that
    show "last week" or "next push" do not depend on when the test runs."""
    tz = ZoneInfo(current_app.config["SETTINGS"].scheduler.timezone)
    fixed = current_app.config.get("NOW")
    return fixed.astimezone(tz) if fixed else datetime.now(tz)


from . import dashboard, editor, inbox, push_status, sign_in, statistics  # noqa: E402,F401
