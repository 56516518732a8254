"""The admin blueprint and what every view shares: the page clock."""
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
