"""The WeChat boundary: signatures, AES, parsing inbound XML and rendering replies.

The only module that imports wechatpy. Everything inside the app sees ``InboundMessage`` and
returns plain values; this module turns them into XML (and encrypts in safe mode).
Docs: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field

from xml.etree import ElementTree

from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from ..errors import BadRequest, Forbidden

# DOCTYPE or ENTITY declarations have no place in WeChat messages and enable entity-expansion
# attacks ("billion laughs"); refuse them before any parser sees the text.
_DTD_RE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.I)
# An XML declaration may only name UTF-8: WeChat sends nothing else, and expat would otherwise
# decode by the declared name (multi-byte ones are not supported and fail the parse).
_XML_DECLARATION_RE = re.compile(rb"^\s*<\?xml\b(.*?)\?>", re.S)
_DECLARED_ENCODING_RE = re.compile(rb"""\bencoding\s*=\s*["']([^"']*)["']""")
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TEXT_REPLY = ("<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
               "<FromUserName><![CDATA[{source}]]></FromUserName>"
               "<CreateTime>{time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               "<Content><![CDATA[{content}]]></Content></xml>")


_SEALED_REPLY = ("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                 "<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                 "<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>")


def _cdata(text: str) -> str:
    """Text safe inside <![CDATA[...]]>: a literal ']]>' is split across two sections."""
    return text.replace("]]>", "]]]]><![CDATA[>")


@dataclass(frozen=True)
class InboundMessage:
    """The fields of a WeChat push we use; ``raw`` keeps the rest."""
    msg_type: str
    from_user: str
    to_user: str
    create_time: int
    msg_id: str = ""
    event: str = ""
    event_key: str = ""
    content: str = ""
    recognition: str = ""
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def delivery_key(self) -> str:
        """Same for every redelivery of one push: MsgId; for events sender and time, plus the
        event and its key, so two different events in the same second stay two."""
        if self.msg_id:
            return f"m:{self.msg_id}"
        return f"e:{self.from_user}:{self.create_time}:{self.event}:{self.event_key}"


class WeChatGate:
    """Checks and opens inbound requests, seals replies; built once per app from settings."""

    def __init__(self, token: str, app_id: str, aes_key: str, max_skew: int,
                 max_body: int):
        self.token = token
        self.app_id = app_id
        self.max_skew = max_skew
        self.max_body = max_body
        # wechatpy's WeChatCrypto builds a new cipher for every message; one PrpCrypto (the
        # same AES-CBC framing) per app, with the signatures done here, is about twice as fast.
        self.crypto = PrpCrypto(base64.b64decode(aes_key + "=")) if aes_key else None

    # -- request checks ---------------------------------------------------------------------
    def signature(self, timestamp: str, nonce: str, *extra: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, *extra])).encode()).hexdigest()

    def check_request(self, args, now: float | None = None) -> None:
        """Plain signature and timestamp window, for every GET and POST."""
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        signature = args.get("signature", "")
        if not timestamp.isdigit() or not _NONCE_RE.match(nonce) or not signature:
            raise Forbidden("missing or malformed signature parameters")
        if not hmac.compare_digest(self.signature(timestamp, nonce), signature.lower()):
            raise Forbidden("bad signature")
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > self.max_skew:
            raise Forbidden("timestamp outside the allowed window")

    # -- opening messages -------------------------------------------------------------------
    def open(self, body: bytes, args) -> tuple[InboundMessage, bool]:
        """Decrypt if needed and parse; returns (message, was_encrypted)."""
        if len(body) > self.max_body:
            raise BadRequest("body too large", status=413)
        encrypted = args.get("encrypt_type", "raw").lower() == "aes"
        if args.get("encrypt_type", "raw").lower() not in ("raw", "aes", ""):
            raise BadRequest("unknown encrypt_type")
        xml = body
        if encrypted:
            xml = self._decrypt(body, args)
        return parse_inbound(xml), encrypted

    def _decrypt(self, body: bytes, args) -> bytes:
        if self.crypto is None:
            raise BadRequest("encrypted message but no wechat.aes_key configured")
        outer = parse_xml(body)
        encrypt = outer.get("Encrypt")
        msg_signature = args.get("msg_signature", "")
        if not isinstance(encrypt, str) or not encrypt or not msg_signature:
            raise BadRequest("encrypted message without Encrypt or msg_signature")
        expected = self.signature(args.get("timestamp", ""), args.get("nonce", ""), encrypt)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise Forbidden("bad msg_signature")
        try:
            plain = self.crypto.decrypt(encrypt, self.app_id)
        except InvalidAppIdException:
            raise Forbidden("message is for another app id") from None
        except Exception:  # noqa: BLE001 - any cipher/base64/length failure is a bad request
            raise BadRequest("cannot decrypt message") from None
        return plain.encode("utf-8")

    # -- replies ----------------------------------------------------------------------------
    def render_text(self, text: str, msg: InboundMessage, now: int | None = None) -> str:
        """Plain XML for a text reply, addressed back to the sender.

        Rendered here rather than by wechatpy's TextReply: it is on every request's path, and
        TextReply does not escape ']]>' inside CDATA (a sender id or article could end it)."""
        now = int(time.time()) if now is None else now
        return _TEXT_REPLY.format(to=_cdata(msg.from_user), source=_cdata(msg.to_user),
                                  time=now, content=_cdata(text))

    def seal(self, xml: str, nonce: str, now: int | None = None) -> str:
        """Encrypt a reply for safe mode (a fresh signature for this delivery's nonce)."""
        timestamp = str(int(time.time()) if now is None else now)
        encrypt = self.crypto.encrypt(xml, self.app_id).decode("ascii")
        return _SEALED_REPLY.format(encrypt=encrypt, nonce=nonce, timestamp=timestamp,
                                    signature=self.signature(timestamp, nonce, encrypt))


def parse_xml(body: bytes) -> dict:
    """Parse a WeChat XML document into {tag: text} for the children of its <xml> root.

    WeChat sends UTF-8 only; anything else, DTDs and entity declarations are refused before
    the (C-accelerated) ElementTree parser sees the bytes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8") from None
    if "\x00" in text or _DTD_RE.search(body):
        raise BadRequest("XML with DOCTYPE or ENTITY declarations is refused")
    declaration = _XML_DECLARATION_RE.match(body)
    if declaration:
        encoding = _DECLARED_ENCODING_RE.search(declaration.group(1))
        if encoding and encoding.group(1).strip().lower() not in (b"utf-8", b"utf8"):
            raise BadRequest("XML must be UTF-8")
        body = body[declaration.end():]          # checked: UTF-8, as the bytes were decoded
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError, LookupError, RecursionError):
        raise BadRequest("malformed XML") from None
    if root.tag != "xml" or len(root) == 0:
        raise BadRequest("XML root must be <xml> with child elements")
    # A field without elements inside (all that WeChat sends) is its text; itertext joins
    # the texts of nested elements, as before, for anything else.
    return {child.tag: (child.text or "" if not len(child) else "".join(child.itertext())).strip()
            for child in root}


def parse_inbound(xml: bytes) -> InboundMessage:
    """An InboundMessage from WeChat XML; missing sender or type is a bad request."""
    root = parse_xml(xml)
    msg_type = root.get("MsgType", "").lower()
    from_user = root.get("FromUserName", "")
    to_user = root.get("ToUserName", "")
    if not msg_type or not from_user or not to_user:
        raise BadRequest("message lacks MsgType, FromUserName or ToUserName")
    created = root.get("CreateTime", "")
    return InboundMessage(
        msg_type=msg_type, from_user=from_user, to_user=to_user,
        create_time=int(created) if created.isdigit() else 0,
        msg_id=root.get("MsgId") or root.get("MsgID", ""),
        event=root.get("Event", "").lower(),
        event_key=root.get("EventKey", ""),
        content=root.get("Content", ""),
        recognition=root.get("Recognition", ""),
        raw=root,
    )
