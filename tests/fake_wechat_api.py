"""A local fake of the official account's API (api.weixin.qq.com), behaving like the real one.

Tokens: ``GET /cgi-bin/token`` (each call issues a new token and the previous one stops working,
the strictest reading of Tencent's page) and ``POST /cgi-bin/stable_token`` (normal mode returns
the same token until 5 minutes before it expires; ``force_refresh`` replaces it at once). Both check appid and secret
(40013 / 40125) and the grant type (40002). Tokens expire after ``expires_in`` seconds of the
injectable clock: an expired token gets 42001, an unknown one 40001, none 41001.

Calls: ``message/custom/send`` (the user must have written within 48 h: 45015; at most 5
messages per message: 45047), ``menu/create`` (1-3 buttons, 1-5 sub-buttons: 40016; names at
most 16 / 60 bytes: 40018; types: 40017; keys ≤ 128 bytes: 40019), ``menu/get`` (46003 when
there is none), ``get_current_selfmenu_info`` (sub-buttons as ``{"list": [...]}`` like the real
one), ``qrcode/create`` (48001 for an unverified account). It can be told to fail (HTTP 500,
a dropped connection, any errcode) and records every request.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from urllib.parse import parse_qs, urlparse

APP_ID = "wxfakeappid000001"
APP_SECRET = "fake-app-secret-0123456789abcdef"
CS_WINDOW_SECONDS = 48 * 3600
CS_MESSAGES_PER_WINDOW = 5
BUTTON_TYPES = {"click", "view", "miniprogram", "scancode_push", "scancode_waitmsg",
                "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select",
                "media_id", "article_id", "article_view_limited"}


def _err(code: int, msg: str) -> dict:
    return {"errcode": code, "errmsg": msg}


class FakeWeChatApi:
    def __init__(self, app_id=APP_ID, secret=APP_SECRET, clock=time.time,
                 expires_in: int = 7200, verified: bool = True):
        self.app_id, self.secret, self.clock = app_id, secret, clock
        self.expires_in, self.verified = expires_in, verified
        self.tokens: dict[str, float] = {}       # live token -> expiry
        self.stable: tuple[str, float] | None = None
        self.latest_plain: str | None = None
        self.token_requests = 0
        self.requests: list[tuple[str, str]] = []   # (method, path)
        self.menu: dict | None = None
        self.sent: list[dict] = []               # accepted customer-service messages
        self.qrcodes: list[str] = []
        self._wrote: dict[str, tuple[float, int]] = {}   # openid -> (last message, replies)
        self._failures: list[object] = []
        self._serial = count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.02}, daemon=True)

    # -- control ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeWeChatApi":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, n: int, how) -> None:
        """Next n non-token requests fail: 'http500', 'disconnect', or an int errcode."""
        with self._lock:
            self._failures.extend([how] * n)

    def user_wrote(self, openid: str) -> None:
        """A follower sent a message now: opens the 48 h customer-service window."""
        with self._lock:
            self._wrote[openid] = (self.clock(), 0)

    def revoke_tokens(self) -> None:
        """As when the AppSecret is reset: every token stops working."""
        with self._lock:
            self.tokens.clear()
            self.stable = None

    # -- tokens ---------------------------------------------------------------------------------
    def _new_token(self) -> tuple[str, float]:
        token = f"TOKEN-{next(self._serial):04d}"
        expiry = self.clock() + self.expires_in
        self.tokens[token] = expiry
        return token, expiry

    def _token(self, grant_type, appid, secret, stable: bool, force: bool = False):
        with self._lock:
            self.token_requests += 1
            if grant_type != "client_credential":
                return _err(40002, "invalid grant_type")
            if appid != self.app_id:
                return _err(40013, "invalid appid")
            if secret != self.secret:
                return _err(40125, "invalid appsecret")
            now = self.clock()
            if stable:
                # Normal mode renews 5 minutes before expiry; the old token keeps working
                # until it expires. force_refresh kills the old one at once.
                if force or self.stable is None or self.stable[1] - now <= 300:
                    if self.stable and force:
                        self.tokens.pop(self.stable[0], None)
                    self.stable = self._new_token()
                token, expiry = self.stable
            else:
                if self.latest_plain:
                    self.tokens.pop(self.latest_plain, None)
                token, expiry = self._new_token()
                self.latest_plain = token
            return {"access_token": token, "expires_in": int(expiry - now)}

    def _check_token(self, token: str | None):
        if not token:
            return _err(41001, "access_token missing")
        expiry = self.tokens.get(token)
        if expiry is None:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if expiry <= self.clock():
            return _err(42001, "access_token expired")
        return None

    # -- calls ----------------------------------------------------------------------------------
    def _custom_send(self, body: dict):
        openid = body.get("touser")
        if body.get("msgtype") != "text" or not (body.get("text") or {}).get("content"):
            return _err(44002, "empty post data" if not body else "invalid content")
        with self._lock:
            last = self._wrote.get(openid)
            if last is None or self.clock() - last[0] > CS_WINDOW_SECONDS:
                return _err(45015, "response out of time limit or subscription is canceled")
            if last[1] >= CS_MESSAGES_PER_WINDOW:
                return _err(45047, "out of response count limit")
            self._wrote[openid] = (last[0], last[1] + 1)
            self.sent.append(body)
        return _err(0, "ok")

    @staticmethod
    def _menu_problem(body: dict):
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return _err(40016, "invalid button size")
        for button in buttons:
            subs = button.get("sub_button")
            checks = [(button, 16)] + [(s, 60) for s in (subs or [])]
            if subs is not None and subs != [] and not 1 <= len(subs) <= 5:
                return _err(40023, "invalid sub button size")
            for item, limit in checks:
                name = item.get("name") or ""
                if not name or len(name.encode("utf-8")) > limit:
                    return _err(40018, "invalid button name size")
            for item in ([button] if not subs else subs):
                if item.get("type") not in BUTTON_TYPES:
                    return _err(40017, "invalid button type")
                if item.get("type") == "click" and not 1 <= len((item.get("key") or "").encode()) <= 128:
                    return _err(40019, "invalid button key size")
        return None

    def _menu_create(self, body: dict):
        problem = self._menu_problem(body)
        if problem:
            return problem
        with self._lock:
            self.menu = {"button": body["button"]}
        return _err(0, "ok")

    def _selfmenu_info(self):
        if self.menu is None:
            return {"is_menu_open": 0, "selfmenu_info": {"button": []}}
        buttons = []
        for b in self.menu["button"]:
            b = dict(b)
            if b.get("sub_button"):
                b["sub_button"] = {"list": b["sub_button"]}
            buttons.append(b)
        return {"is_menu_open": 1, "selfmenu_info": {"button": buttons}}

    def _qrcode(self, body: dict):
        if not self.verified:
            return _err(48001, "api unauthorized")
        scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str", "")
        if body.get("action_name") != "QR_LIMIT_STR_SCENE" or not 1 <= len(scene) <= 64:
            return _err(40097, "invalid args")
        with self._lock:
            self.qrcodes.append(scene)
            ticket = f"TICKET/{scene}=="
        return {"ticket": ticket, "url": f"http://weixin.qq.com/q/{scene}"}

    def answer(self, method: str, path: str, query: dict, raw: bytes):
        """(http_status, json_or_None); None means drop the connection."""
        self.requests.append((method, path))
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 200, _err(47001, "data format error")
        if path == "/cgi-bin/token" and method == "GET":
            return 200, self._token(query.get("grant_type"), query.get("appid"),
                                    query.get("secret"), stable=False)
        if path == "/cgi-bin/stable_token" and method == "POST":
            return 200, self._token(body.get("grant_type"), body.get("appid"),
                                    body.get("secret"), stable=True,
                                    force=bool(body.get("force_refresh")))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure == "http500":
            return 500, None
        if failure == "disconnect":
            return None, None
        if failure is not None:
            return 200, _err(int(failure), "injected failure")
        with self._lock:
            problem = self._check_token(query.get("access_token"))
        if problem:
            return 200, problem
        routes = {
            ("POST", "/cgi-bin/message/custom/send"): lambda: self._custom_send(body),
            ("POST", "/cgi-bin/menu/create"): lambda: self._menu_create(body),
            ("GET", "/cgi-bin/menu/get"): lambda: {"menu": self.menu} if self.menu
            else _err(46003, "menu no exist"),
            ("GET", "/cgi-bin/get_current_selfmenu_info"): self._selfmenu_info,
            ("POST", "/cgi-bin/qrcode/create"): lambda: self._qrcode(body),
        }
        route = routes.get((method, path))
        if route is None:
            return 404, None
        return 200, route()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self, method: str):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload = fake.answer(method, url.path, query, raw)
                if status is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = json.dumps(payload if payload is not None else {"error": "server"},
                                  ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's naming
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

        return Handler


def main():
    """Run standalone: python tests/fake_wechat_api.py  (prints its base URL)."""
    fake = FakeWeChatApi()
    print(fake.base_url, flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
