"""Post WeChat messages to the app exactly as WeChat does: signed, and encrypted in safe mode."""
from __future__ import annotations

import hashlib
import itertools
import time
from urllib.parse import urlencode

from wechatpy.crypto import WeChatCrypto

_counter = itertools.count(1)


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(content: str, from_user: str = "oUser1", msg_id: int | None = None,
             create_time: int | None = None, to_user: str = "gh_account") -> str:
    msg_id = msg_id or (int(time.time() * 1000) * 1000 + next(_counter))
    create_time = create_time or int(time.time())
    return (f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
            f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


class WeChatSender:
    """Signs (and in 'safe'/'compatible' mode encrypts) a message and posts it to /wechat."""

    def __init__(self, client, token: str, aes_key: str, app_id: str):
        self.client = client
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id)

    def query(self, timestamp: int | None = None, nonce: str | None = None, **extra) -> dict:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or f"n{next(_counter)}"
        return {"signature": sha1_sorted(self.token, ts, nonce), "timestamp": ts,
                "nonce": nonce, **extra}

    def post(self, xml: str, mode: str = "plain", timestamp: int | None = None, **overrides):
        """Post like WeChat; returns (response, reply_xml_plain or None)."""
        q = self.query(timestamp)
        body = xml
        if mode in ("safe", "compatible"):
            sealed = self.crypto.encrypt_message(xml, q["nonce"], q["timestamp"])
            encrypt = sealed.split("<Encrypt><![CDATA[")[1].split("]]></Encrypt>")[0]
            q["encrypt_type"] = "aes"
            q["msg_signature"] = sha1_sorted(self.token, q["timestamp"], q["nonce"], encrypt)
            if mode == "safe":
                body = f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
            else:  # compatible mode carries the plain fields and the encrypted copy
                body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        q.update(overrides)
        response = self.client.post("/wechat?" + urlencode(q), data=body.encode("utf-8"),
                                    content_type="text/xml")
        return response, self.open_reply(response, q)

    def open_reply(self, response, q) -> str | None:
        text = response.get_data(as_text=True)
        if response.status_code != 200 or not text.startswith("<xml>"):
            return None
        if q.get("encrypt_type") == "aes":
            assert "<Encrypt>" in text and "<MsgSignature>" in text
            ts = text.split("<TimeStamp>")[1].split("</TimeStamp>")[0]
            nonce = text.split("<Nonce><![CDATA[")[1].split("]]></Nonce>")[0]
            sig = text.split("<MsgSignature><![CDATA[")[1].split("]]></MsgSignature>")[0]
            return self.crypto.decrypt_message(text, sig, ts, nonce)  # checks the signature
        return text


def reply_content(reply_xml: str) -> str:
    return reply_xml.split("<Content><![CDATA[")[1].split("]]></Content>")[0]
