"""Customer-group mass send, grid-worker relay and the WeCom app token, against the fake WeCom
API (tests/fake_wecom_api.py) with the fake clock: time is passed in, never slept through."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from bot import create_app
from bot.accounts import create_account
from bot.config import settings_from_mapping
from bot.errors import ConfigError
from bot.pushing import receipts
from bot.pushing.channels.relay import compose
from bot.pushing.planner import GroupHistory, plan
from bot.pushing.pusher import Pusher
from bot.pushing.relay_links import make_token, read_token
from bot.pushing.wecom_api import WeComApi
from bot.storage.db import make_db_factory
from bot.storage.library import init_db, load_library
from conftest import CONTENT_DIR, make_settings, test_config
from fake_wecom_api import AGENT_ID, CORP_ID, SECRET, FakeWeComApi
from processes import stop_process
from test_admin_stats import log_in
from test_scheduler import FakeClock

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
WECOM = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "app_secret": SECRET}
RELAY_SECRET = "relay-test-secret-0123"


@pytest.fixture
def clock():
    # The fake clock starts at Monday 09:00 so token expiry and slot times agree.
    return FakeClock(MONDAY_9.timestamp())


@pytest.fixture
def api(clock):
    fake = FakeWeComApi(members={"zhang", "li"}, owners={"owner1": {"wr-a", "wr-b"},
                                                          "owner2": {"wr-c"}},
                        clock=clock.time).start()
    yield fake
    fake.stop()


def customer_group(gid, owner="owner1", schedule=("mon 09:00",), **extra):
    return {"id": gid, "name": f"客户群{gid}", "area": "东村", "audiences": ["elderly"],
            "schedule": list(schedule), "channel": "wecom_customer_group", "owner": owner,
            "chat_id": f"wr-{gid}", **extra}


def relay_group(gid, worker="w1", area="东村", **extra):
    return {"id": gid, "name": f"{gid}村群", "area": area, "audiences": ["elderly"],
            "schedule": ["mon 09:00"], "channel": "relay", "relay_by": worker, **extra}


WORKERS = [{"id": "w1", "name": "张网格员", "userid": "zhang"},
           {"id": "w2", "name": "李网格员", "robot_key": "key-worker-group"}]


def build(tmp_path, clock, api, groups, workers=WORKERS, **sections):
    config = {"wecom": {"base_url": api.base_url, **WECOM},
              "relay": {"secret": RELAY_SECRET}, **sections}
    settings = settings_from_mapping({**test_config(tmp_path, groups, **config),
                                      "grid_workers": list(workers)}, base_dir=tmp_path,
                                     environ={})
    db_factory = make_db_factory(settings.database.path)
    init_db(db_factory(), CONTENT_DIR)
    return settings, Pusher(settings, db_factory, clock.time, clock.sleep), db_factory()


def at(clock, moment: datetime) -> datetime:
    """Move the fake clock (the fake server's too) to ``moment`` and return it as ``now``."""
    clock.now = max(clock.now, moment.timestamp())
    return moment


def receipt_rows(db):
    return list(db["receipts"].rows_where(order_by="push_id"))


# -- configuration ------------------------------------------------------------------------------

def test_relay_group_needs_a_known_grid_worker(tmp_path):
    with pytest.raises(ConfigError) as exc:
        make_settings(tmp_path, [relay_group("a", worker="nobody")])
    assert exc.value.message.startswith("groups[0] (a).relay_by:")


def test_customer_group_needs_owner_chat_and_app_secret(tmp_path):
    with pytest.raises(ConfigError) as exc:
        make_settings(tmp_path, [{**customer_group("a"), "owner": ""}], wecom=WECOM)
    assert exc.value.message.startswith("groups[0] (a).owner:")
    with pytest.raises(ConfigError) as exc:
        make_settings(tmp_path, [customer_group("a")], wecom={"corp_id": CORP_ID})
    assert exc.value.message.startswith("wecom.app_secret:")


def test_grid_worker_needs_a_way_to_reach_them(tmp_path):
    with pytest.raises(ConfigError) as exc:
        settings_from_mapping({"grid_workers": [{"id": "w1", "name": "x"}]}, environ={})
    assert exc.value.message.startswith("grid_workers[0] (w1).userid:")


# -- the shared token ---------------------------------------------------------------------------

def test_token_is_shared_across_processes_and_refreshed_once_on_expiry(tmp_path, clock, api):
    settings, _, db = build(tmp_path, clock, api, [], workers=[])
    db_factory = make_db_factory(settings.database.path)
    first = WeComApi(settings, db_factory, clock.time, clock.sleep)
    second = WeComApi(settings, db_factory, clock.time, clock.sleep)   # another process
    body = {"touser": "zhang", "msgtype": "text", "agentid": AGENT_ID, "text": {"content": "hi"}}
    assert first.post("message/send", body).ok
    assert second.post("message/send", body).ok
    assert api.gettoken_calls == 1                 # the second found it in the database
    api.expire_tokens()                            # WeCom: 42001 from now on for that token
    assert second.post("message/send", body).ok
    assert api.gettoken_calls == 2
    clock.now += 7200                              # our own record says it expired
    assert first.post("message/send", body).ok
    assert api.gettoken_calls == 3


def test_two_processes_needing_a_token_at_once_fetch_it_once(tmp_path, clock, api):
    """Real time here: the race needs a gettoken that takes a while (the fake adds 0.2 s)."""
    import threading
    import time
    settings, _, _ = build(tmp_path, clock, api, [], workers=[])
    api.clock = time.time
    api.delay = 0.2
    db_factory = make_db_factory(settings.database.path)
    clients = [WeComApi(settings, db_factory, time.time, time.sleep) for _ in range(3)]
    tokens = []
    threads = [threading.Thread(target=lambda c=c: tokens.append(c.token())) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert api.gettoken_calls == 1 and len(set(tokens)) == 1 and len(tokens) == 3


def test_token_refresh_is_bounded_when_wecom_keeps_refusing(tmp_path, clock, api):
    settings, _, _ = build(tmp_path, clock, api, [], workers=[])
    client = WeComApi(settings, make_db_factory(settings.database.path), clock.time, clock.sleep)
    api.fail_api("message/send", 40014, n=5)
    result = client.post("message/send", {"touser": "zhang"})
    assert not result.ok and result.errcode == 40014
    assert api.calls["message/send"] == 2 and api.gettoken_calls == 2   # one refresh, one retry


def test_bad_secret_is_an_error_not_a_loop(tmp_path, clock, api):
    settings, _, _ = build(tmp_path, clock, api, [], workers=[],
                           )
    settings = settings.replace(wecom={"app_secret": "wrong-secret"})
    client = WeComApi(settings, make_db_factory(settings.database.path), clock.time, clock.sleep)
    result = client.post("message/send", {})
    assert (result.ok, result.errcode) == (False, 40001)
    assert api.gettoken_calls == 1 and api.calls["message/send"] == 0


# -- customer groups ----------------------------------------------------------------------------

def test_customer_group_task_is_polled_until_wecom_reports_each_group(tmp_path, clock, api):
    groups = [customer_group("a"), customer_group("b"), customer_group("c", owner="owner2")]
    settings, pusher, db = build(tmp_path, clock, api, groups, workers=[])
    report = pusher.run_due(MONDAY_9)
    assert report.sent == 3
    # one task per owner: owner1's two groups in one chat_id_list
    tasks = sorted(api.tasks.values(), key=lambda t: t["sender"])
    assert [(t["sender"], sorted(t["chats"])) for t in tasks] == [
        ("owner1", ["wr-a", "wr-b"]), ("owner2", ["wr-c"])]
    assert {r["state"] for r in receipt_rows(db)} == {"awaiting"}
    assert all(r["msgid"] for r in receipt_rows(db))
    # the owners have not confirmed: still awaiting, next poll later (backoff)
    pusher.run_due(at(clock, MONDAY_9 + timedelta(minutes=2)))
    assert {r["state"] for r in receipt_rows(db)} == {"awaiting"}
    assert all(r["polls"] == 1 for r in receipt_rows(db))
    # another enterprise mass send reached wr-b today: WeCom will refuse it (status 3)
    api.chat_days[("wr-b", "2026-11-23")] = 1
    api.confirm("owner1")
    pusher.run_due(at(clock, MONDAY_9 + timedelta(minutes=10)))
    states = {r["group_id"]: (r["state"], r["detail"]) for r in receipt_rows(db)}
    assert states["a"][0] == "confirmed"
    assert states["b"] == ("failed", "发送失败：客户群当天已收到其他群发")
    assert states["c"][0] == "awaiting"
    # owner2 never confirms: after poll_give_up_hours the group is recorded not sent
    pusher.run_due(at(clock, MONDAY_9 + timedelta(hours=73)))
    assert {r["group_id"]: r["state"] for r in receipt_rows(db)}["c"] == "not_sent"
    # nothing was created twice
    assert len(api.tasks) == 2
    assert {r["status"] for r in db["pushes"].rows} == {"sent"}


def test_planner_keeps_a_customer_group_to_its_daily_limit(tmp_path):
    settings = make_settings(tmp_path, [customer_group("a", schedule=("mon 09:00", "mon 19:00")),
                                        {**customer_group("r", schedule=("mon 09:00", "mon 19:00")),
                                         "channel": "outbox"}],
                             wecom=WECOM)
    library = load_library(_db(settings), CONTENT_DIR)
    result = plan(settings.groups, (MONDAY_9 - timedelta(minutes=1), MONDAY_9.replace(hour=20)),
                  library, {}, [], MONDAY_9.replace(hour=20), grace=timedelta(hours=12), tz=TZ,
                  public_url="https://x", per_day={"wecom_customer_group": 1})
    planned = [(j.group.id, j.slot.hour) for j in result.jobs]
    assert planned == [("a", 9), ("r", 9), ("r", 19)]
    assert [(j.group.id, j.slot.hour) for j, _ in result.skipped] == [("a", 19)]
    # a day already used up in the log counts as well
    used = {"a": GroupHistory(per_day={"2026-11-23": 1})}
    result = plan(settings.groups[:1], (MONDAY_9 - timedelta(minutes=1), MONDAY_9), library,
                  used, [], MONDAY_9, grace=timedelta(hours=1), tz=TZ, public_url="https://x",
                  per_day={"wecom_customer_group": 1})
    assert result.jobs == [] and len(result.skipped) == 1


def test_an_alert_takes_the_customer_groups_day_and_the_tip_waits(tmp_path, clock, api):
    settings, pusher, db = build(tmp_path, clock, api, [customer_group("a")], workers=[])
    db["alerts"].insert({"item_kind": "case", "item_id": "authority-safe-account-isolation",
                         "groups": None, "note": "t", "active": 1,
                         "created_at": (MONDAY_9 - timedelta(days=1)).isoformat()})
    report = pusher.run_due(MONDAY_9)
    assert (report.sent, report.skipped) == (1, 1)
    rows = {r["message_key"]: r for r in db["pushes"].rows}
    assert rows["alert:1"]["status"] == "sent"
    assert rows["tip"]["status"] == "skipped" and "2026-11-23 已经有 1 条消息了" in rows["tip"]["errmsg"]
    assert len(api.tasks) == 1


def test_wecom_busy_answers_are_retried_later_not_lost(tmp_path, clock, api):
    settings, pusher, db = build(tmp_path, clock, api, [relay_group("dong"),
                                                         customer_group("a")])
    api.fail_api("message/send", 45009)
    api.fail_api("externalcontact/get_groupmsg_task", 41063)
    pusher.run_due(MONDAY_9)
    relay_row = next(db["pushes"].rows_where("group_id = 'dong'"))
    assert relay_row["status"] == "failed" and relay_row["errcode"] == 45009
    assert relay_row["next_attempt_at"] == (MONDAY_9 + timedelta(seconds=60)).isoformat()
    api.confirm("owner1")
    pusher.run_due(at(clock, MONDAY_9 + timedelta(minutes=2)))     # 41063: ask again later
    assert next(db["receipts"].rows_where("group_id = 'a'"))["state"] == "awaiting"
    assert next(db["pushes"].rows_where("group_id = 'dong'"))["status"] == "sent"
    pusher.run_due(at(clock, MONDAY_9 + timedelta(minutes=10)))
    assert next(db["receipts"].rows_where("group_id = 'a'"))["state"] == "confirmed"
    assert len(api.app_messages) == 1 and len(api.tasks) == 1


def _db(settings):
    db = make_db_factory(settings.database.path)()
    init_db(db, CONTENT_DIR)
    return db


# -- grid-worker relay --------------------------------------------------------------------------

def test_relay_sends_each_worker_one_message_and_taps_record_once(tmp_path, clock, api):
    groups = [relay_group("dong"), relay_group("xi"), relay_group("nan", worker="w2")]
    settings, pusher, db = build(tmp_path, clock, api, groups)
    report = pusher.run_due(MONDAY_9)
    assert report.sent == 3
    assert [m["touser"] for m in api.app_messages] == ["zhang"]        # one app message
    text = api.app_messages[0]["content"]
    assert "已转发到 dong村群" in text and "已转发到 xi村群" in text and "nan村群" not in text
    assert [m["key"] for m in api.received] == ["key-worker-group"]    # w2 via the robot
    links = re.findall(r"已转发到 (\S+)：\S+(/r/\S+)", text)
    assert len(links) == 2
    app = create_app(settings)
    app.config["NOW"] = MONDAY_9 + timedelta(hours=3)
    client = app.test_client()
    page = client.get(links[0][1])
    assert page.status_code == 200 and "已记录" in page.text and "村群" not in page.text
    again = client.get(links[0][1])
    assert again.status_code == 200 and "已记录过" in again.text
    states = {r["group_id"]: r["state"] for r in receipt_rows(db)}
    assert states == {"dong": "relayed", "xi": "awaiting", "nan": "awaiting"}
    # a forged or altered link records nothing and says only that it is not valid
    push_id, expires = read_token(RELAY_SECRET, links[1][1].rsplit("/", 1)[1])
    forged = make_token("some-other-secret-xyz", push_id, expires)
    assert client.get(f"/r/{forged}").status_code == 404
    assert client.get(f"/r/{push_id}.{expires + 999999}.{forged.rsplit('.', 1)[1]}"
                      ).status_code == 404
    assert client.get("/r/<script>").status_code == 404
    # past the link's lifetime (72 h): expired, nothing recorded
    app.config["NOW"] = MONDAY_9 + timedelta(hours=73)
    late = client.get(links[1][1])
    assert late.status_code == 410 and "链接已过期" in late.text
    assert {r["group_id"]: r["state"] for r in receipt_rows(db)}["xi"] == "awaiting"


def test_worker_messages_stay_within_wecoms_2048_bytes():
    long_tip = "长" * 660                                   # 1,980 bytes: fits alone only
    items = [(f"村{i}群", long_tip if i < 3 else "短提醒", f"https://x.test/r/{i}.1.sig")
             for i in range(40)]
    messages = compose("张网格员", MONDAY_9, items)
    assert all(len(text.encode()) <= 2048 for text, _ in messages)
    assert messages[0] == (long_tip, [0, 1, 2])            # the long tip on its own, to forward
    with_links = [(t, indexes) for t, indexes in messages if "已转发到" in t]
    carried = sorted(i for _, indexes in with_links for i in indexes)
    assert carried == list(range(40))                      # every group's link goes out once
    assert all(f"已转发到 村{i}群：https://x.test/r/{i}.1.sig" in "".join(t for t, _ in messages)
               for i in range(40))


def test_unconfirmed_relays_get_one_reminder_next_morning(tmp_path, clock, api):
    groups = [relay_group("dong"), relay_group("xi")]
    settings, pusher, db = build(tmp_path, clock, api, groups)
    pusher.run_due(MONDAY_9)
    first = db["receipts"].rows_where("group_id = 'dong'").__next__()
    receipts.confirm_relay(db, first["push_id"], MONDAY_9 + timedelta(hours=1))
    pusher.run_due(at(clock, MONDAY_9 + timedelta(hours=23, minutes=59)))     # Tuesday 08:59: not yet
    assert len(api.app_messages) == 1
    report = pusher.run_due(at(clock, MONDAY_9 + timedelta(days=1)))           # Tuesday 09:00
    assert report.follow_up["relay_reminders"] == 1
    assert len(api.app_messages) == 2
    reminder = api.app_messages[1]["content"]
    assert "还没记录转发" in reminder and "xi村群" in reminder and "dong村群" not in reminder
    pusher.run_due(at(clock, MONDAY_9 + timedelta(days=1, hours=1)))
    pusher.run_due(at(clock, MONDAY_9 + timedelta(days=2)))
    assert len(api.app_messages) == 2                               # one reminder only
    pusher.run_due(at(clock, MONDAY_9 + timedelta(days=3, minutes=1)))          # past 72 h
    assert {r["group_id"]: r["state"] for r in receipt_rows(db)} == {
        "dong": "relayed", "xi": "expired"}


def test_a_send_that_may_have_arrived_is_unknown_and_never_resent(tmp_path, clock, api):
    settings, pusher, db = build(tmp_path, clock, api, [relay_group("dong")])
    api.fail_api("message/send", 81013)           # permanent: the worker is not a member
    pusher.run_due(MONDAY_9)
    row = next(db["pushes"].rows)
    assert (row["status"], row["errcode"], row["next_attempt_at"]) == ("failed", 81013, None)
    # a lost answer: the fake answers too late for our 1 s timeout
    settings, pusher, db = build(tmp_path / "b", clock, api, [relay_group("xi")],
                                 wecom={"base_url": api.base_url, **WECOM,
                                        "api_timeout_seconds": 1})
    WeComApi(settings, make_db_factory(settings.database.path), clock.time,
             clock.sleep).token()               # fetch the token while the fake is quick
    api.delay = 1.3
    try:
        pusher.run_due(MONDAY_9)
    finally:
        api.delay = 0
    row = next(db["pushes"].rows)
    assert row["status"] == "unknown" and row["next_attempt_at"] is None
    pusher.run_due(at(clock, MONDAY_9 + timedelta(minutes=30)))
    assert next(db["pushes"].rows)["attempts"] == 1


# -- reports ------------------------------------------------------------------------------------

def test_delivery_summary_tells_robot_confirmed_and_relayed_apart(tmp_path, clock, api):
    groups = [relay_group("dong"), customer_group("a"),
              {"id": "r", "name": "机器人群", "area": "西村", "audiences": ["elderly"],
               "schedule": ["mon 09:00"], "channel": "wecom_robot", "robot_key": "key-r"}]
    settings, pusher, db = build(tmp_path, clock, api, groups, admin={"cookie_secure": False})
    pusher.run_due(MONDAY_9)
    api.confirm("owner1")
    app = create_app(settings)
    app.config["NOW"] = MONDAY_9 + timedelta(hours=2)
    client = app.test_client()
    link = re.search(r"/r/\S+", api.app_messages[0]["content"]).group(0)
    assert "已记录" in client.get(link).text
    pusher.run_due(at(clock, MONDAY_9 + timedelta(minutes=5)))
    # the console shows each message's way, with the time of each step
    create_account(db, "admin1", "a-long-password-1", "admin")
    log_in(client, "admin1", "a-long-password-1")
    page = client.get("/admin/pushes").text
    assert "企业微信确认：已发到客户群" in page and "网格员已确认转发" in page
    assert "已发到群机器人" in page and "2026-11-23 11:00" in page
    week = (MONDAY_9.replace(hour=0), MONDAY_9.replace(hour=0) + timedelta(days=7))
    summary = receipts.delivery_summary(db, *week)
    assert summary["r"]["robot_sent"] == 1 and summary["r"]["relayed"] == 0
    assert summary["a"]["customer_group_confirmed"] == 1
    assert summary["dong"]["relayed"] == 1 and summary["dong"]["robot_sent"] == 0
    assert receipts.relayed_by_group(db, *week) == {"dong": 1}
    from bot.reporting.weekly import weekly_report
    report = weekly_report(db, settings, "2026-W48")
    by_group = {row[0]: row for row in report["sheets"]["按群"]}
    assert by_group["dong"][-3:] == [0, 0, 1]
    assert by_group["a"][-3:] == [0, 1, 0]
    assert by_group["r"][-3:] == [1, 0, 0]
    by_area = {row[0]: row for row in report["sheets"]["按村"]}
    assert by_area["东村"][-3:] == [0, 1, 1]


# -- the fake in its own process ----------------------------------------------------------------

def test_end_to_end_against_the_fake_in_another_process(tmp_path):
    """Real time, a real separate server process: create, confirm, poll, confirmed."""
    fake = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fake_wecom_api.py")), "--members",
         "zhang", "--owners", "owner1=wr-a"], stdout=subprocess.PIPE, text=True)
    try:
        base = fake.stdout.readline().strip()
        groups = [customer_group("a"), relay_group("dong")]
        config = {"wecom": {"base_url": base, **WECOM, "poll_first_seconds": 1},
                  "relay": {"secret": RELAY_SECRET}}
        settings = settings_from_mapping({**test_config(tmp_path, groups, **config),
                                          "grid_workers": WORKERS[:1]}, base_dir=tmp_path,
                                         environ={})
        db_factory = make_db_factory(settings.database.path)
        init_db(db_factory(), CONTENT_DIR)
        import time
        pusher = Pusher(settings, db_factory, time.time, time.sleep)
        now = datetime.now(TZ).replace(microsecond=0)
        job, outcome = pusher.push_now(settings.group("a"), now)
        assert outcome == "sent"
        assert pusher.push_now(settings.group("dong"), now)[1] == "sent"
        state = requests.get(f"{base}/_fake/state", timeout=5).json()
        assert len(state["tasks"]) == 1 and state["app_messages"][0]["touser"] == "zhang"
        requests.post(f"{base}/_fake/advance", json={"seconds": 5}, timeout=5)
        requests.post(f"{base}/_fake/confirm", json={"owner": "owner1"}, timeout=5)
        pusher.follow_up(now + timedelta(seconds=5))
        db = db_factory()
        assert {r["group_id"]: r["state"] for r in receipt_rows(db)} == {
            "a": "confirmed", "dong": "awaiting"}
    finally:
        stop_process(fake, 5)
        fake.stdout.close()
