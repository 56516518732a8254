"""Links and numbers: extraction, look-alike domains, and the check added to WeChat answers
(through the real webhook), which never logs a number in clear."""
from __future__ import annotations

import logging
import unicodedata

import pytest

from bot import create_app
from bot.content.model import load_content
from bot.loop import indicators
from bot.loop.indicators import (NOT_PROOF, OFFICIAL_DOMAINS, extract, look_alike, mask_digits)
from bot.loop.watchlist import add_entry
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from wechat_client import WeChatSender, reply_content, text_xml


def kinds(text: str) -> list[tuple[str, str]]:
    return [(i.kind, i.value) for i in extract(text)]


def test_extracts_links_phones_cards_ids_and_apps():
    found = kinds("快点开 http://icbc-vip.cc/login?a=1，客服13812345678，卡号6222 0212 3456 7890 123，"
                  "加QQ：123456789 微信号：abc_12345，下载了“安心贷”APP")
    assert found == [("link", "icbc-vip.cc"), ("card", "6222021234567890123"),
                     ("phone", "13812345678"), ("qq", "123456789"), ("wechat", "abc_12345"),
                     ("app", "安心贷")]
    assert kinds("我收到www.1cbc.com.cn的短信，去ccb.com查") == [("link", "1cbc.com.cn"),
                                                           ("link", "ccb.com")]
    assert kinds("0755-12345678 和 400-123-4567，打95588") == [
        ("phone", "075512345678"), ("phone", "4001234567"), ("phone", "95588")]


def test_messages_without_letters_or_digits_skip_only_patterns_that_need_them(content_dir):
    """extract() looks for links, numbers and ids only when the message has an ASCII letter
    or a digit (each of those patterns needs one); on every line of the bank and on
    messages made to probe the edges it finds exactly what the full search finds."""
    def full(text):
        found = {}

        def add(kind, value, masked):
            found.setdefault((kind, value), indicators.Indicator(kind, value, masked))
        indicators._extract_numbers_and_links(unicodedata.normalize("NFKC", text), add)
        return [(i.kind, i.value) for i in found.values()] + \
            [(i.kind, i.value) for i in extract(text) if i.kind == "app"]
    lines = [e for a in load_content(content_dir).articles for e in
             [a.title, *a.examples, *(u for u, _ in a.urgent_examples)]]
    probes = ["打１３８１２３４５６７８", "ＱＱ：１２３４５６", "下载了安心贷软件", "微信号ａｂｃ＿１２３４５",
              "去 ＷＷＷ．ＩＣＢＣ．ＣＯＭ 看看", "卡号６２２２０２１２３４５６７８９０１２３", "没有数字的一句话"]
    for text in lines + probes:
        assert sorted(kinds(text)) == sorted(full(text)), text
    assert kinds("打１３８１２３４５６７８") == [("phone", "13812345678")]


def test_amounts_and_masked_examples_are_not_numbers():
    assert kinds("我转了10000元，又转了95000块，验证码是123456") == []
    assert kinds("138xxxx1234 发来的短信") == []


def test_masking_keeps_only_the_ends():
    assert mask_digits("13812345678") == "138****5678"
    assert mask_digits("6222021234567890123") == "6222***********0123"
    assert [i.masked for i in extract("13812345678")] == ["138****5678"]


@pytest.mark.parametrize("host, flagged", [
    ("icbc.com.cn", False), ("www.icbc.com.cn", False), ("a.b.gov.cn", False),
    ("example.com", False), ("1cbc.com.cn", True), ("abchlna.com", True),
    ("icbc-vip.cc", True), ("gov-cn.top", True), ("xn--fiqs8s.com", True),
    ("cmbchina.com.login-check.top", True),
])
def test_look_alike_domains(host, flagged):
    assert bool(look_alike(host.removeprefix("www."), OFFICIAL_DOMAINS)) is flagged


# -- through the webhook ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def loop_app(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("loopchecks")))
    db = app.extensions["db"]()
    add_entry(db, "link", "https://anxin-dai.top/x", "scam", "假贷款平台", "tester")
    add_entry(db, "phone", "17099998888", "scam", "", "tester")
    return app


def ask(app, content: str, user: str = "oLoopUser1") -> str:
    sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
    response, reply = sender.post(text_xml(content, from_user=user))
    assert response.status_code == 200
    return reply_content(reply)


def test_answer_says_what_is_known_and_that_unknown_is_not_safe(loop_app, caplog):
    caplog.set_level(logging.INFO)
    reply = ask(loop_app, "这个网站 anxin-dai.top 说放款前要交保证金，电话17099998888，是不是骗子")
    assert "anxin-dai.top：已被列为诈骗链接（假贷款平台）" in reply
    assert "170****8888：已被列为诈骗电话" in reply
    assert NOT_PROOF in reply
    assert len(reply.encode()) <= 2000
    assert "17099998888" not in caplog.text and "17099998888" not in reply


def test_unknown_and_look_alike_links(loop_app):
    reply = ask(loop_app, "收到短信说ETC要认证，点 http://icbc-etc.cc 还有 13900001111 打来的")
    assert "icbc-etc.cc：带着工商银行的名字，但不是工商银行官网" in reply
    assert "139****1111：我们的名单里还没有它。" in reply
    assert NOT_PROOF in reply


def test_official_numbers_are_named_and_still_not_proof(loop_app):
    reply = ask(loop_app, "95588打电话说我的卡要冻结")
    assert "95588：是工商银行客服的官方号码" in reply and NOT_PROOF in reply


def test_plain_questions_get_no_check(loop_app):
    assert NOT_PROOF not in ask(loop_app, "网上有个贷款平台说放款前要先交3000元保证金")
