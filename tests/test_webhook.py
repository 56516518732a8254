"""The /wechat webhook end to end: requests signed (and encrypted) the way WeChat does it, through
the real app, checked by what a resident would see and what lands in the database.

Stateless checks share one app per module (building one takes most of a second); tests that
count rows or play with redelivery build their own.
"""
from __future__ import annotations

import itertools
import re
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest

from bot import create_app
from bot.content.model import load_content
from bot.loop.screenshots import TYPE_IT
from bot.wechat.protocol import parse_inbound
from conftest import (CONTENT_DIR, PUBLIC_URL, TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN,
                      make_settings)
from wechat_client import WeChatSender, sha1_sorted


ACCOUNT = "gh_account"
USER = "oUser_Webhook1"
_REPLIES_TOML = tomllib.loads((CONTENT_DIR / "replies.toml").read_text("utf-8"))
REPLIES = {k: (v.strip() if isinstance(v, str) else v) for k, v in _REPLIES_TOML.items()}
MENU, WELCOME, MEDIA = REPLIES["menu"], REPLIES["welcome"], REPLIES["media"]
EMERGENCY_STEPS = REPLIES["emergency_steps"]
IN_PROGRESS_STEPS = REPLIES["in_progress_steps"]
MENU_KEYS = REPLIES["menu_keys"]
ARTICLES = {a.id: a for a in load_content(CONTENT_DIR).articles}
REPLY_BUDGET = 2000  # UTF-8 bytes, see PLATFORM.md

LOAN_FEE_MESSAGE = "网上有个贷款平台说我审核通过了，放款前要先交3000元保证金，交了才能到账"
URGENT_MESSAGE = "我刚给对方转了8000块 现在联系不上了"
MODES = ["plain", "compatible", "safe"]

_msg_ids = itertools.count(int(time.time()) * 1000)
_event_times = itertools.count(int(time.time()) - 100_000)


# -- building and reading messages ------------------------------------------------------------
def wechat_xml(fields: dict) -> str:
    """WeChat's layout: numbers bare, strings in CDATA."""
    parts = [f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
             for k, v in fields.items()]
    return "<xml>" + "".join(parts) + "</xml>"


def message(msg_type: str, from_user: str = USER, msg_id: int | None = None, **fields) -> str:
    return wechat_xml({"ToUserName": ACCOUNT, "FromUserName": from_user,
                       "CreateTime": int(time.time()), "MsgType": msg_type, **fields,
                       "MsgId": msg_id or next(_msg_ids)})


def text(content: str, **kw) -> str:
    return message("text", Content=content, **kw)


def event(name: str, from_user: str = USER, create_time: int | None = None, **fields) -> str:
    """An event; events carry no MsgId, so each gets its own CreateTime unless told."""
    return wechat_xml({"ToUserName": ACCOUNT, "FromUserName": from_user,
                       "CreateTime": create_time or next(_event_times), "MsgType": "event",
                       "Event": name, **fields})


def parse_reply(xml: str) -> dict[str, str]:
    root = ET.fromstring(xml)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


def reply_text(response, reply_xml: str | None, mode: str = "plain", to: str = USER) -> str:
    """Check a passive text reply addressed back to ``to`` (sealed in safe/compatible mode)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert reply_xml is not None, body
    if mode == "plain":
        assert body == reply_xml
    else:  # only the sealed envelope travels; the helper checked MsgSignature while opening it
        assert set(parse_reply(body)) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
        assert "<Content>" not in body
    fields = parse_reply(reply_xml)
    assert fields["ToUserName"] == to
    assert fields["FromUserName"] == ACCOUNT
    assert fields["MsgType"] == "text"
    assert fields["CreateTime"].isdigit()
    assert fields["Content"]
    return fields["Content"]


def assert_success(response, reply_xml: str | None) -> None:
    """WeChat's 'nothing to say': HTTP 200 with the body 'success'."""
    assert (response.status_code, response.get_data(as_text=True)) == (200, "success")
    assert reply_xml is None


def linked_case(content: str) -> str:
    found = re.findall(re.escape(PUBLIC_URL) + r"/cases/([a-z0-9-]+)", content)
    assert found, content
    return found[0]


def count(app, table: str) -> int:
    return app.extensions["db"]()[table].count


def question_rows(app) -> list[dict]:
    return list(app.extensions["db"]()["questions"].rows)


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    return create_app(make_settings(tmp_path_factory.mktemp("webhook")))


@pytest.fixture
def shared(shared_app):
    """A sender on the module's app, for checks that don't count rows."""
    return WeChatSender(shared_app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)


@pytest.fixture
def sender(client):
    """A sender on this test's own app (fresh database)."""
    return WeChatSender(client, TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)


# -- 1. server address verification (GET) ------------------------------------------------------
def test_get_with_right_signature_echoes_echostr(shared):
    response = shared.client.get("/wechat?" + urlencode(shared.query(echostr="7158437861429847")))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "7158437861429847"


def test_get_with_wrong_signature_is_forbidden(shared):
    q = shared.query(echostr="123")
    q["signature"] = sha1_sorted("not-our-token", q["timestamp"], q["nonce"])
    assert shared.client.get("/wechat?" + urlencode(q)).status_code == 403


@pytest.mark.parametrize("missing", [("signature",), ("timestamp",), ("nonce",),
                                     ("signature", "timestamp", "nonce")])
def test_get_without_signature_parameters_is_forbidden(shared, missing):
    q = {k: v for k, v in shared.query(echostr="123").items() if k not in missing}
    assert shared.client.get("/wechat?" + urlencode(q)).status_code == 403


@pytest.mark.parametrize("offset", [-301, -86400, 400])
def test_get_with_timestamp_over_five_minutes_off_is_forbidden(shared, offset):
    q = shared.query(timestamp=int(time.time()) + offset, echostr="123")
    assert shared.client.get("/wechat?" + urlencode(q)).status_code == 403


def test_get_within_the_clock_window_is_accepted(shared):
    q = shared.query(timestamp=int(time.time()) - 290, echostr="abc")
    response = shared.client.get("/wechat?" + urlencode(q))
    assert (response.status_code, response.get_data(as_text=True)) == (200, "abc")


def test_get_without_echostr_is_bad_request(shared):
    assert shared.client.get("/wechat?" + urlencode(shared.query())).status_code == 400


# -- 2. text messages in every mode ------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_scam_message_gets_the_matching_article(shared, mode):
    content = reply_text(*shared.post(text(LOAN_FEE_MESSAGE), mode=mode), mode=mode)
    assert ARTICLES[linked_case(content)].category == "fake_loan"
    assert MENU not in content


@pytest.mark.parametrize("mode", MODES)
def test_off_topic_message_gets_the_menu(shared, mode):
    assert reply_text(*shared.post(text("今天天气怎么样"), mode=mode), mode=mode) == MENU


@pytest.mark.parametrize("mode", MODES)
def test_urgent_message_starts_with_emergency_steps(shared, mode):
    content = reply_text(*shared.post(text(URGENT_MESSAGE), mode=mode), mode=mode)
    assert content.startswith(EMERGENCY_STEPS)
    assert "110" in content


def test_scam_in_progress_starts_with_hang_up(shared):
    content = reply_text(*shared.post(text("自称检察院的人还在跟我视频，叫我别挂，要我转钱")))
    assert content.startswith(IN_PROGRESS_STEPS)
    assert content.splitlines()[0] == "⚠️ 立即挂断电话/停止操作，不转账，不说验证码！"


def test_reply_is_addressed_to_each_sender(shared):
    for user in ("oAlice", "oBob-_x"):
        reply_text(*shared.post(text(LOAN_FEE_MESSAGE, from_user=user)), to=user)


def test_whitespace_around_cdata_is_ignored(shared):
    """Some WeChat pushes (card events in WeRoBot's samples) pad CDATA with whitespace."""
    xml = text(LOAN_FEE_MESSAGE).replace("<![CDATA[", " \n <![CDATA[").replace("]]>", "]]> \n")
    content = reply_text(*shared.post(xml, mode="safe"), mode="safe")
    assert ARTICLES[linked_case(content)].category == "fake_loan"


def test_form_encoded_body_is_still_read(shared):
    """curl and some proxies send the XML form-encoded; request.data would then be empty."""
    q = shared.query()
    response = shared.client.post("/wechat?" + urlencode(q),
                                  data=text("今天天气怎么样").encode(),
                                  content_type="application/x-www-form-urlencoded")
    assert reply_text(response, shared.open_reply(response, q)) == MENU


@pytest.mark.parametrize("case_id", sorted(ARTICLES))
def test_every_article_reply_fits_the_byte_budget(shared, case_id):
    content = reply_text(*shared.post(text(ARTICLES[case_id].examples[0])))
    assert len(content.encode("utf-8")) <= REPLY_BUDGET


# -- 3. other message types and events ---------------------------------------------------------
def test_voice_with_recognition_is_answered_like_text(shared):
    typed = reply_text(*shared.post(text(URGENT_MESSAGE)))
    spoken = reply_text(*shared.post(message("voice", MediaId="m1", Format="amr",
                                             Recognition=URGENT_MESSAGE + "。")))
    assert spoken == typed
    assert spoken.startswith(EMERGENCY_STEPS)


MEDIA_MESSAGES = {
    "voice-without-recognition": dict(msg_type="voice", MediaId="m1", Format="amr"),
    "voice-empty-recognition": dict(msg_type="voice", MediaId="m1", Format="amr",
                                    Recognition=""),
    "image": dict(msg_type="image", PicUrl="http://mmbiz.qpic.cn/x", MediaId="m1"),
    "video": dict(msg_type="video", MediaId="m1", ThumbMediaId="t1"),
    "shortvideo": dict(msg_type="shortvideo", MediaId="m1", ThumbMediaId="t1"),
    "location": dict(msg_type="location", Location_X="23.134521", Location_Y="113.358803",
                     Scale=20, Label="位置信息"),
    "link": dict(msg_type="link", Title="中奖通知", Description="点击领取", Url="http://x.test"),
    "file": dict(msg_type="file", Title="a.pdf", Description="", FileKey="k", FileMd5="m",
                 FileTotalLen=1024),
}


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("kind", list(MEDIA_MESSAGES))
def test_media_messages_ask_for_text(shared, kind, mode):
    fields = dict(MEDIA_MESSAGES[kind])
    msg_type = fields.pop("msg_type")
    # Screenshots: "please type it" while the account cannot send customer-service messages
    # (test_loop_screenshots.py covers OCR).
    expected = TYPE_IT if kind == "image" else MEDIA
    assert reply_text(*shared.post(message(msg_type, **fields), mode=mode), mode=mode) == expected


@pytest.mark.parametrize("fields", [{}, {"EventKey": "qrscene_123", "Ticket": "TICKET"}],
                         ids=["no-key", "qrscene_123"])
def test_subscribe_gets_the_welcome(shared, fields):
    assert reply_text(*shared.post(event("subscribe", **fields))) == WELCOME


def test_subscribe_in_safe_mode_gets_the_welcome(shared):
    assert reply_text(*shared.post(event("subscribe"), mode="safe"), mode="safe") == WELCOME


def test_scan_by_a_follower_gets_the_menu(shared):
    content = reply_text(*shared.post(event("SCAN", EventKey="123", Ticket="TICKET")))
    assert MENU in content


def check_menu_answer(key: str, content: str) -> None:
    assert content and content != MENU and MENU not in content
    if key == "COMMON_SCAMS":
        for scam in ("刷单返利", "虚假网络贷款", "冒充公检法", "冒充领导熟人亲友"):
            assert scam in content
    elif key == "I_WAS_SCAMMED":
        assert content.startswith(EMERGENCY_STEPS)
    elif key in ("REPORT", "ANTI_FRAUD_APP"):
        assert "国家反诈中心APP" in content or "举报" in content
    else:
        pytest.fail(f"no expectation written for new menu key {key}")


@pytest.mark.parametrize("key", list(MENU_KEYS))
def test_menu_click_answers_the_button(shared, key):
    check_menu_answer(key, reply_text(*shared.post(event("CLICK", EventKey=key))))
    shared.post(text("取消"))   # REPORT starts a 举报 conversation (test_loop_leads.py)


@pytest.mark.parametrize("key", list(MENU_KEYS))
def test_typing_the_menu_word_answers_like_the_button(shared, key):
    typed = reply_text(*shared.post(text(MENU_KEYS[key])))
    check_menu_answer(key, typed)
    assert typed == reply_text(*shared.post(event("CLICK", EventKey=key)))
    shared.post(text("取消"))


@pytest.mark.parametrize("name, fields", [
    ("unsubscribe", {}),
    ("some_future_event", {}),
    ("VIEW", {"EventKey": "https://bot.example.test/"}),
    ("LOCATION", {"Latitude": "23.137466", "Longitude": "113.352425", "Precision": "119.385040"}),
    ("TEMPLATESENDJOBFINISH", {"Status": "success"}),
])
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_events_needing_no_answer_get_success(shared, name, fields, mode):
    assert_success(*shared.post(event(name, **fields), mode=mode))


# -- 4. bad input: 4xx, never 500, and nothing logged ------------------------------------------
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">'
                            for i in range(2, 10)).replace("&lol1;", "&lol;")
                  + "]>" + text("LOL").replace("<![CDATA[LOL]]>", "&lol9;"))
XXE = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       + text("XXE").replace("<![CDATA[XXE]]>", "&xxe;"))


def post_raw(sender, body: bytes, **query):
    q = {**sender.query(), **query}
    return sender.client.post("/wechat?" + urlencode(q), data=body, content_type="text/xml")


def post_encrypted(sender, encrypt: str, **query):
    """Safe mode with the given Encrypt value and a correct msg_signature over it."""
    q = sender.query()
    q.update(encrypt_type="aes", msg_signature=sha1_sorted(TEST_TOKEN, q["timestamp"], q["nonce"],
                                                           encrypt))
    q.update(query)
    body = wechat_xml({"ToUserName": ACCOUNT, "Encrypt": encrypt})
    return sender.client.post("/wechat?" + urlencode(q), data=body.encode(),
                              content_type="text/xml")


def post_for_other_app(sender):
    other = WeChatSender(sender.client, TEST_TOKEN, TEST_AES_KEY, "wx_someone_else0")
    return other.post(text("你好"), mode="safe")[0]


def plain_signature_as_msg_signature(s):
    """wechatpy #739: passing ``signature`` where ``msg_signature`` belongs."""
    encrypt = parse_reply(s.crypto.encrypt_message(text("你好"), "n1", "1"))["Encrypt"]
    q = s.query()
    return post_encrypted(s, encrypt, timestamp=q["timestamp"], nonce=q["nonce"],
                          signature=q["signature"], msg_signature=q["signature"])


def bad_signature(s):
    return s.post(text("你好"), signature=sha1_sorted("not-our-token", "1", "2"))[0]


def padded_to(size: int) -> bytes:
    xml = text("你好")
    return (xml[:-len("</xml>")] + " " * (size - len(xml.encode())) + "</xml>").encode()


BAD_REQUESTS = {
    "bad signature": (403, bad_signature),
    "no signature parameters": (403, lambda s: s.client.post(
        "/wechat", data=text("你好").encode(), content_type="text/xml")),
    "bad msg_signature": (403, lambda s: s.post(text("你好"), mode="safe",
                                                msg_signature="0" * 40)[0]),
    "plain signature in place of msg_signature": (403, plain_signature_as_msg_signature),
    "timestamp 301 s old": (403, lambda s: s.post(text("你好"),
                                                  timestamp=int(time.time()) - 301)[0]),
    "timestamp 301 s old, safe": (403, lambda s: s.post(text("你好"), mode="safe",
                                                        timestamp=int(time.time()) - 301)[0]),
    "timestamp 400 s ahead": (403, lambda s: s.post(text("你好"),
                                                    timestamp=int(time.time()) + 400)[0]),
    "malformed XML": (400, lambda s: post_raw(s, b"<xml><ToUserName>gh_account</ToUser")),
    "not XML": (400, lambda s: post_raw(s, b"hello")),
    "root is not <xml>": (400, lambda s: post_raw(
        s, text("你好").replace("xml>", "x>").encode())),
    "billion laughs": (400, lambda s: post_raw(s, BILLION_LAUGHS.encode())),
    "billion laughs in UTF-16": (400, lambda s: post_raw(
        s, BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
        .encode("utf-16"))),
    "external entity": (400, lambda s: post_raw(s, XXE.encode())),
    "billion laughs inside the encryption": (400, lambda s: s.post(
        BILLION_LAUGHS, mode="safe")[0]),
    "body over 64 KiB": (413, lambda s: post_raw(s, padded_to(64 * 1024 + 1))),
    "body of 1 MiB": (413, lambda s: post_raw(s, padded_to(1 << 20))),
    "empty body": (400, lambda s: post_raw(s, b"")),
    "empty body, safe": (400, lambda s: post_raw(s, b"", encrypt_type="aes",
                                                 msg_signature="0" * 40)),
    "no MsgType": (400, lambda s: post_raw(s, text("你好").replace(
        "<MsgType><![CDATA[text]]></MsgType>", "").encode())),
    "no FromUserName": (400, lambda s: post_raw(s, text("你好").replace(
        f"<FromUserName><![CDATA[{USER}]]></FromUserName>", "").encode())),
    "empty FromUserName": (400, lambda s: post_raw(s, text("你好", from_user=" ").encode())),
    "garbage Encrypt": (400, lambda s: post_encrypted(s, "garbage")),
    "Encrypt not base64": (400, lambda s: post_encrypted(s, "!!!notbase64!!!")),
    "Encrypt not whole AES blocks": (400, lambda s: post_encrypted(s, "eHh4eHh4eHh4eHh4eHh4")),
    "Encrypt too short": (400, lambda s: post_encrypted(s, "A" * 43 + "=")),
    "no Encrypt element": (400, lambda s: post_raw(s, text("你好").encode(), encrypt_type="aes",
                                                   msg_signature="0" * 40)),
    "encrypt_type=aes without msg_signature": (400, lambda s: s.post(
        text("你好"), mode="safe", msg_signature="")[0]),
    "unknown encrypt_type": (400, lambda s: s.post(text("你好"), encrypt_type="des")[0]),
    "encrypted for another app id": (403, post_for_other_app),
    "non-UTF-8 bytes": (400, lambda s: post_raw(s, text("你好").encode("gbk"))),
    "stray 0xFF bytes": (400, lambda s: post_raw(
        s, text("你好").encode().replace("你好".encode(), b"\xff\xfe\xfd"))),
    "non-UTF-8 bytes, safe": (400, lambda s: post_raw(
        s, "<xml><Encrypt><![CDATA[垃圾]]></Encrypt></xml>".encode("gbk"),
        encrypt_type="aes", msg_signature="0" * 40)),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_refused_without_logging(shared_app, shared, case):
    status, send = BAD_REQUESTS[case]
    questions, deliveries = count(shared_app, "questions"), count(shared_app, "wechat_deliveries")
    response = send(shared)
    assert response.status_code == status, response.get_data(as_text=True)
    assert not response.get_data(as_text=True).startswith("<xml>")
    assert count(shared_app, "questions") == questions
    assert count(shared_app, "wechat_deliveries") == deliveries


def test_body_of_exactly_64_kib_is_accepted(shared):
    response = post_raw(shared, padded_to(64 * 1024))
    assert response.status_code == 200


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_unknown_message_type_gets_success_and_no_log(shared_app, shared, mode):
    questions = count(shared_app, "questions")
    assert_success(*shared.post(message("hologram", Payload="x"), mode=mode))
    assert count(shared_app, "questions") == questions


# -- 5. redelivery: answered once, in any worker -----------------------------------------------
def test_redelivered_message_is_answered_once(app, sender):
    xml = text(LOAN_FEE_MESSAGE)
    deliveries = [sender.post(xml) for _ in range(3)]  # a new timestamp and nonce each time
    contents = [reply_text(*d) for d in deliveries]
    assert contents[0] == contents[1] == contents[2]
    assert ARTICLES[linked_case(contents[0])].category == "fake_loan"
    assert len({response.get_data() for response, _ in deliveries}) == 1  # the stored reply
    assert len(question_rows(app)) == 1


def test_redelivered_subscribe_is_welcomed_once(app, sender):
    for n, mode in enumerate(["plain", "safe"], start=1):
        user = f"oNewFollower{n}"
        xml = event("subscribe", from_user=user, EventKey="qrscene_123")
        replies = [sender.post(xml, mode=mode)[1] for _ in range(3)]
        assert replies[0] == replies[1] == replies[2]  # the stored reply, CreateTime and all
        assert parse_reply(replies[0])["Content"] == WELCOME
        assert parse_reply(replies[0])["ToUserName"] == user
        assert count(app, "wechat_deliveries") == n


def test_redelivery_to_another_worker_gets_the_same_reply(app, settings, sender):
    other = WeChatSender(create_app(settings).test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    xml = text(URGENT_MESSAGE)
    first = reply_text(*sender.post(xml, mode="safe"), mode="safe")
    again = reply_text(*other.post(xml, mode="safe"), mode="safe")
    assert first == again and first.startswith(EMERGENCY_STEPS)
    assert len(question_rows(app)) == 1


def test_simultaneous_deliveries_to_two_workers_are_answered_once(app, settings, sender):
    workers = [sender, WeChatSender(create_app(settings).test_client(),
                                    TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)]
    xml, start, contents = text(LOAN_FEE_MESSAGE), threading.Barrier(2), [None, None]

    def deliver(i):
        start.wait()
        contents[i] = reply_text(*workers[i].post(xml))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert contents[0] == contents[1] and contents[0] is not None
    assert len(question_rows(app)) == 1


def test_push_recorded_by_another_worker_meanwhile_gets_that_reply(app, sender):
    """A redelivery finds the recorded reply and sends it: nothing is answered or logged."""
    xml = text(LOAN_FEE_MESSAGE)
    key = parse_inbound(xml.encode()).delivery_key
    recorded = (
        "<xml><ToUserName><![CDATA[oUser1]]></ToUserName><FromUserName><![CDATA[gh_account]]>"
        "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[recorded earlier]]></Content></xml>")
    app.extensions["db"]().execute(
        "INSERT INTO wechat_deliveries (key, received_at, reply) VALUES (?, ?, ?)",
        [key, time.time(), recorded])
    response, reply = sender.post(xml)
    assert reply == recorded
    assert question_rows(app) == []


def test_racing_deliveries_record_one_reply_and_one_log_row(app):
    """Two workers that both computed an answer: the second to record gets the first's."""
    deliveries = app.extensions["deliveries"]
    row = {"asked_at": "t", "channel": "wechat", "user_hash": "u", "text": "q",
           "category": "none", "urgent": 0, "score": 0.0, "case_id": None}
    assert deliveries.record("m:42", "<xml>first</xml>", row) == "<xml>first</xml>"
    assert deliveries.record("m:42", "<xml>second</xml>", row) == "<xml>first</xml>"
    assert len(question_rows(app)) == 1


def test_different_events_in_the_same_second_are_not_redeliveries(app, sender):
    """A new follower whose client also reports its location (LOCATION on entering the chat)
    can send two events with one CreateTime; only true redeliveries may share a reply."""
    created = int(time.time())
    location = event("LOCATION", create_time=created, Latitude="23.1", Longitude="113.3",
                     Precision="50.0")
    assert sender.post(location)[0].get_data(as_text=True) == "success"
    assert reply_text(*sender.post(event("subscribe", create_time=created))) == WELCOME
    clicks = [reply_text(*sender.post(event("CLICK", create_time=created + 1, EventKey=key)))
              for key in ("COMMON_SCAMS", "I_WAS_SCAMMED")]
    assert clicks[1].startswith(EMERGENCY_STEPS)


# -- 6. the question log -----------------------------------------------------------------------
def test_text_message_is_logged_with_a_pseudonym(app, sender):
    openid = "oQ7fJ5gGf3NnX2yBqZ_wPv1K"
    reply_text(*sender.post(text(LOAN_FEE_MESSAGE, from_user=openid)), to=openid)
    [row] = question_rows(app)
    assert row["channel"] == "wechat"
    assert row["text"] == LOAN_FEE_MESSAGE
    assert row["category"] == "fake_loan"
    assert row["urgent"] == 0
    assert row["score"] > 0
    assert row["user_hash"] and openid not in row["user_hash"]
    assert openid not in repr(row)

    reply_text(*sender.post(text(URGENT_MESSAGE, from_user=openid), mode="safe"), mode="safe",
               to=openid)
    reply_text(*sender.post(text(URGENT_MESSAGE, from_user="oSomeoneElse")), to="oSomeoneElse")
    rows = question_rows(app)
    assert [(r["text"], r["urgent"]) for r in rows] == [
        (LOAN_FEE_MESSAGE, 0), (URGENT_MESSAGE, 1), (URGENT_MESSAGE, 1)]
    assert rows[1]["user_hash"] == row["user_hash"] != rows[2]["user_hash"]


def test_menu_words_and_media_are_not_logged_as_questions(app, sender):
    reply_text(*sender.post(text(MENU_KEYS["COMMON_SCAMS"])))
    reply_text(*sender.post(message("image", PicUrl="http://x", MediaId="m")))
    reply_text(*sender.post(event("subscribe")))
    assert question_rows(app) == []


def test_reply_xml_survives_cdata_terminators(app):
    """A sender id or article text containing ']]>' cannot break out of the reply's CDATA."""
    from xml.etree import ElementTree

    from bot.wechat.protocol import InboundMessage
    gate = app.extensions["wechat_gate"]
    msg = InboundMessage(msg_type="text", from_user="o]]><evil/>", to_user="gh", create_time=1)
    xml = gate.render_text("看这里 ]]> 结束", msg, now=5)
    root = ElementTree.fromstring(xml)
    assert root.find("ToUserName").text == "o]]><evil/>"
    assert root.find("Content").text == "看这里 ]]> 结束" and root.find("evil") is None


def test_batched_records_are_visible_at_once_and_written_on_flush(tmp_path):
    """The production setting: records wait up to record_batch_ms, then one transaction."""
    from bot.storage.db import connect, make_db_factory
    from bot.storage.schema import migrate
    from bot.wechat.deliveries import Deliveries
    migrate(connect(tmp_path / "b.db"))
    worker1 = Deliveries(make_db_factory(tmp_path / "b.db", 0), flush_seconds=60)
    worker2 = Deliveries(make_db_factory(tmp_path / "b.db", 0), flush_seconds=60)
    question = {"asked_at": "t", "channel": "wechat", "user_hash": "u", "text": "q",
                "category": "none", "urgent": 0, "score": 0.0, "case_id": None}
    assert worker1.record("m:1", "<xml>one</xml>", question) == "<xml>one</xml>"
    assert worker1.recorded_reply("m:1") == "<xml>one</xml>"      # its own worker: at once
    assert worker2.recorded_reply("m:1") is None                  # others: after the flush
    worker2.record("m:1", "<xml>two</xml>", question)             # a racing second worker
    worker1.flush()
    worker2.flush()
    db = connect(tmp_path / "b.db")
    assert db.execute("SELECT reply FROM wechat_deliveries").fetchall() == [("<xml>one</xml>",)]
    assert db["questions"].count == 1
    assert worker2.recorded_reply("m:1") == "<xml>one</xml>"


def test_every_passive_reply_fits_the_byte_budget_fixed_texts_included(tmp_path):
    """The welcome and the category overview are fixed texts; they are cut like answers."""
    app = create_app(make_settings(tmp_path, wechat={"reply_max_bytes": 200}))
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    for xml in (event("subscribe"), event("CLICK", EventKey="COMMON_SCAMS"),
                message("text", Content="有人让我转账到安全账户")):
        text = reply_text(*sender.post(xml))
        assert 0 < len(text.encode("utf-8")) <= 200, text
