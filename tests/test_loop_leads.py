"""举报 leads: the guided conversation through the real webhook, cancel and expiry with a fake
clock, counting by distinct residents, and the console's leads pages and XLSX export."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.loop.leads import (ASK_DETAIL, ASK_DETAIL_AGAIN, ASK_SHOTS, ASK_WHAT, ASK_WHEN,
                            CANCELLED, LeadDesk, grouped_items)
from bot.storage.questions import hash_user
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from wechat_client import WeChatSender, reply_content, text_xml

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def loop_app(tmp_path_factory):
    return create_app(make_settings(tmp_path_factory.mktemp("loopleads")))


def uh(openid: str) -> str:
    return hash_user(openid, TEST_APP_ID)


def say(app, content: str, user: str = "oLeadUser1") -> str:
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    response, reply = sender.post(text_xml(content, from_user=user))
    assert response.status_code == 200
    return reply_content(reply)


def click_report(app, user: str = "oLeadUser1") -> str:
    import time
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    xml = (f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{user}]]>"
           f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]>"
           f"</MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[REPORT]]></EventKey></xml>")
    return reply_content(sender.post(xml)[1])


def rows(app, sql: str, params=()):
    return app.extensions["db"]().execute(sql, params).fetchall()


def test_report_conversation_one_question_at_a_time(loop_app):
    assert click_report(loop_app) == ASK_WHAT
    assert say(loop_app, "有人冒充快递客服说要理赔，让我下载一个会议APP共享屏幕") == ASK_DETAIL
    assert say(loop_app, "对方电话 17012345678，网址 kuaidi-pei.top") == ASK_WHEN
    assert say(loop_app, "今天上午") == ASK_SHOTS
    closing = say(loop_app, "没有")
    assert re.search(r"线索已记录（编号 \d+）", closing)
    for channel in ("国家反诈中心APP", "12321", "110"):
        assert channel in closing
    lead = rows(loop_app, "SELECT what, happened, status, complete FROM leads WHERE user_hash = ?",
                [uh("oLeadUser1")])
    assert lead == [("有人冒充快递客服说要理赔，让我下载一个会议APP共享屏幕", "今天上午", "new", 1)]
    items = rows(loop_app, "SELECT kind, value, masked FROM lead_items WHERE user_hash = ?",
                 [uh("oLeadUser1")])
    assert ("phone", "17012345678", "170****5678") in items
    assert ("link", "kuaidi-pei.top", "kuaidi-pei.top") in items
    # The conversation is over: the next message is an ordinary question again.
    assert "线索" not in say(loop_app, "网上贷款要先交保证金是真的吗")[:20]


def test_cancel_at_any_step_saves_nothing(loop_app):
    for steps in ([], ["冒充客服"], ["冒充客服", "没有"], ["冒充客服", "没有", "昨天"]):
        assert say(loop_app, "举报", "oCancel") == ASK_WHAT
        for step in steps:
            say(loop_app, step, "oCancel")
        assert say(loop_app, "取消", "oCancel") == CANCELLED
    for table in ("leads", "lead_sessions"):
        assert rows(loop_app, f"SELECT COUNT(*) FROM {table} WHERE user_hash = ?",
                    [uh("oCancel")]) == [(0,)]
    assert say(loop_app, "取消", "oCancel") == "现在没有进行中的举报。"


def test_a_lead_with_no_contact_detail_is_asked_once_more_then_kept(loop_app):
    user = "oNoDetail"
    say(loop_app, "我要举报", user)
    say(loop_app, "有人在群里发兼职刷单", user)
    assert say(loop_app, "他没留电话", user) == ASK_DETAIL_AGAIN
    assert say(loop_app, "没有", user) == ASK_WHEN
    say(loop_app, "前天", user)
    closing = say(loop_app, "好了", user)
    assert "没有号码、链接或账号" in closing
    assert rows(loop_app, "SELECT detail FROM leads WHERE user_hash = ?", [uh(user)]) == \
        [("他没留电话",)]


def test_screenshots_are_counted_not_kept(loop_app):
    import time
    sender = WeChatSender(loop_app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)

    def image():
        xml = (f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oShots]]>"
               f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]>"
               f"</MsgType><PicUrl><![CDATA[http://127.0.0.1:9/x.jpg]]></PicUrl><MediaId><![CDATA[m1]]>"
               f"</MediaId><MsgId>{time.time_ns()}</MsgId></xml>")
        return reply_content(sender.post(xml)[1])

    for answer in ("举报", "冒充客服", "没有", "今天"):
        say(loop_app, answer, "oShots")
    assert image() == "收到第1张截图。还有就继续发，发完回复“好了”。"
    assert image() == "收到第2张截图。还有就继续发，发完回复“好了”。"
    say(loop_app, "好了", "oShots")
    assert rows(loop_app, "SELECT screenshots FROM leads WHERE user_hash = ?", [uh("oShots")]) \
        == [(2,)]


def test_expired_conversation_is_kept_and_said(loop_app):
    desk = LeadDesk(loop_app.extensions["db"](), session_minutes=30, max_leads_per_day=5)
    desk.start("u1", T0)
    assert desk.answer("u1", "有人让我刷单", T0 + timedelta(minutes=5)) == ASK_DETAIL
    later = LeadDesk(loop_app.extensions["db"](), 30, 5)
    assert later.answer("u1", "网贷要交钱吗", T0 + timedelta(minutes=40)) is None
    assert later.expired_notice
    assert rows(loop_app, "SELECT what, complete FROM leads WHERE user_hash = 'u1'") == \
        [("有人让我刷单", 0)]


def test_one_resident_cannot_inflate_a_count(loop_app):
    db = loop_app.extensions["db"]()
    desk = LeadDesk(db, 30, max_leads_per_day=3)
    now = T0

    def report(user, detail):
        nonlocal now
        now += timedelta(minutes=1)
        desk.start(user, now)
        for answer in ("冒充客服", detail, "今天"):
            desk.answer(user, answer, now)
        return desk.answer(user, "没有", now)

    report("flooder", "http://fake-bank.cc")
    assert "您之前已经举报过" in report("flooder", "http://fake-bank.cc")
    report("flooder", "http://fake-bank.cc")
    assert "已经提交了好几条线索" in desk.start("flooder", now)
    report("neighbour", "fake-bank.cc")
    group = grouped_items(db)[0]
    assert (group["value"], group["reporters"], group["leads"]) == ("fake-bank.cc", 2, 4)
    # The check on an ordinary message counts residents, not reports.
    assert "已有2位居民举报过" in say(loop_app, "这个网站 fake-bank.cc 可信吗", user="oOther")
