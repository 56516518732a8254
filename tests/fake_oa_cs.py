"""A local fake of the two outside services screenshots need: the official account's
customer-service API (``/cgi-bin/stable_token``, ``/cgi-bin/message/custom/send`` with the
real error codes: 40013 bad appid, 40001 bad token, 45015 outside the 48 h window, 45047 quota
used up) and WeChat's picture CDN (``/cdn/<name>``, serving what a test put there, slowly or
endlessly when told). Records every message sent. This branch's own fake; the operations
branch's tests/fake_wechat_api.py is the fuller one.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeOfficialAccount:
    def __init__(self, app_id: str, secret: str, quota: int = 5):
        self.app_id, self.secret, self.quota = app_id, secret, quota
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.sent: list[dict] = []
        self.wrote: set[str] = set()        # openids inside the window
        self.images: dict[str, bytes] = {}
        self.slow: dict[str, float] = {}    # name -> seconds per 16 KiB chunk
        self.endless: set[str] = set()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def user_wrote(self, openid: str) -> None:
        self.wrote.add(openid)

    def _api(self, path: str, query: dict, body: bytes) -> dict:
        if path == "/cgi-bin/stable_token":
            data = json.loads(body or b"{}")
            if data.get("appid") != self.app_id or data.get("secret") != self.secret:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            with self._lock:
                self.token_requests += 1
                token = secrets.token_hex(8)
                self.tokens.add(token)
            return {"access_token": token, "expires_in": 7200}
        if path == "/cgi-bin/message/custom/send":
            if query.get("access_token", [""])[0] not in self.tokens:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            data = json.loads(body.decode("utf-8"))
            user = data.get("touser", "")
            if user not in self.wrote:
                return {"errcode": 45015, "errmsg": "response out of time limit"}
            with self._lock:
                if sum(1 for m in self.sent if m["touser"] == user) >= self.quota:
                    return {"errcode": 45047, "errmsg": "out of response count limit"}
                self.sent.append(data)
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 40066, "errmsg": "invalid url"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = urlparse(self.path).path.removeprefix("/cdn/")
                if name in fake.endless:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"\x89PNG" + b"\0" * 16380)
                    except OSError:
                        return
                data = fake.images.get(name)
                if data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for i in range(0, len(data), 16384):
                        if name in fake.slow:
                            time.sleep(fake.slow[name])   # the fake's own pacing, not a test wait
                        self.wfile.write(data[i:i + 16384])
                except OSError:
                    return

            def do_POST(self):
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                out = json.dumps(fake._api(url.path, parse_qs(url.query), body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        return Handler
