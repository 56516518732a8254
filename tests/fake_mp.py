"""A local fake of the official account's API for what the campaign uses: ``/cgi-bin/token``
(appid + secret -> access token, 40013 bad appid, 40125 bad secret) and ``/cgi-bin/qrcode/create``
(40001 bad token; QR_LIMIT_STR_SCENE with a 1-64 character scene_str, else 40097 invalid args).
It records every accepted request."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeOfficialAccount:
    def __init__(self, app_id: str, secret: str):
        self.app_id, self.secret = app_id, secret
        self.token = "fake-access-token-1"
        self.codes: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeOfficialAccount":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, path: str, query: dict, body: bytes) -> dict:
        if path == "/cgi-bin/token":
            if query.get("appid") != self.app_id:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            return {"access_token": self.token, "expires_in": 7200}
        if path == "/cgi-bin/qrcode/create":
            if query.get("access_token") != self.token:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            try:
                data = json.loads(body)
                scene = data["action_info"]["scene"]["scene_str"]
                assert data["action_name"] == "QR_LIMIT_STR_SCENE" and 1 <= len(scene) <= 64
            except (ValueError, KeyError, TypeError, AssertionError):
                return {"errcode": 40097, "errmsg": "invalid args"}
            self.codes.append(data)
            return {"ticket": f"ticket-{scene}", "url": f"http://weixin.qq.com/q/fake-{scene}"}
        return {"errcode": 40066, "errmsg": "invalid url"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, body: bytes = b""):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                payload = json.dumps(fake._answer(url.path, query, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self._reply()

            def do_POST(self):
                self._reply(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def log_message(self, *args):
                pass

        return Handler
