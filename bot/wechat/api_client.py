"""The official account's own API (``api.weixin.qq.com``): custom menu, customer-service
messages, parametric QR codes, with one access token shared by every process.

Written on ``requests`` rather than wechatpy's ``WeChatClient``: that client retries a rejected
token without limit (a server answering 40001 drove it into a RecursionError), sends without a
timeout, fetches tokens from a hard-coded URL and keeps them per process, so several workers and
the scheduler would refresh in turn and invalidate each other's tokens.

Here the token lives in the ``api_tokens`` table with its expiry. A process that finds it stale
takes a lease on the row (one UPDATE, so exactly one process wins) and fetches a new token
outside any transaction, so the SQLite write lock is never held across a network call; the
others wait for the row to change. A call rejected with 40001/40014/42001 drops that token
(only if it is still the stored one) and is tried once more with a fresh token; never again.

Tencent's pages: getStableAccessToken
https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken (7200 s, normal
mode returns the same token until 5 minutes before expiry), createCustomMenu
https://developers.weixin.qq.com/doc/subscription/api/custommenu/api_createcustommenu.html,
getCurrentSelfmenuInfo
https://developers.weixin.qq.com/doc/service/api/custommenu/api_getcurrentselfmenuinfo,
createQRCode https://developers.weixin.qq.com/doc/service/api/qrcode/qrcodes/api_createqrcode.md.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from urllib.parse import quote

import requests

from ..errors import BotError

log = logging.getLogger(__name__)

# The token was rejected: invalid (40001), not an access token (40014), expired (42001).
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Renew a token this long before WeChat says it expires (clock skew, slow calls).
EXPIRY_MARGIN_SECONDS = 300
LEASE_SECONDS_EXTRA = 5

# What an operator can do about the codes we meet; shown with the code in the CLI and console.
ERRCODE_HINTS = {
    -1: "微信系统繁忙，请稍后再试",
    40001: "access_token 无效（AppSecret 重置过，或别的程序刷新了它）",
    40002: "grant_type 不对",
    40013: "AppID 不对：检查 wechat.app_id",
    40014: "access_token 不对",
    40016: "菜单按钮个数不对（一级 1-3 个，二级 1-5 个）",
    40017: "菜单按钮类型不对",
    40018: "菜单名字太长",
    40019: "菜单 key 太长",
    40125: "AppSecret 不对：检查 WECHAT_APP_SECRET",
    40164: "本机 IP 不在公众号的 IP 白名单里：在 设置与开发 → 基本配置 里添加",
    41001: "缺少 access_token",
    42001: "access_token 过期",
    43004: "对方没有关注公众号",
    45009: "接口调用次数超过每日上限",
    45015: "超过回复时间：用户 48 小时内没有给公众号发消息",
    45047: "客服消息条数已用完（用户每发一条消息，48 小时内可回复 5 条）",
    46003: "公众号还没有菜单",
    48001: "公众号没有这个接口的权限（未认证，或接口未开通）",
    50002: "用户受限，可能违规后接口被封",
    89503: "此 IP 调用需要管理员确认，请联系公众号管理员",
}


class WeChatApiError(BotError):
    """The API answered an errcode (or could not be reached: errcode None)."""

    status = 502

    def __init__(self, errcode: int | None, errmsg: str):
        self.errcode, self.errmsg = errcode, errmsg
        hint = ERRCODE_HINTS.get(errcode) if errcode is not None else None
        text = f"errcode {errcode}: {errmsg}" if errcode is not None else errmsg
        super().__init__(f"{text}（{hint}）" if hint else text)


def _utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class TokenStore:
    """The shared access token of one AppID in the database, with its refresh lease."""

    def __init__(self, db_factory, app_id: str, clock=time.time):
        self._db, self.app_id, self.clock = db_factory, app_id, clock

    def _row(self):
        return self._db().execute(
            "SELECT access_token, expires_at, refreshing_until FROM api_tokens "
            "WHERE app_id = ?", [self.app_id]).fetchone()

    def valid_token(self) -> str | None:
        row = self._row()
        return row[0] if row and row[0] and row[1] > self.clock() else None

    def try_lease(self, seconds: float) -> bool:
        """Take the refresh lease if the token is still stale and no other process holds a
        live lease. One statement: of several processes doing this at once, exactly one gets
        rowcount 1, and none after a fresh token was stored (a process that saw the stale
        token just before another one saved the new token must not fetch again)."""
        now = self.clock()
        db = self._db()
        db.execute("INSERT OR IGNORE INTO api_tokens (app_id, access_token, expires_at, "
                   "refreshing_until) VALUES (?, '', 0, 0)", [self.app_id])
        return db.execute("UPDATE api_tokens SET refreshing_until = ? WHERE app_id = ? "
                          "AND refreshing_until <= ? AND expires_at <= ?",
                          [now + seconds, self.app_id, now, now]).rowcount == 1

    def save(self, token: str, expires_in: int) -> None:
        """Store a fresh token and release the lease."""
        expires_at = self.clock() + max(60, int(expires_in) - EXPIRY_MARGIN_SECONDS)
        self._db().execute("UPDATE api_tokens SET access_token = ?, expires_at = ?, "
                           "refreshing_until = 0, refreshed_at = ? WHERE app_id = ?",
                           [token, expires_at, _utcnow_iso(), self.app_id])

    def release(self) -> None:
        self._db().execute("UPDATE api_tokens SET refreshing_until = 0 WHERE app_id = ?",
                           [self.app_id])

    def invalidate(self, token: str) -> None:
        """Forget a rejected token, unless another process already replaced it."""
        self._db().execute("UPDATE api_tokens SET expires_at = 0 WHERE app_id = ? "
                           "AND access_token = ?", [self.app_id, token])


class OfficialAccountApi:
    """Calls to the official account's API with the shared token; every request has a timeout.

    ``clock`` and ``sleep`` are injected so tests move time instead of waiting."""

    def __init__(self, wechat_settings, db_factory, clock=time.time, sleep=time.sleep,
                 session: requests.Session | None = None):
        s = wechat_settings
        self.app_id, self._secret = s.app_id, s.app_secret
        self.base_url = s.api_base_url.rstrip("/")
        self.qrcode_base_url = s.qrcode_base_url.rstrip("/")
        self.token_endpoint = s.token_endpoint
        self.timeout = s.api_timeout_seconds
        self.clock, self.sleep = clock, sleep
        self.tokens = TokenStore(db_factory, s.app_id, clock)
        self.session = session or requests.Session()

    # -- the token ------------------------------------------------------------------------------
    def access_token(self) -> str:
        """The shared token; fetched by one process at a time when it is missing or stale."""
        while True:
            token = self.tokens.valid_token()
            if token:
                return token
            if self.tokens.try_lease(self.timeout + LEASE_SECONDS_EXTRA):
                try:
                    token, expires_in = self._fetch_token()
                except BaseException:
                    self.tokens.release()
                    raise
                self.tokens.save(token, expires_in)
                return token
            # Another process is fetching: wait for its token. Should it die, its lease runs
            # out (timeout + a few seconds) and the next try_lease here wins.
            self.sleep(0.05)

    def _fetch_token(self) -> tuple[str, int]:
        if not self._secret:
            raise WeChatApiError(None, "没有设置 AppSecret（wechat.app_secret 或环境变量 "
                                       "WECHAT_APP_SECRET），不能调用公众号接口")
        if self.token_endpoint == "stable_token":
            data = self._request("POST", "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": self.app_id,
                "secret": self._secret, "force_refresh": False})
        else:
            data = self._request("GET", "/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self.app_id,
                "secret": self._secret})
        if not data.get("access_token"):
            raise WeChatApiError(None, "获取 access_token 的回复里没有 access_token")
        log.info("official-account access token refreshed (expires in %s s)",
                 data.get("expires_in"))
        return data["access_token"], int(data.get("expires_in") or 7200)

    # -- calls ----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, params=None, json=None) -> dict:
        """One HTTP request; the JSON answer, or WeChatApiError for an errcode or a failure."""
        try:
            response = self.session.request(method, self.base_url + path, params=params,
                                            json=json, timeout=self.timeout)
        except requests.RequestException as exc:
            raise WeChatApiError(None, f"连不上微信接口（{type(exc).__name__}）") from None
        if response.status_code >= 400:
            raise WeChatApiError(None, f"微信接口回答 HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise WeChatApiError(None, "微信接口的回复不是 JSON") from None
        if not isinstance(data, dict):
            raise WeChatApiError(None, "微信接口的回复不是 JSON 对象")
        errcode = data.get("errcode") or 0
        if errcode != 0:
            raise WeChatApiError(int(errcode), str(data.get("errmsg") or ""))
        return data

    def call(self, method: str, path: str, json=None, params=None) -> dict:
        """An API call with the shared token; a rejected token is replaced and the call tried
        once more (wechatpy's auto-retry has no bound)."""
        for attempt in (1, 2):
            token = self.access_token()
            try:
                return self._request(method, path, json=json,
                                     params={**(params or {}), "access_token": token})
            except WeChatApiError as exc:
                if exc.errcode not in TOKEN_ERRORS or attempt == 2:
                    raise
                log.warning("access token rejected (errcode %s); fetching a new one",
                            exc.errcode)
                self.tokens.invalidate(token)
        raise AssertionError("unreachable")

    # -- what other features use ----------------------------------------------------------------
    def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (``message/custom/send``). Allowed within 48 h after
        the user wrote, 5 messages per message: beyond, 45015 / 45047."""
        self.call("POST", "/cgi-bin/message/custom/send",
                  json={"touser": openid, "msgtype": "text", "text": {"content": text}})

    def create_qrcode(self, scene: str) -> dict:
        """A permanent parametric QR code (``QR_LIMIT_STR_SCENE``) for a 1-64 character scene,
        e.g. one per village: {ticket, url, image_url}. Needs a verified account (else 48001)."""
        if not 1 <= len(scene) <= 64:
            raise ValueError("scene must be 1-64 characters")
        data = self.call("POST", "/cgi-bin/qrcode/create", json={
            "action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}})
        return {"ticket": data["ticket"], "url": data.get("url", ""),
                "image_url": self.qrcode_image_url(data["ticket"])}

    def qrcode_image_url(self, ticket: str) -> str:
        """``showqrcode``: where the ticket is exchanged for the image (no token needed)."""
        return f"{self.qrcode_base_url}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    def create_menu(self, menu: dict) -> None:
        """``menu/create``: replaces the account's custom menu."""
        self.call("POST", "/cgi-bin/menu/create", json=menu)

    def current_menu(self) -> dict:
        """``get_current_selfmenu_info``: the live menu however it was made (API or console)."""
        return self.call("GET", "/cgi-bin/get_current_selfmenu_info")
