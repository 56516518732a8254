"""Issue 8, webhook and API: each failure an adversarial review found, reproduced against the
real app (and, for slow clients, a real gunicorn), and what must happen instead. Admin console
attacks: test_security_admin.py."""
from __future__ import annotations

import json

import pytest

from test_webhook import (LOAN_FEE_MESSAGE, count, post_raw, reply_text, shared,  # noqa: F401
                          shared_app, text)


# -- 8. any body WeChat could not have sent is a 4xx --------------------------------------------
def _declared(encoding: str, payload: bytes | None = None) -> bytes:
    xml = text("你好，我被骗了")
    return payload or f'<?xml version="1.0" encoding="{encoding}"?>{xml}'.encode("utf-8")


HOSTILE_XML = {
    "GBK declared, UTF-8 bytes": _declared("GBK"),
    "GBK declared, GBK bytes": f'<?xml version="1.0" encoding="GBK"?>{text("你好")}'.encode("gbk"),
    "GB2312 declared": _declared("GB2312"),
    "GB18030 declared": _declared("GB18030"),
    "Big5 declared": _declared("Big5"),
    "Shift_JIS declared": _declared("Shift_JIS"),
    "UTF-16 declared, UTF-8 bytes": _declared("UTF-16"),
    "UTF-32 declared": _declared("UTF-32"),
    "latin-1 declared": _declared("ISO-8859-1"),
    "unknown encoding": _declared("x-no-such-encoding"),
    "empty encoding": _declared(""),
    "encoding with spaces": _declared("utf 8"),
    "EBCDIC declared": _declared("cp500"),
    "deeply nested elements": (b"<xml><ToUserName>a</ToUserName>" + b"<a>" * 15000
                               + b"</a>" * 15000 + b"</xml>"),
    "deeply nested inside Content": text("x").replace(
        "<Content>", "<Content>" + "<b>" * 12000).replace("</Content>", "</b>" * 12000
                                                          + "</Content>").encode(),
    "character reference to a surrogate": text("x").replace("x", "&#xD800;").encode(),
}


@pytest.mark.parametrize("case", list(HOSTILE_XML))
def test_xml_wechat_could_not_have_sent_is_a_400(shared_app, shared, case):
    before = count(shared_app, "questions")
    r = post_raw(shared, HOSTILE_XML[case])
    assert 400 <= r.status_code < 500, (case, r.status_code, r.get_data(as_text=True)[:200])
    assert count(shared_app, "questions") == before


@pytest.mark.parametrize("encoding", ["UTF-8", "utf-8", "utf8"])
def test_xml_declaring_utf8_is_still_answered(shared, encoding):
    r = post_raw(shared, _declared(encoding, f'<?xml version="1.0" encoding="{encoding}"?>'
                                   f'{text(LOAN_FEE_MESSAGE)}'.encode()))
    assert r.status_code == 200 and "<xml>" in r.get_data(as_text=True)


# -- 9. /api/v1/ask: lone surrogates and deep nesting are a 400 ---------------------------------
@pytest.mark.parametrize("raw", [
    b'{"q": "\\ud800"}', b'{"q": "\\udfff\\ud800"}', b'{"q": "\xe9\x97\xae\\ud83d"}',
    b"[" * 50_000, b"{\"q\": " + b"[" * 30_000 + b"]" * 30_000 + b"}", b"{\"q\":" * 12_000,
    b'{"q": "' + b"\\ud800" * 400 + b'"}',
])
def test_ask_with_unencodable_or_deep_json_is_a_400(shared_app, raw):
    client = shared_app.test_client()
    before = count(shared_app, "questions")
    r = client.post("/api/v1/ask", data=raw, content_type="application/json")
    assert r.status_code == 400, (raw[:40], r.status_code)
    assert r.get_json()["error"]["status"] == 400
    assert count(shared_app, "questions") == before
    assert client.post("/api/v1/ask", json={"q": "网贷要先交保证金"}).status_code == 200


def test_ask_with_a_nul_or_emoji_is_answered(shared_app):
    client = shared_app.test_client()
    for q in ("网贷要先交保证金\x00", "网贷要先交保证金😀", "\U0001F600"):
        r = client.post("/api/v1/ask", data=json.dumps({"q": q}), content_type="application/json")
        assert r.status_code == 200, q
