"""Weekly pushes against a fake WeCom server, with time passed in (never slept through)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.storage.db import make_db_factory
from bot.config import settings_from_mapping
from bot.content.model import Tip
from bot.storage.library import init_db
from bot.errors import ConfigError
from bot.pushing.schedule import next_slot, slots_between
from bot.pushing.pusher import Pusher
from bot.pushing.tips import choose_tip_for, render_tip
from conftest import make_settings
from fake_wecom import FakeWeCom

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


class FakeClock:
    """time.time and time.sleep for the code under test, shared by many threads.

    A thread that sleeps wakes at the time it last read plus the sleep; the clock moves to
    max(now, that wake time). So 20 threads that each wait out the same 60 s window move the
    clock 60 s, as real time would, not 20 x 60 s."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.slept = 0.0
        self._lock = threading.Lock()
        self._seen = threading.local()

    def time(self) -> float:
        with self._lock:
            self._seen.at = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            wake = getattr(self._seen, "at", self.now) + seconds
            self.now = max(self.now, wake)
            self._seen.at = self.now
            self.slept += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def wecom(clock):
    fake = FakeWeCom(clock=clock.time).start()
    yield fake
    fake.stop()


def group(gid, channel="wecom_robot", key=None, schedule=("mon 09:00",), audiences=("elderly",),
          **extra):
    g = {"id": gid, "name": f"群{gid}", "area": "东村", "audiences": list(audiences),
         "schedule": list(schedule), "channel": channel, **extra}
    if channel == "wecom_robot":
        g["robot_key"] = key or f"key-{gid}"
    return g


def push_settings(tmp_path, groups, base_url="http://127.0.0.1:9", **scheduler):
    return make_settings(tmp_path, groups, wecom={"base_url": base_url}, scheduler=scheduler)


@pytest.fixture
def setup(tmp_path, content_dir, clock, wecom):
    """Build (settings, pusher, db) for a list of group tables."""
    def build(groups, **scheduler):
        settings = push_settings(tmp_path, groups, wecom.base_url, **scheduler)
        db_factory = make_db_factory(settings.database.path)
        init_db(db_factory(), content_dir)
        return settings, Pusher(settings, db_factory, clock.time, clock.sleep), db_factory()
    return build


def rows(db, **where):
    clause = " AND ".join(f"{k} = ?" for k in where) or "1"
    return list(db["pushes"].rows_where(clause, list(where.values()), order_by="id"))


# -- schedules and choosing ------------------------------------------------------------------

def test_slots_are_weekly_in_shanghai_time(tmp_path, content_dir):
    s = push_settings(tmp_path, [group("a", "outbox", schedule=["mon 09:00", "周四 19:30"])])
    slots = slots_between(s.groups[0], MONDAY_9 - timedelta(minutes=1), MONDAY_9 + timedelta(days=7), TZ)
    assert [t.isoformat() for t in slots] == [
        "2026-11-23T09:00:00+08:00", "2026-11-26T19:30:00+08:00", "2026-11-30T09:00:00+08:00"]
    assert next_slot(s.groups[0], MONDAY_9, TZ).isoformat() == "2026-11-26T19:30:00+08:00"


@pytest.mark.parametrize("bad, key", [
    ({"schedule": ["monday 9am"]}, "schedule"),
    ({"schedule": []}, "schedule"),
    ({"audiences": ["martians"]}, "audiences"),
    ({"channel": "pigeon"}, "channel"),
    ({"msgtype": "news"}, "msgtype"),
])
def test_bad_group_config_names_group_and_key(tmp_path, content_dir, bad, key):
    with pytest.raises(ConfigError) as exc:
        push_settings(tmp_path, [{**group("a", "outbox"), **bad}])
    assert exc.value.message.startswith(f"groups[0] (a).{key}:")


def test_robot_key_comes_from_the_environment(tmp_path, content_dir):
    g = {**group("a", "outbox"), "channel": "wecom_robot", "robot_key_env": "KEY_A"}
    s = settings_from_mapping({"groups": [g]}, base_dir=tmp_path, environ={"KEY_A": "key-secret"})
    assert s.groups[0].robot_key == "key-secret"
    assert "key-secret" not in repr(s.groups[0])


def tip(tid, audiences=("elderly",), seasons=()):
    return Tip(id=tid, title=tid, audiences=tuple(audiences), categories=("general",),
               seasons=tuple(seasons), body="正文")


def test_tip_choice_never_repeats_until_the_pool_is_exhausted(tmp_path, content_dir):
    s = push_settings(tmp_path, [group("a", "outbox")])
    tips = [tip("t1"), tip("t2"), tip("t3", audiences=("students",)), tip("t4", ("general",))]
    history, chosen = {}, []
    for week in range(6):
        slot = MONDAY_9 + timedelta(weeks=week)
        t = choose_tip_for(s.groups[0], slot, tips, history)
        chosen.append(t.id)
        history[t.id] = slot.isoformat()
    # own audience first, then general; never the students' tip; then oldest first again
    assert chosen == ["t1", "t2", "t4", "t1", "t2", "t4"]


def test_seasonal_tips_are_preferred_in_season_and_kept_for_last_out_of_it(tmp_path, content_dir):
    g = push_settings(tmp_path, [group("a", "outbox")]).groups[0]
    tips = [tip("a-plain"), tip("z-double11", seasons=["双十一"])]
    nov = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
    assert choose_tip_for(g, nov, tips, {}).id == "z-double11"
    assert choose_tip_for(g, nov + timedelta(days=60), tips, {}).id == "a-plain"


# -- delivering --------------------------------------------------------------------------------

def test_due_slot_is_sent_once_with_the_right_payload(setup, wecom):
    settings, pusher, db = setup([group("a", mentioned_list=["@all"]), group("b", "outbox")])
    report = pusher.run_due(MONDAY_9)
    assert (report.sent, report.failed) == (2, 0)
    (msg,) = wecom.messages_for("key-a")
    assert msg["body"]["msgtype"] == "text" and msg["body"]["text"]["mentioned_list"] == ["@all"]
    assert msg["body"]["text"]["content"].startswith("【反诈提醒】")
    outbox = list(db["outbox"].rows)
    assert len(outbox) == 1 and outbox[0]["group_id"] == "b"
    again = pusher.run_due(MONDAY_9 + timedelta(seconds=30))
    assert again.details == [] and len(wecom.received) == 1
    assert [r["status"] for r in rows(db)] == ["sent", "sent"]


def test_markdown_groups_get_markdown(setup, wecom):
    settings, pusher, db = setup([group("a", msgtype="markdown")])
    pusher.run_due(MONDAY_9)
    assert wecom.received[0]["body"]["msgtype"] == "markdown"


def test_every_tip_fits_the_wecom_limits(content_dir, tmp_path):
    from bot.content.model import load_content
    for t in load_content(content_dir).tips:
        m = render_tip(t)
        assert len(m.text.encode()) <= 2048 and len(m.markdown.encode()) <= 4096, t.id


def test_network_errors_and_5xx_are_retried_with_backoff_and_bounded(setup, wecom):
    settings, pusher, db = setup([group("a")], max_attempts=3, retry_backoff_seconds=30)
    wecom.fail_next(1, "http500")
    pusher.run_due(MONDAY_9)
    (row,) = rows(db)
    assert row["status"] == "failed" and row["attempts"] == 1 and "HTTP 500" in row["errmsg"]
    assert row["next_attempt_at"] == (MONDAY_9 + timedelta(seconds=30)).isoformat()
    assert pusher.run_due(MONDAY_9 + timedelta(seconds=10)).retried == 0  # not yet
    wecom.fail_next(1, "http500")   # a dropped connection may have arrived: test_push_unknown
    pusher.run_due(MONDAY_9 + timedelta(seconds=31))
    (row,) = rows(db)
    assert row["attempts"] == 2 and "HTTP 500" in row["errmsg"]
    assert row["next_attempt_at"] == (MONDAY_9 + timedelta(seconds=31 + 60)).isoformat()
    pusher.run_due(MONDAY_9 + timedelta(seconds=95))
    (row,) = rows(db)
    assert row["status"] == "sent" and row["attempts"] == 3 and len(wecom.received) == 1


def test_retries_stop_after_max_attempts(setup, wecom):
    settings, pusher, db = setup([group("a")], max_attempts=2, retry_backoff_seconds=10)
    wecom.fail_next(10, "http500")
    t = MONDAY_9
    for _ in range(5):
        pusher.run_due(t)
        t += timedelta(minutes=5)
    (row,) = rows(db)
    assert row["status"] == "failed" and row["attempts"] == 2 and row["next_attempt_at"] is None
    assert wecom.requests == 2


def test_frequency_limit_waits_a_minute_then_retries(setup, wecom):
    settings, pusher, db = setup([group("a")])
    wecom.fail_next(1, 45009)
    pusher.run_due(MONDAY_9)
    (row,) = rows(db)
    assert row["errcode"] == 45009 and row["status"] == "failed"
    assert row["next_attempt_at"] == (MONDAY_9 + timedelta(seconds=60)).isoformat()
    pusher.run_due(MONDAY_9 + timedelta(seconds=60))
    assert rows(db)[0]["status"] == "sent"


def test_bad_key_marks_group_unhealthy_and_the_rest_keep_going(setup, wecom):
    settings, pusher, db = setup([group("bad", key="nokey-x"), group("good")])
    pusher.run_due(MONDAY_9)
    bad = rows(db, group_id="bad")[0]
    assert bad["status"] == "failed" and bad["errcode"] == 93000 and bad["next_attempt_at"] is None
    assert rows(db, group_id="good")[0]["status"] == "sent"
    health = db["group_health"].get("bad")
    assert health["healthy"] == 0 and health["errcode"] == 93000
    pusher.run_due(MONDAY_9 + timedelta(weeks=1))
    assert [r["status"] for r in rows(db, group_id="bad")] == ["failed", "skipped"]
    assert wecom.requests == 3  # bad once, good twice: no more calls with the bad key


def test_fixing_the_key_makes_the_group_healthy_again(setup, wecom, tmp_path, content_dir, clock):
    settings, pusher, db = setup([group("a", key="nokey-x")])
    pusher.run_due(MONDAY_9)
    fixed = push_settings(tmp_path, [group("a", key="key-a")], wecom.base_url)
    pusher2 = Pusher(fixed, make_db_factory(fixed.database.path), clock.time, clock.sleep)
    pusher2.run_due(MONDAY_9 + timedelta(weeks=1))
    assert rows(db)[-1]["status"] == "sent"


def test_one_robot_never_gets_more_than_20_a_minute(setup, wecom, clock):
    # 25 groups share one robot: the sender waits for the window instead of hitting 45009.
    groups = [group(f"g{i}", key="key-shared") for i in range(25)]
    settings, pusher, db = setup(groups)
    report = pusher.run_due(MONDAY_9)
    assert report.sent == 25 and report.failed == 0
    times = sorted(m["at"] for m in wecom.received)
    for i in range(len(times)):
        assert sum(1 for t in times if times[i] <= t < times[i] + 60) <= 20
    assert clock.slept >= 59  # time moved on the fake clock; nobody slept for real


def test_missed_slots_are_sent_late_within_grace_else_recorded(setup, wecom):
    settings, pusher, db = setup([group("a", schedule=["mon 09:00", "thu 19:30"])], grace_hours=6)
    pusher.run_due(MONDAY_9 - timedelta(days=3))           # scheduler ran last Friday
    # ... then was down until Thursday 21:00: Monday's slot is beyond grace, Thursday's is not
    report = pusher.run_due(datetime(2026, 11, 26, 21, 0, tzinfo=TZ))
    assert (report.missed, report.sent) == (1, 1)
    statuses = {r["slot"]: r["status"] for r in rows(db)}
    assert statuses == {"2026-11-23T09:00:00+08:00": "missed",
                        "2026-11-26T19:30:00+08:00": "sent"}


def test_first_run_does_not_invent_missed_slots(setup):
    settings, pusher, db = setup([group("a")])
    pusher.run_due(MONDAY_9 + timedelta(days=2))
    assert rows(db) == []


def test_crash_mid_send_leaves_unknown_which_is_never_resent(setup, wecom):
    settings, pusher, db = setup([group("a")])
    db["pushes"].insert({"group_id": "a", "slot": MONDAY_9.isoformat(), "message_key": "tip",
                         "item_kind": "tip", "item_id": "tip-x", "channel": "wecom_robot",
                         "status": "sending", "attempts": 1})
    assert pusher.recover() == 1
    pusher.run_due(MONDAY_9 + timedelta(minutes=1))
    (row,) = rows(db)
    assert row["status"] == "unknown" and wecom.requests == 0


def test_unique_key_makes_a_double_send_impossible_to_record(setup):
    import sqlite3
    settings, pusher, db = setup([group("a")])
    pusher.run_due(MONDAY_9)
    with pytest.raises(sqlite3.IntegrityError):
        db["pushes"].insert({"group_id": "a", "slot": MONDAY_9.isoformat(), "message_key": "tip",
                             "status": "sending", "attempts": 1})


def test_alert_goes_once_to_targeted_groups_at_their_next_slot(setup, wecom):
    settings, pusher, db = setup([group("a"), group("b"), group("c", schedule=["tue 10:00"])])
    db["alerts"].insert({"item_kind": "case", "item_id": "loan-upfront-fee",
                         "groups": json.dumps(["a", "c"]), "note": "本周多发",
                         "created_at": (MONDAY_9 - timedelta(days=1)).isoformat(), "active": 1})
    pusher.run_due(MONDAY_9)
    a = [m["body"]["text"]["content"] for m in wecom.messages_for("key-a")]
    assert len(a) == 2 and any(c.startswith("【本周预警】") for c in a)
    assert len(wecom.messages_for("key-b")) == 1          # not targeted
    assert len(wecom.messages_for("key-c")) == 0          # its slot is tomorrow
    pusher.run_due(MONDAY_9 + timedelta(days=1, hours=1))
    assert len(wecom.messages_for("key-c")) == 2
    pusher.run_due(MONDAY_9 + timedelta(weeks=1))
    assert len(wecom.messages_for("key-a")) == 3          # next week: the tip only


def test_alert_and_tip_to_one_robot_in_a_minute_respect_the_limit(setup, wecom):
    groups = [group(f"g{i}", key="key-one") for i in range(12)]
    settings, pusher, db = setup(groups)
    db["alerts"].insert({"item_kind": "tip", "item_id": "tip-acq-ai-face", "groups": None,
                         "created_at": (MONDAY_9 - timedelta(hours=1)).isoformat(), "active": 1})
    report = pusher.run_due(MONDAY_9)
    assert report.sent == 24 and report.failed == 0
    times = sorted(m["at"] for m in wecom.received)
    assert all(sum(1 for t in times if s <= t < s + 60) <= 20 for s in times)


def test_push_now_is_recorded_like_any_push(setup, wecom):
    settings, pusher, db = setup([group("a")])
    job, outcome = pusher.push_now(settings.groups[0], MONDAY_9 + timedelta(hours=3))
    assert outcome == "sent" and rows(db)[0]["message_key"].startswith("manual:")
    pusher.run_due(MONDAY_9 + timedelta(weeks=1))
    ids = [r["item_id"] for r in rows(db)]
    assert len(set(ids)) == 2   # the scheduled tip is not the one just pushed by hand
