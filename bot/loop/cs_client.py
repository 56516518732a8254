"""Customer-service messages (``/cgi-bin/message/custom/send``) behind a small interface, sent
through the shared official-account client (``bot.wechat.api_client``): one access token for
every worker and the scheduler, refreshed at most once per failure, always with a timeout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..wechat.api_client import WeChatApiError


@dataclass(frozen=True)
class SendResult:
    ok: bool
    errcode: int = 0
    errmsg: str = ""


class Messenger(Protocol):
    def send_text(self, openid: str, text: str) -> SendResult: ...


class OfficialAccountMessenger:
    """The shared API client's ``send_text``, with its error turned into a recorded result."""

    def __init__(self, api):
        self.api = api

    def send_text(self, openid: str, text: str) -> SendResult:
        try:
            self.api.send_text(openid, text)
        except WeChatApiError as exc:   # errcode None: WeChat could not be reached
            return SendResult(False, -1 if exc.errcode is None else exc.errcode, exc.errmsg)
        return SendResult(True)
