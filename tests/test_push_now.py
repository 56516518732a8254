"""Sending now: an alert to its groups (console button, ``push --alert``), a given tip to a group
(``push --group --tip``), and why an unhealthy group is skipped. Recorded in the push log like
any push, never twice, against the fake WeCom server."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.pushing.health import mark_unhealthy
from test_admin_stats import csrf_token, editor, stats_app, stats_settings, config_file  # noqa: F401
from test_scheduler import MONDAY_9, clock, group, rows, setup, wecom  # noqa: F401

TIP = "tip-acq-ai-face"


def add_alert(db, groups=None, item=TIP, created=MONDAY_9 - timedelta(hours=1)) -> int:
    import json
    return db["alerts"].insert({"item_kind": "tip", "item_id": item,
                                "groups": json.dumps(groups) if groups else None,
                                "created_at": created.isoformat(), "active": 1}).last_pk


def alert_texts(wecom, key):
    return [m["body"]["text"]["content"] for m in wecom.messages_for(key)
            if m["body"]["text"]["content"].startswith("【本周预警】")]


def test_an_alert_sent_now_reaches_its_groups_once(setup, wecom):
    settings, pusher, db = setup([group("a"), group("b"), group("c")])
    alert = add_alert(db, ["a", "b"])
    results = pusher.send_alert_now(alert, MONDAY_9 - timedelta(minutes=30))
    assert [(r.group.id, r.outcome) for r in results] == [("a", "sent"), ("b", "sent")]
    assert len(alert_texts(wecom, "key-a")) == 1 and not wecom.messages_for("key-c")
    # Pressing the button again sends nothing; neither does the groups' next slot.
    again = pusher.send_alert_now(alert, MONDAY_9 - timedelta(minutes=20))
    assert {r.outcome for r in again} == {"already"}
    pusher.run_due(MONDAY_9)
    assert len(alert_texts(wecom, "key-a")) == 1 and len(alert_texts(wecom, "key-b")) == 1
    assert len(wecom.messages_for("key-a")) == 2          # the alert now, the tip at 09:00
    assert [r["message_key"] for r in rows(db, group_id="a")] == [f"alert:{alert}", "tip"]


def test_the_scheduler_and_the_button_cannot_both_send_an_alert(setup, wecom):
    """The scheduler planned the alert for its slot; meanwhile an admin sent it now."""
    settings, pusher, db = setup([group("a")])
    alert = add_alert(db)
    planned = next(j for j in pusher.plan((MONDAY_9 - timedelta(minutes=1), MONDAY_9),
                                          MONDAY_9).jobs if j.message_key.startswith("alert:"))
    assert pusher.send_alert_now(alert, MONDAY_9 - timedelta(seconds=30))[0].outcome == "sent"
    assert pusher.deliver(planned, MONDAY_9) == "taken"
    assert len(alert_texts(wecom, "key-a")) == 1


def test_an_unhealthy_group_is_skipped_with_the_reason(setup, wecom):
    settings, pusher, db = setup([group("a"), group("b")])
    mark_unhealthy(db, settings.group("b"), 93000, "invalid webhook url")
    results = {r.group.id: r for r in pusher.send_alert_now(add_alert(db), MONDAY_9)}
    assert results["a"].outcome == "sent" and results["b"].outcome == "skipped"
    assert "不健康" in results["b"].reason and "93000 invalid webhook url" in results["b"].reason
    assert rows(db, group_id="b") == []     # nothing attempted: its next slot decides again
    job, outcome = pusher.push_now(settings.group("b"), MONDAY_9)
    assert outcome == "skipped" and wecom.messages_for("key-b") == []
    assert "不健康" in rows(db, group_id="b")[0]["errmsg"]


def test_push_a_given_tip_now(setup, wecom):
    settings, pusher, db = setup([group("a")])
    job, outcome = pusher.push_now(settings.group("a"), MONDAY_9, tip_id=TIP)
    assert outcome == "sent" and job.item_id == TIP
    title = db["tips"].get(TIP)["title"]
    assert title in wecom.messages_for("key-a")[0]["body"]["text"]["content"]
    assert pusher.push_now(settings.group("a"), MONDAY_9, tip_id="no-such-tip") == \
        (None, "没有已发布的提示“no-such-tip”")


# -- the command line ---------------------------------------------------------------------------
def cli_config(tmp_path, content_dir, base_url):
    path = tmp_path / "config.toml"
    groups = "".join(f'[[groups]]\nid = "{g}"\nname = "群{g}"\nschedule = ["mon 09:00"]\n'
                     f'channel = "wecom_robot"\nrobot_key = "key-{g}"\n' for g in ("a", "b"))
    path.write_text(f'[database]\npath = "{tmp_path / "bot.db"}"\n[content]\n'
                    f'dir = "{content_dir}"\n[wecom]\nbase_url = "{base_url}"\n{groups}', "utf-8")
    return path


def run(config, *args):
    return CliRunner().invoke(main, ["--config", str(config), "push", *args])


def test_push_command_sends_tips_and_alerts_and_explains_skips(setup, wecom, tmp_path,
                                                               content_dir):
    settings, pusher, db = setup([group("a"), group("b")])
    config = cli_config(tmp_path, content_dir, wecom.base_url)
    r = run(config, "--group", "a", "--tip", TIP)
    assert r.exit_code == 0 and r.output == f"a: {TIP} sent\n"
    mark_unhealthy(db, settings.group("b"), 93000, "invalid webhook url")
    r = run(config, "--group", "b")
    assert r.exit_code == 1
    assert "skipped: group b is unhealthy since" in r.output and "93000" in r.output
    alert = add_alert(db)
    r = run(config, "--alert", str(alert))
    assert r.exit_code == 1       # b was skipped
    assert f"a: alert {alert} ({TIP}) sent" in r.output
    assert f"b: alert {alert} ({TIP}) skipped: group b is unhealthy" in r.output
    r = run(config, "--alert", str(alert), "--group", "a")
    assert r.exit_code == 1 and "already has it" in r.output
    assert len(alert_texts(wecom, "key-a")) == 1
    for args, message in ((["--alert", "99"], "no active alert 99"),
                          (["--group", "a", "--tip", TIP, "--alert", "1"], "not both"),
                          ([], "give --group"), (["--group", "zz"], "no group 'zz'")):
        r = run(config, *args)
        assert r.exit_code != 0 and message in r.output, args


# -- the console ----------------------------------------------------------------------------------
def test_console_sends_an_alert_now(stats_app, editor):  # noqa: F811
    db = stats_app.extensions["db"]()
    page = editor.get(f"/admin/items/tip/{TIP}").get_data(as_text=True)
    assert "设为预警并立即发送" in page
    r = editor.post(f"/admin/items/tip/{TIP}/alert", data={
        "csrf_token": csrf_token(page), "groups": ["dongcun", "xicun"], "send_now": "1"},
        follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "已发送到 2 个群：东村老年人群、西村家长群" in html
    sent = {r["group_id"] for r in db["pushes"].rows if r["status"] == "sent"}
    assert sent == {"dongcun", "xicun"} and db["outbox"].count == 2
    pushes = editor.get("/admin/pushes").get_data(as_text=True)
    assert "本周预警" in pushes and "东村老年人群、西村家长群" in pushes
    alert_id = next(db["alerts"].rows)["id"]
    r = editor.post(f"/admin/alerts/{alert_id}/send", data={"csrf_token": csrf_token(pushes)},
                    follow_redirects=True)
    assert "这个群已经收到" in r.get_data(as_text=True) and db["outbox"].count == 2
