"""The real OCR, end to end: a phone screenshot of a scam SMS (tests/fixtures/screenshots,
drawn once by make_sms.py) goes through the webhook as an image message, is fetched from the
fake CDN, read by rapidocr's shipped models on this machine and answered as a customer-service
message; inside a 举报 its text and link join the lead. The configuration is the documented
default (``loop.ocr`` on) plus a verified account; the models are loaded once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot import create_app
from bot.loop.ocr import LazyReader
from bot.loop.screenshots import RECEIVED
from bot.storage.questions import hash_user
from conftest import TEST_APP_ID, make_settings
from fake_oa_cs import FakeOfficialAccount
from test_loop_screenshots import SECRET, send_image, sent_to
from test_loop_leads import say

SMS_PNG = (Path(__file__).parent / "fixtures" / "screenshots" / "sms-etc.png").read_bytes()


@pytest.fixture(scope="module")
def fake_api():
    api = FakeOfficialAccount(TEST_APP_ID, SECRET, quota=5).start()
    api.images["sms-etc.png"] = SMS_PNG
    yield api
    api.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory, fake_api):
    settings = make_settings(tmp_path_factory.mktemp("realocr"), wechat={
        "app_secret": SECRET, "api_base_url": fake_api.base_url}, loop={"customer_service": True})
    app = create_app(settings)
    assert isinstance(app.extensions["loop"].screenshots.reader, LazyReader)   # the real one
    return app


def test_a_phone_screenshot_is_read_on_this_machine_and_answered(app, fake_api):
    user = "oRealOcr"
    fake_api.user_wrote(user)
    assert send_image(app, user, f"{fake_api.base_url}/cdn/sms-etc.png") == RECEIVED
    assert app.extensions["loop"].screenshots.wait_idle(60)
    (message,) = sent_to(fake_api, user)
    said, answer = message.split("\n\n", 1)
    assert said.startswith("截图里写着：")
    assert "ETC服务" in said and "etc-xx.cc" in said
    assert "etc-xx.cc" in answer and "查不到不代表安全" in answer   # the link was checked
    assert "/cases/subsidy-etc-link" in answer                       # the ETC scam's answer
    db = app.extensions["db"]()
    assert db.execute("SELECT category FROM questions WHERE channel = 'wechat-ocr' AND "
                      "user_hash = ?", [hash_user(user, TEST_APP_ID)]).fetchall() == \
        [("fake_subsidy",)]


def test_a_screenshot_in_a_report_adds_its_text_and_link_to_the_lead(app, fake_api):
    user = "oRealOcrLead"
    for text in ("举报", "收到一条ETC短信让我点链接", "没有", "今天早上"):
        say(app, text, user)
    assert send_image(app, user, f"{fake_api.base_url}/cdn/sms-etc.png") == \
        "收到第1张截图。还有就继续发，发完回复“好了”。"
    assert "线索已记录" in say(app, "好了", user)
    assert app.extensions["loop"].screenshots.wait_idle(60)
    db = app.extensions["db"]()
    who = hash_user(user, TEST_APP_ID)
    (shot_text,) = db.execute("SELECT screenshot_text FROM leads WHERE user_hash = ?",
                              [who]).fetchone()
    assert "ETC已失效" in shot_text
    assert ("link", "etc-xx.cc") in db.execute(
        "SELECT kind, value FROM lead_items WHERE user_hash = ?", [who]).fetchall()
    assert sent_to(fake_api, user) == []    # a 举报 screenshot is not answered separately
