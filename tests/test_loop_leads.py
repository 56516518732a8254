"""举报 leads: the guided conversation through the real webhook, cancel and expiry with a fake
clock, counting by distinct residents, screenshots read in the OCR pool (faked at its seam,
pictures on a fake CDN) joining the lead, and the console's leads pages and XLSX export."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.loop.leads import (ASK_DETAIL, ASK_DETAIL_AGAIN, ASK_SHOTS, ASK_WHAT, ASK_WHEN,
                            CANCELLED, LeadDesk, grouped_items)
from bot.storage.questions import hash_user
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from fake_oa_cs import FakeOfficialAccount
from fake_ocr import FakeOcr, png
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


def test_expired_conversation_is_kept_and_said(loop_app):
    desk = LeadDesk(loop_app.extensions["db"](), session_minutes=30, max_leads_per_day=5)
    desk.start("u1", T0)
    assert desk.answer("u1", "有人让我刷单", T0 + timedelta(minutes=5)) == ASK_DETAIL
    later = LeadDesk(loop_app.extensions["db"](), 30, 5)
    assert later.answer("u1", "网贷要交钱吗", T0 + timedelta(minutes=40)) is None
    assert later.expired_notice
    assert rows(loop_app, "SELECT what, complete FROM leads WHERE user_hash = 'u1'") == \
        [("有人让我刷单", 0)]


def test_a_conversation_abandoned_for_good_reaches_staff_without_another_message(loop_app):
    desk = LeadDesk(loop_app.extensions["db"](), session_minutes=30, max_leads_per_day=5)
    desk.start("gone1", T0)
    desk.answer("gone1", "冒充快递客服要退款", T0 + timedelta(minutes=1))
    desk.answer("gone1", "对方电话 138xxxx1234 链接 http://kd-xx.cc", T0 + timedelta(minutes=2))
    desk.start("still1", T0 + timedelta(minutes=20))
    assert desk.expire_abandoned(T0 + timedelta(minutes=31)) == 0   # 29 min idle: not yet
    assert desk.expire_abandoned(T0 + timedelta(minutes=33)) == 1
    assert rows(loop_app, "SELECT what, complete FROM leads WHERE user_hash = 'gone1'") == \
        [("冒充快递客服要退款", 0)]
    assert rows(loop_app, "SELECT COUNT(*) FROM lead_items li JOIN leads l ON l.id = li.lead_id "
                          "WHERE l.user_hash = 'gone1'") == [(1,)]
    assert rows(loop_app, "SELECT user_hash, step FROM lead_sessions WHERE user_hash IN "
                          "('gone1', 'still1') ORDER BY user_hash") == \
        [("gone1", "expired"), ("still1", "what")]
    assert desk.expire_abandoned(T0 + timedelta(minutes=33)) == 0   # never stored twice


def test_a_resident_whose_report_the_scheduler_stored_is_told_once(loop_app):
    user = "oLeadGoneAway"
    assert say(loop_app, "举报", user=user) == ASK_WHAT
    assert say(loop_app, "有人冒充客服让我退款", user=user) == ASK_DETAIL
    desk = LeadDesk(loop_app.extensions["db"](), session_minutes=30, max_leads_per_day=5)
    desk.expire_abandoned(datetime.now(timezone.utc) + timedelta(minutes=31))
    assert rows(loop_app, f"SELECT step FROM lead_sessions WHERE user_hash = '{uh(user)}'") == \
        [("expired",)]
    first = say(loop_app, "今天天气怎么样", user=user)
    assert first.startswith("（您上次的举报没有填完")
    assert "没有填完" not in say(loop_app, "明天呢", user=user)   # once
    assert rows(loop_app, f"SELECT COUNT(*) FROM lead_sessions WHERE user_hash = '{uh(user)}'") \
        == [(0,)]


def test_an_unseen_expiry_marker_is_forgotten_and_an_empty_report_leaves_none(loop_app):
    desk = LeadDesk(loop_app.extensions["db"](), session_minutes=30, max_leads_per_day=5)
    desk.start("empty1", T0)                       # 举报, then nothing typed
    desk.start("typed1", T0)
    desk.answer("typed1", "有人收购银行卡", T0 + timedelta(minutes=1))
    assert desk.expire_abandoned(T0 + timedelta(minutes=40)) == 2
    assert rows(loop_app, "SELECT user_hash FROM lead_sessions WHERE user_hash IN "
                          "('empty1', 'typed1')") == [("typed1",)]
    desk.expire_abandoned(T0 + timedelta(days=29))
    assert rows(loop_app, "SELECT COUNT(*) FROM lead_sessions WHERE user_hash = 'typed1'") == \
        [(1,)]
    desk.expire_abandoned(T0 + timedelta(days=31))   # retention: the marker holds a hash only
    assert rows(loop_app, "SELECT COUNT(*) FROM lead_sessions WHERE user_hash = 'typed1'") == \
        [(0,)]


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


# -- screenshots within a 举报 ------------------------------------------------------------------
@pytest.fixture(scope="module")
def cdn():
    api = FakeOfficialAccount(TEST_APP_ID, "unused-secret").start()
    yield api
    api.stop()


def shots_app(folder, cdn, **loop):
    """OCR on (its reader faked), customer service off: a 举报 screenshot needs neither the
    customer-service API nor the account to be verified."""
    app = create_app(make_settings(folder, loop={"image_timeout_seconds": 1, **loop}))
    app.extensions["loop"].screenshots.reader = FakeOcr()
    return app


def image(app, cdn, user: str, name: str, text: str | None = None) -> str:
    import time
    if text is not None:
        cdn.images[name] = png(text)
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    xml = (f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{user}]]>"
           f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]>"
           f"</MsgType><PicUrl><![CDATA[{cdn.base_url}/cdn/{name}]]></PicUrl><MediaId><![CDATA[m1]]>"
           f"</MediaId><MsgId>{time.time_ns()}</MsgId></xml>")
    return reply_content(sender.post(xml)[1])


def to_screenshot_step(app, user: str) -> None:
    for answer in ("举报", "冒充客服退款", "没有", "今天"):
        say(app, answer, user)


def shot_jobs(app, user: str):
    return rows(app, "SELECT status, send_status FROM screenshot_jobs WHERE user_hash = ? "
                "ORDER BY id", [uh(user)])


def test_screenshots_are_read_and_their_links_join_the_lead(tmp_path, cdn):
    app = shots_app(tmp_path, cdn)
    reader, desk = app.extensions["loop"].screenshots.reader, app.extensions["loop"].screenshots
    to_screenshot_step(app, "oShots")
    # The first is read while the conversation goes on, the second after it was closed.
    assert image(app, cdn, "oShots", "a.png", "客服电话 17099998888 退款请点 refund-xx.cc") == \
        "收到第1张截图。还有就继续发，发完回复“好了”。"
    assert desk.wait_idle(10)
    reader.hold.clear()
    try:
        assert image(app, cdn, "oShots", "b.png", "付款页面 pay-xx.top") == \
            "收到第2张截图。还有就继续发，发完回复“好了”。"
        assert "线索已记录" in say(app, "好了", "oShots")
    finally:
        reader.hold.set()
    assert desk.wait_idle(10)
    ((lead_id, count, text),) = rows(app, "SELECT id, screenshots, screenshot_text FROM leads "
                                     "WHERE user_hash = ?", [uh("oShots")])
    assert count == 2
    assert text == "客服电话 17099998888 退款请点 refund-xx.cc\n付款页面 pay-xx.top"
    assert sorted(rows(app, "SELECT kind, value FROM lead_items WHERE lead_id = ?",
                       [lead_id])) == [("link", "pay-xx.top"), ("link", "refund-xx.cc"),
                                       ("phone", "17099998888")]
    assert shot_jobs(app, "oShots") == [("read", "session"), ("read", "lead")]
    assert rows(app, "SELECT COUNT(*) FROM screenshot_jobs WHERE lead_id = ?", [lead_id]) == [(2,)]


def test_a_cancelled_report_drops_what_its_screenshots_say(tmp_path, cdn):
    app = shots_app(tmp_path, cdn)
    reader = app.extensions["loop"].screenshots.reader
    to_screenshot_step(app, "oCancelShot")
    reader.hold.clear()
    try:
        image(app, cdn, "oCancelShot", "c.png", "dropped-xx.cc")
        assert say(app, "取消", "oCancelShot") == CANCELLED
    finally:
        reader.hold.set()
    assert app.extensions["loop"].screenshots.wait_idle(10)
    assert rows(app, "SELECT COUNT(*) FROM leads") == [(0,)]
    assert rows(app, "SELECT COUNT(*) FROM lead_items") == [(0,)]
    assert shot_jobs(app, "oCancelShot") == [("read", "dropped")]


def test_unreadable_and_unqueued_screenshots_are_noted_not_lost(tmp_path, cdn):
    app = shots_app(tmp_path, cdn, ocr_queue_max=1)
    reader = app.extensions["loop"].screenshots.reader
    to_screenshot_step(app, "oFull")
    reader.hold.clear()
    try:
        image(app, cdn, "oFull", "d.png", "first-xx.cc")
        # The queue is full: still counted, the reply is the same, the lead says so.
        assert image(app, cdn, "oFull", "d.png") == "收到第2张截图。还有就继续发，发完回复“好了”。"
    finally:
        reader.hold.set()
    assert app.extensions["loop"].screenshots.wait_idle(10)
    cdn.images["e.png"] = b"%PDF-1.4 not a picture"
    image(app, cdn, "oFull", "e.png")
    assert app.extensions["loop"].screenshots.wait_idle(10)        # a queue of one
    image(app, cdn, "oFull", "missing.png")                        # 404
    assert app.extensions["loop"].screenshots.wait_idle(10)
    say(app, "好了", "oFull")
    ((count, text),) = rows(app, "SELECT screenshots, screenshot_text FROM leads WHERE "
                            "user_hash = ?", [uh("oFull")])
    assert count == 4
    # In the order they were settled: the unqueued one at once, the held one after.
    assert text.splitlines() == ["（有一张截图识别排队已满，内容未录入）", "first-xx.cc",
                                 "（有一张截图不是图片，内容未录入）", "（有一张截图没能下载，内容未录入）"]
    assert [s for s, _ in shot_jobs(app, "oFull")] == ["read", "busy", "not_image",
                                                       "fetch_failed"]


def test_an_abandoned_report_keeps_what_its_screenshots_say(tmp_path, cdn):
    """Expiry with a fake clock: the screenshot is read after the conversation expired and
    was stored as an incomplete lead; its text and link still join that lead."""
    app = shots_app(tmp_path, cdn)
    loop = app.extensions["loop"]
    for step in ("举报", "刷单返利", "没有", "昨天"):
        loop.handle_text("uGone", step, T0)
    cdn.images["f.png"] = png("返利群 fanli-xx.top")
    loop.screenshots.reader.hold.clear()
    try:
        assert "收到第1张截图" in loop.handle_image("uGone", "m:gone1", f"{cdn.base_url}/cdn/f.png",
                                               T0 + timedelta(minutes=1))
        reply, notice = loop.handle_text("uGone", "网贷要先交钱吗", T0 + timedelta(minutes=40))
        assert reply is None and "已经过期" in notice
    finally:
        loop.screenshots.reader.hold.set()
    assert loop.screenshots.wait_idle(10)
    ((lead_id, complete, text),) = rows(app, "SELECT id, complete, screenshot_text FROM leads")
    assert (complete, text) == (0, "返利群 fanli-xx.top")
    assert rows(app, "SELECT kind, value FROM lead_items WHERE lead_id = ?", [lead_id]) == \
        [("link", "fanli-xx.top")]


def test_screenshots_cannot_inflate_a_count(tmp_path, cdn):
    app = shots_app(tmp_path, cdn, max_leads_per_day=5)
    loop = app.extensions["loop"]
    cdn.images["g.png"] = png("中奖请登录 prize-xx.cc 领取")
    now = T0
    for user, reports, shots in (("uFlood", 2, 3), ("uNeighbour", 1, 1)):
        for _ in range(reports):
            now += timedelta(minutes=1)
            for step in ("举报", "中奖短信", "prize-xx.cc", "今天"):
                loop.handle_text(user, step, now)
            for i in range(shots):
                loop.handle_image(user, f"m:{user}{now.minute}{i}", f"{cdn.base_url}/cdn/g.png",
                                  now)
            assert loop.screenshots.wait_idle(10)
            loop.handle_text(user, "好了", now)
    (group,) = [g for g in grouped_items(app.extensions["db"]()) if g["value"] == "prize-xx.cc"]
    assert (group["reporters"], group["leads"]) == (2, 3)
