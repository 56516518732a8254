"""Screenshots through the real webhook: the passive reply at once, the answer as a
customer-service message through a fake official-account API, pictures from a fake CDN, and
every kind of bad input. OCR is faked at its seam (tests/fake_ocr.py: it reads the text a test
wrote into the PNG's tEXt chunk); test_loop_ocr.py reads a real screenshot with the real model."""
from __future__ import annotations

import time

import pytest

from bot import create_app
from bot.loop.screenshots import BUSY, FAILURES, RECEIVED, TYPE_IT
from bot.storage.questions import hash_user
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from fake_oa_cs import FakeOfficialAccount
from fake_ocr import FakeOcr, png
from wechat_client import WeChatSender, reply_content

SECRET = "fake-secret-for-tests-0001"
SCAM_SMS = "【ETC服务】您的ETC已失效，请登录 etc-renzheng.top 重新认证，逾期停用"


@pytest.fixture(scope="module")
def fake_api():
    api = FakeOfficialAccount(TEST_APP_ID, SECRET, quota=5).start()
    yield api
    api.stop()


def make_app(folder, fake_api, **loop):
    settings = make_settings(folder, wechat={"app_secret": SECRET,
                                             "api_base_url": fake_api.base_url}, loop={
        "customer_service": True, "image_max_bytes": 200_000,
        "image_timeout_seconds": 1, **loop})
    app = create_app(settings)
    app.extensions["loop"].screenshots.reader = FakeOcr()
    return app


@pytest.fixture(scope="module")
def app(tmp_path_factory, fake_api):
    return make_app(tmp_path_factory.mktemp("shots"), fake_api, cs_quota=3)


def send_image(app, user: str, url: str, msg_id: int | None = None) -> str:
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    msg_id = msg_id or time.time_ns()
    xml = (f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{user}]]>"
           f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]>"
           f"</MsgType><PicUrl><![CDATA[{url}]]></PicUrl><MediaId><![CDATA[m]]></MediaId>"
           f"<MsgId>{msg_id}</MsgId></xml>")
    return reply_content(sender.post(xml)[1])


def sent_to(fake_api, user: str) -> list[str]:
    return [m["text"]["content"] for m in fake_api.sent if m["touser"] == user]


def jobs(app, user: str):
    return app.extensions["db"]().execute(
        "SELECT status, send_status FROM screenshot_jobs WHERE user_hash = ? ORDER BY id",
        [hash_user(user, TEST_APP_ID)]).fetchall()


def test_screenshot_is_answered_later_once_with_what_it_says(app, fake_api):
    user = "oShot1"
    fake_api.user_wrote(user)
    fake_api.images["sms.png"] = png(SCAM_SMS)
    msg_id = time.time_ns()
    assert send_image(app, user, f"{fake_api.base_url}/cdn/sms.png", msg_id) == RECEIVED
    # WeChat redelivers the same push: same passive reply, nothing queued again.
    assert send_image(app, user, f"{fake_api.base_url}/cdn/sms.png", msg_id) == RECEIVED
    assert app.extensions["loop"].screenshots.wait_idle(10)
    (message,) = sent_to(fake_api, user)
    assert message.startswith("截图里写着：【ETC服务】您的ETC已失效")
    assert "etc-renzheng.top" in message and "查不到不代表安全" in message
    assert len(message.encode()) <= 2000
    db = app.extensions["db"]()
    assert db.execute("SELECT channel, text FROM questions WHERE channel = 'wechat-ocr'"
                      ).fetchall() == [("wechat-ocr", SCAM_SMS)]
    assert db.execute("SELECT status, send_status, chars FROM screenshot_jobs WHERE "
                      "delivery_key = ?", [f"m:{msg_id}"]).fetchall() == \
        [("answered", "sent", len(SCAM_SMS))]
    # Never twice, even if the job ran again.
    loop = app.extensions["loop"]
    assert loop.outreach.send(db.execute("SELECT user_hash FROM screenshot_jobs WHERE "
                                         "delivery_key = ?", [f"m:{msg_id}"]).fetchone()[0],
                              f"ocr:m:{msg_id}", "again", loop.now()) == "duplicate"


@pytest.mark.parametrize("setup, status", [
    (lambda api: api.images.__setitem__("notes.png", b"just some text, not a picture"),
     "not_image"),
    (lambda api: api.endless.add("notes.png"), "too_large"),
    (lambda api: (api.images.__setitem__("notes.png", png("x" * 100) + b"\0" * 150_000),
                  api.slow.__setitem__("notes.png", 0.2)), "fetch_failed"),
    (lambda api: None, "fetch_failed"),                  # 404
    (lambda api: api.images.__setitem__("notes.png", png("  ")), "no_text"),
    (lambda api: api.images.__setitem__("notes.png", b"\x89PNG\r\n\x1a\nbroken"), "ocr_failed"),
])
def test_bad_pictures_get_a_clear_message(app, fake_api, setup, status):
    user = f"oBad{status}{time.time_ns()}"
    fake_api.user_wrote(user)
    fake_api.images.pop("notes.png", None)
    fake_api.endless.discard("notes.png")
    fake_api.slow.pop("notes.png", None)
    setup(fake_api)
    try:
        assert send_image(app, user, f"{fake_api.base_url}/cdn/notes.png") == RECEIVED
        assert app.extensions["loop"].screenshots.wait_idle(10)
    finally:
        fake_api.endless.discard("notes.png")
    assert sent_to(fake_api, user) == [FAILURES[status]]
    assert jobs(app, user) == [(status, "sent")]


def test_quota_and_window_are_respected_and_recorded(app, fake_api):
    """cs_quota messages after each time the resident writes; none once the window closed."""
    from datetime import datetime, timedelta, timezone
    outreach = app.extensions["loop"].outreach
    user, who = "oQuota", hash_user("oQuota", TEST_APP_ID)
    fake_api.user_wrote(user)
    t0 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    outreach.resident_wrote(who, user, t0)
    results = [outreach.send(who, f"test:{i}", f"第{i}条", t0 + timedelta(minutes=i))
               for i in range(4)]
    assert results == ["sent", "sent", "sent", "quota"]          # loop.cs_quota = 3
    assert outreach.send(who, "test:0", "again", t0) == "duplicate"
    assert outreach.send(who, "test:late", "x", t0 + timedelta(hours=49)) == "closed"
    assert sent_to(fake_api, user) == ["第0条", "第1条", "第2条"]
    statuses = app.extensions["db"]().execute(
        "SELECT purpose, status FROM cs_messages WHERE user_hash = ? ORDER BY id", [who]).fetchall()
    assert statuses == [("test:0", "sent"), ("test:1", "sent"), ("test:2", "sent"),
                        ("test:3", "quota"), ("test:late", "closed")]


def test_a_full_queue_says_so_at_once(tmp_path, fake_api):
    app = make_app(tmp_path, fake_api, ocr_queue_max=1)
    reader = app.extensions["loop"].screenshots.reader
    reader.hold.clear()
    fake_api.user_wrote("oBusy")
    fake_api.images["b.png"] = png("冒充客服退款")
    try:
        assert send_image(app, "oBusy", f"{fake_api.base_url}/cdn/b.png") == RECEIVED
        assert send_image(app, "oBusy", f"{fake_api.base_url}/cdn/b.png") == BUSY
    finally:
        reader.hold.set()
    assert app.extensions["loop"].screenshots.wait_idle(10)
    assert sorted(r[0] for r in jobs(app, "oBusy")) == ["answered", "busy"]


def test_without_customer_service_the_resident_is_asked_to_type(tmp_path, fake_api):
    settings = make_settings(tmp_path, loop={"customer_service": False})
    app = create_app(settings)
    app.extensions["loop"].screenshots.reader = FakeOcr()
    assert send_image(app, "oNoCs", f"{fake_api.base_url}/cdn/sms.png") == TYPE_IT
    assert jobs(app, "oNoCs") == []
