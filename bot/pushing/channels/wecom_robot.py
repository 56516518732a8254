"""WeCom (企业微信) group robots: ``POST {base}/cgi-bin/webhook/send?key=KEY``.

Doc: https://developer.work.weixin.qq.com/document/path/91770 . Text content ≤ 2,048 bytes,
markdown ≤ 4,096; at most 20 messages a minute per robot, beyond which WeCom answers errcode
45009. The key is the only credential: it never appears in logs.
"""
from __future__ import annotations

import collections
import logging
import threading

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ...errors import PushError
from . import Message, SendResult, register

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
ERR_RATE_LIMIT = 45009
ERR_SYSTEM_BUSY = -1
RATE_LIMIT_WAIT_SECONDS = 60.0


class RobotRateLimiter:
    """At most ``per_minute`` sends in any 60 s window per robot; ``acquire`` waits its turn.

    A send counts from the moment it is admitted until 60 s after its response came back:
    WeCom counts on arrival, which can be any time before the response, so counting from
    admission alone lets a slow request and a fresh one land in the same WeCom minute.
    The clock and sleep are injected so tests move time instead of sleeping."""

    IN_FLIGHT = float("inf")

    def __init__(self, per_minute: int, clock, sleep):
        self.per_minute = per_minute
        self.clock, self.sleep = clock, sleep
        self._sends: dict[str, list[list[float]]] = collections.defaultdict(list)
        self._lock = threading.Lock()

    def acquire(self, robot: str) -> list[float]:
        """Wait until the robot may send; returns a token to pass to ``done``."""
        while True:
            with self._lock:
                now = self.clock()
                sends = self._sends[robot] = [e for e in self._sends[robot] if e[0] > now - 60]
                if len(sends) < self.per_minute:
                    token = [self.IN_FLIGHT]
                    sends.append(token)
                    return token
                finished = [e[0] for e in sends if e[0] != self.IN_FLIGHT]
                wait = (min(finished) + 60 - now) if finished else 0.05
            self.sleep(max(wait, 0.01))

    def done(self, token: list[float]) -> None:
        with self._lock:
            token[0] = self.clock()


def payload_for(group, message: Message) -> dict:
    """The JSON body; refuses a message over the byte limit rather than letting WeCom cut it."""
    if group.msgtype == "markdown":
        body = {"msgtype": "markdown", "markdown": {"content": message.markdown}}
        size, limit = len(message.markdown.encode()), MARKDOWN_MAX_BYTES
    else:
        text = {"content": message.text}
        if group.mentioned_list:
            text["mentioned_list"] = list(group.mentioned_list)
        if group.mentioned_mobile_list:
            text["mentioned_mobile_list"] = list(group.mentioned_mobile_list)
        body = {"msgtype": "text", "text": text}
        size, limit = len(message.text.encode()), TEXT_MAX_BYTES
    if size > limit:
        raise PushError(f"{group.msgtype} 消息有 {size} 字节，企业微信最多收 {limit} 字节",
                        permanent=True)
    return body


def never_reached_wecom(exc: requests.RequestException) -> bool:
    """True only for failures before the request could be sent: no connection (refused, name
    not resolved, connect timeout) or a failed TLS handshake. A read timeout or a connection
    dropped after sending may come after WeCom accepted the message."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return False


@register("wecom_robot")
class WeComRobotChannel:
    def __init__(self, settings, db_factory, clock, sleep):
        self.url = settings.wecom.base_url.rstrip("/") + "/cgi-bin/webhook/send"
        self.timeout = settings.scheduler.send_timeout_seconds
        self.limiter = RobotRateLimiter(settings.scheduler.rate_per_minute, clock, sleep)
        self.session = requests.Session()
        # One pooled connection per concurrent sender, so they do not queue for a socket.
        pool = settings.scheduler.max_concurrent_sends
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=pool))
        self.session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=pool))

    def send(self, group, message: Message, push_id: int) -> SendResult:
        try:
            body = payload_for(group, message)
        except PushError as exc:
            return SendResult(ok=False, errmsg=exc.message, permanent=True)
        token = self.limiter.acquire(group.robot_key)
        try:
            response = self.session.post(self.url, params={"key": group.robot_key}, json=body,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            if never_reached_wecom(exc):
                return SendResult(ok=False, errmsg=f"网络错误（network error: {type(exc).__name__}）")
            return SendResult(ok=False, uncertain=True,
                              errmsg=f"企业微信没有回应（{type(exc).__name__}）：可能已送达，不会自动重发")
        finally:
            self.limiter.done(token)
        if response.status_code >= 500:
            return SendResult(ok=False, errmsg=f"HTTP {response.status_code}")
        try:
            data = response.json()
            errcode, errmsg = int(data.get("errcode", -1)), str(data.get("errmsg", ""))
        except (ValueError, AttributeError, TypeError):
            # Something answered, but not the API (a proxy's page, a cut body): the message
            # may have been accepted before it. Never guess: unknown, not resent.
            return SendResult(ok=False, uncertain=True,
                              errmsg=f"HTTP {response.status_code}：回复不是 JSON，可能已送达，不会自动重发")
        if errcode == 0:
            return SendResult(ok=True, errcode=0, errmsg=errmsg)
        if errcode == ERR_RATE_LIMIT:
            return SendResult(ok=False, errcode=errcode, errmsg=errmsg,
                              retry_after=RATE_LIMIT_WAIT_SECONDS)
        if errcode == ERR_SYSTEM_BUSY:
            return SendResult(ok=False, errcode=errcode, errmsg=errmsg)
        # 93000 (bad key or URL) and every other code: retrying the same request cannot help.
        return SendResult(ok=False, errcode=errcode, errmsg=errmsg, permanent=True)
