"""The lean WSGI path of POST /wechat (bot/wechat/lean.py) answers exactly as Flask does.

Two apps with the same settings, one with the lean path (as served) and one without it
(``create_app(..., lean_webhook=False)``), get the same requests, good, forged and malformed;
status line, headers and body must be the same bytes. The reply's CreateTime (and in safe
mode the random AES padding, hence the ciphertext) is the only thing allowed to differ.
"""
from __future__ import annotations

import itertools
import logging
import re
import time
from urllib.parse import urlencode

import pytest

from bot import create_app
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from wechat_client import WeChatSender, sha1_sorted, text_xml

_ids = itertools.count(int(time.time() * 1000) * 1000)
_nonces = itertools.count(1)


def pair(tmp_path, **sections):
    """(lean app, Flask-only app), each with its own database."""
    lean = create_app(make_settings(tmp_path / "lean", **sections))
    flask = create_app(make_settings(tmp_path / "flask", **sections), lean_webhook=False)
    return lean, flask


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    return pair(tmp_path_factory.mktemp("lean"))


def signed_query(timestamp=None, nonce=None, **extra) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or f"lean{next(_nonces)}"
    return {"signature": sha1_sorted(TEST_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
            **extra}


def message(content="网上贷款要先交保证金", **kw) -> str:
    return text_xml(content, msg_id=next(_ids), **kw)


def post(app, query, body: bytes, **kw):
    path = "/wechat?" + (query if isinstance(query, str) else urlencode(query))
    return app.test_client().post(path, data=body, content_type="text/xml", **kw)


def same(lean, flask, query, body: bytes, **kw):
    """Post the same request to both apps; the responses must match byte for byte."""
    a, b = post(lean, query, body, **kw), post(flask, query, body, **kw)
    assert a.status == b.status
    assert list(a.headers.items()) == list(b.headers.items())
    stamp = re.compile(rb"<CreateTime>\d+</CreateTime>")
    assert stamp.sub(b"", a.get_data()) == stamp.sub(b"", b.get_data())
    return a


def test_a_first_delivery_and_its_redelivery_are_the_same_bytes(apps):
    lean, flask = apps
    query, body = signed_query(), message().encode()
    first = same(lean, flask, query, body)
    assert first.status_code == 200 and first.content_type == "application/xml; charset=utf-8"
    assert "/cases/loan-" in first.get_data(as_text=True)
    assert first.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in first.headers
    again = same(lean, flask, query, body)
    assert again.get_data() == first.get_data()     # answered from the record, time included


WELCOME_EVENT = ("<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName>"
                 "<![CDATA[oLean1]]></FromUserName><CreateTime>{t}</CreateTime><MsgType>"
                 "<![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>")


@pytest.mark.parametrize("case", [
    "menu word", "empty text", "image", "subscribe", "unknown type",
])
def test_other_messages_are_the_same_bytes(apps, case):
    lean, flask = apps
    body = {
        "menu word": message("常见骗局"),
        "empty text": message(" "),
        "image": message("x").replace("<MsgType><![CDATA[text]]>", "<MsgType><![CDATA[image]]>"),
        "subscribe": WELCOME_EVENT.format(t=next(_ids) % 10**9),
        "unknown type": message("x").replace("[text]", "[spaceship]"),
    }[case]
    assert same(lean, flask, signed_query(), body.encode()).status_code == 200


FORGED = {
    "bad signature": lambda: ({**signed_query(), "signature": "0" * 40}, message()),
    "no signature": lambda: ({k: v for k, v in signed_query().items() if k != "signature"},
                             message()),
    "stale timestamp": lambda: (signed_query(timestamp=int(time.time()) - 3600), message()),
    "nonce with a slash": lambda: (signed_query(nonce="a/b"), message()),
    "unknown encrypt_type": lambda: (signed_query(encrypt_type="rot13"), message()),
    "aes without msg_signature": lambda: (signed_query(encrypt_type="aes"),
                                          "<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>"),
    "malformed XML": lambda: (signed_query(), "<xml><MsgType>text"),
    "empty body": lambda: (signed_query(), ""),
    "DOCTYPE": lambda: (signed_query(), '<!DOCTYPE x [<!ENTITY a "b">]>' + message()),
    "no sender": lambda: (signed_query(), message().replace("FromUserName", "Nobody")),
    "wrong root": lambda: (signed_query(), "<note><a>1</a></note>"),
}


@pytest.mark.parametrize("case", list(FORGED))
def test_forged_and_malformed_requests_get_the_same_4xx(apps, case):
    lean, flask = apps
    query, body = FORGED[case]()
    response = same(lean, flask, query, body.encode())
    assert 400 <= response.status_code < 500
    assert response.content_type == "text/plain; charset=utf-8"


def test_bytes_that_are_not_utf8_get_the_same_400(apps):
    lean, flask = apps
    assert same(lean, flask, signed_query(), message("你好").encode("gbk")).status_code == 400
    # A query string that is not UTF-8: a 400 on both paths (werkzeug alone would raise: 500).
    query = urlencode(signed_query()) + "&x=%ff"
    assert same(lean, flask, query, message().encode(),
                environ_overrides={"QUERY_STRING": query.replace("%ff", "\xff")}
                ).status_code == 400


def test_the_same_signed_url_for_another_message_is_refused_on_both(apps):
    lean, flask = apps
    query = signed_query()
    assert same(lean, flask, query, message().encode()).status_code == 200
    refused = same(lean, flask, query, message().encode())
    assert refused.status_code == 403


def test_size_limits_are_the_same(apps):
    lean, flask = apps
    big = message("骗" * 30000).encode()                   # past wechat.max_body_bytes
    assert same(lean, flask, signed_query(), big).status_code == 413
    # No Content-Length (chunked, the server ends the stream): werkzeug stops reading at
    # MAX_CONTENT_LENGTH, one byte past the webhook's limit, so the cut body is still too
    # large (413) on both paths, not malformed XML.
    huge = message("骗" * 40000).encode()
    response = same(lean, flask, signed_query(), huge, headers={"Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    # A chunked body within the limit is read whole and answered.
    fits = message("我刚转了五百块 对方把我拉黑了").encode()
    response = same(lean, flask, signed_query(), fits, headers={"Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200


def test_safe_mode_replies_open_to_the_same_text(apps):
    lean, flask = apps
    xml = message("我刚给对方转了8000块 现在联系不上了")
    replies = []
    for app in (lean, flask):
        sender = WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
        response, reply = sender.post(xml, mode="safe")
        replies.append((response.status, list(response.headers.items()),
                        re.sub(r"<CreateTime>\d+</CreateTime>", "", reply)))
    assert replies[0] == replies[1] and replies[0][0] == "200 OK"


def test_other_requests_still_go_to_flask(apps):
    lean, flask = apps
    for method, path in [("GET", "/wechat"), ("POST", "/wechat/"), ("PUT", "/wechat"),
                         ("GET", "/healthz")]:
        a = lean.test_client().open(path, method=method)
        b = flask.test_client().open(path, method=method)
        assert (a.status, a.headers.get("Content-Type")) == \
            (b.status, b.headers.get("Content-Type")), (method, path)


def test_access_line_and_proxy_address_are_the_same(tmp_path, caplog):
    lean, flask = pair(tmp_path, server={"trusted_proxy_hops": 1})
    caplog.set_level(logging.INFO, logger="bot.access")
    headers = {"X-Forwarded-For": "203.0.113.9"}
    for app in (lean, flask):
        post(app, signed_query(), message().encode(), headers=headers)
        post(app, {**signed_query(), "signature": "x"}, message().encode(), headers=headers)
    lines = [re.sub(r" \d+ ms ", " N ms ", r.getMessage()) for r in caplog.records
             if r.name == "bot.access"]
    assert lines == ["POST /wechat 200 N ms client 203.0.113.9",
                     "POST /wechat 403 N ms client 203.0.113.9"] * 2


def test_no_access_line_when_switched_off(tmp_path, caplog):
    lean, _ = pair(tmp_path, logging={"access_log": False})
    caplog.set_level(logging.INFO, logger="bot.access")
    assert post(lean, signed_query(), message().encode()).status_code == 200
    assert not [r for r in caplog.records if r.name == "bot.access"]


def test_a_database_that_refuses_gets_the_same_503(tmp_path):
    lean, flask = pair(tmp_path)
    for app in (lean, flask):
        app.extensions["db"]().execute("DROP TABLE wechat_deliveries")
    response = same(lean, flask, signed_query(), message().encode())
    assert response.status_code == 503 and "数据库" in response.get_data(as_text=True)


class _BrokenDeliveries:
    """A deliveries store with a bug: not a 4xx, so both paths must give Flask's 500."""

    def lookup(self, key, nonce):
        raise RuntimeError("bug")


def test_an_unexpected_error_is_the_same_500_or_raised_when_testing(tmp_path, caplog):
    lean, flask = pair(tmp_path)
    for app in (lean, flask):
        app.extensions["deliveries"] = _BrokenDeliveries()
    response = same(lean, flask, signed_query(), message().encode())
    assert response.status_code == 500 and response.content_type == "text/plain; charset=utf-8"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == \
        ["Exception on /wechat [POST]"] * 2
    for app in (lean, flask):
        app.testing = True
        with pytest.raises(RuntimeError):
            post(app, signed_query(), message().encode())


def test_the_flask_hooks_the_lean_path_stands_in_for():
    """The lean path does what these hooks do for a push. A new app-wide hook fails this test:
    then decide whether POST /wechat needs it and do the same in bot/wechat/lean.py."""
    import tempfile
    from pathlib import Path

    app = create_app(make_settings(Path(tempfile.mkdtemp(prefix="lean-hooks-"))))

    def names(funcs):
        return {k: [f.__qualname__ for f in v] for k, v in funcs.items()}

    assert names(app.before_request_funcs) == {
        None: ["CSRFProtect.init_app.<locals>.csrf_protect",   # /wechat is exempt
               "load_user",                                    # /admin only
               "init_access_log.<locals>._start_timer"],
        "api": ["_rate_limit"]}
    assert names(app.after_request_funcs) == {
        None: ["init_access_log.<locals>._log_request", "_security_headers"]}
    assert not app.teardown_request_funcs and not app.teardown_appcontext_funcs
    assert not app.url_value_preprocessors
