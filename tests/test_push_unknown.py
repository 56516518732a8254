"""Issue 8, item 14: a WeCom send whose answer is lost may have arrived. A read timeout, a
dropped connection after sending or a 200 whose body is not JSON is recorded ``unknown`` and
never resent; only failures that certainly did not reach WeCom (no connection, 5xx, 45009) are
retried. Against tests/fake_wecom.py, which accepts the message and then answers late or badly.
"""
from __future__ import annotations

import socket
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import settings_from_mapping
from bot.pushing.pusher import Pusher
from bot.storage.db import make_db_factory
from bot.storage.library import init_db
from fake_wecom import FakeWeCom

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
GROUPS = [{"id": f"g{i}", "name": f"群{i}", "area": "东村", "audiences": ["elderly"],
           "schedule": ["mon 09:00"], "channel": "wecom_robot", "robot_key": f"key-g{i}"}
          for i in range(3)]


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def wecom(clock):
    fake = FakeWeCom(clock=clock.time, late_seconds=1.5).start()
    yield fake
    fake.stop()


def pusher_for(tmp_path, content_dir, clock, base_url, groups=GROUPS):
    settings = settings_from_mapping({
        "database": {"path": str(tmp_path / "bot.db")},
        "content": {"dir": str(content_dir)},
        "wecom": {"base_url": base_url},
        "scheduler": {"lock_path": str(tmp_path / "scheduler.lock"), "send_timeout_seconds": 1,
                      "retry_backoff_seconds": 30, "max_attempts": 5},
        "groups": groups,
    }, base_dir=tmp_path, environ={})
    db_factory = make_db_factory(settings.database.path)
    init_db(db_factory(), content_dir)
    return Pusher(settings, db_factory, clock.time, clock.sleep), db_factory()


def pushes(db) -> list[dict]:
    return list(db["pushes"].rows_where(order_by="group_id"))


def run_later(pusher):
    """Ticks over the next hours of (fake) time: anything retryable would be retried."""
    for minutes in (2, 300):
        pusher.run_due(MONDAY_9 + timedelta(minutes=minutes))


@pytest.mark.parametrize("how", ["late", "not_json", "disconnect"])
def test_a_send_whose_answer_is_lost_is_unknown_and_never_resent(tmp_path, content_dir, clock,
                                                                  wecom, how):
    pusher, db = pusher_for(tmp_path, content_dir, clock, wecom.base_url)
    wecom.fail_next(len(GROUPS), how)
    report = pusher.run_due(MONDAY_9)
    assert report.unknown == len(GROUPS) and report.failed == 0
    run_later(pusher)
    rows = pushes(db)
    assert [r["status"] for r in rows] == ["unknown"] * len(GROUPS)
    assert all(r["next_attempt_at"] is None and r["attempts"] == 1 for r in rows)
    assert all("可能已送达" in r["errmsg"] for r in rows)
    assert wecom.requests == len(GROUPS)                  # not one resend
    if how != "disconnect":                               # these arrived: once each
        assert sorted(m["key"] for m in wecom.received) == [g["robot_key"] for g in GROUPS]
    assert all(h["healthy"] for h in db["group_health"].rows)   # not a fault of the group


@pytest.mark.parametrize("how, errmsg", [("http500", "HTTP 500"), (45009, "injected")])
def test_failures_that_did_not_reach_wecom_are_retried(tmp_path, content_dir, clock, wecom, how,
                                                       errmsg):
    pusher, db = pusher_for(tmp_path, content_dir, clock, wecom.base_url, GROUPS[:1])
    wecom.fail_next(1, how)
    pusher.run_due(MONDAY_9)
    (row,) = pushes(db)
    assert row["status"] == "failed" and row["next_attempt_at"] and errmsg in row["errmsg"]
    run_later(pusher)
    (row,) = pushes(db)
    assert row["status"] == "sent" and len(wecom.received) == 1


def test_no_connection_at_all_is_retried(tmp_path, content_dir, clock):
    with socket.socket() as s:          # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pusher, db = pusher_for(tmp_path, content_dir, clock, f"http://127.0.0.1:{port}", GROUPS[:1])
    pusher.run_due(MONDAY_9)
    (row,) = pushes(db)
    assert row["status"] == "failed" and "network error" in row["errmsg"]
    assert row["next_attempt_at"] == (MONDAY_9 + timedelta(seconds=30)).isoformat()
