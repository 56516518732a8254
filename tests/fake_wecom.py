"""A local fake of WeCom's group-robot webhook, behaving like the real one.

``POST /cgi-bin/webhook/send?key=KEY`` with UTF-8 JSON. It checks what the real API checks
(known key, msgtype, content present, text ≤ 2,048 bytes, markdown ≤ 4,096 bytes, at most 20
messages per minute per robot) and answers with the real error codes: 93000 bad key, 45009
frequency limit, 40008 bad message type, 44004 empty content, 40058 too long. It records every
accepted message and can be told to fail (HTTP 500, dropped connection, an errcode) or to be
slow, or to accept a message and then answer too late or with a body that is not JSON. Its clock is injectable so tests control time instead of sleeping.
"""
from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TEXT_MAX = 2048
MARKDOWN_MAX = 4096
PER_MINUTE = 20


class _BackloggedServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5; up to 64 sends start at once, and a full
    # backlog resets connections. A real server accepts far more.
    request_queue_size = 512


class FakeWeCom:
    def __init__(self, keys=None, clock=time.time, delay: float = 0.0,
                 late_seconds: float = 1.5):
        self.keys = set(keys) if keys is not None else None  # None: any key starting 'key-'
        self.clock = clock
        self.delay = delay
        self.late_seconds = late_seconds     # how late a 'late' answer comes
        self.received: list[dict] = []       # accepted messages: key, body, at
        self.requests = 0
        self._windows: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._failures: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self.server = _BackloggedServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- control ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeWeCom":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, n: int, how) -> None:
        """Next n requests fail: 'http500', 'disconnect', or an int errcode; or 'late' /
        'not_json': the message is accepted, then answered after ``late_seconds`` or with an
        HTML page instead of JSON."""
        with self._lock:
            self._failures.extend([("fail", how)] * n)

    def messages_for(self, key: str) -> list[dict]:
        return [m for m in self.received if m["key"] == key]

    # -- the API ------------------------------------------------------------------------------
    def _answer(self, key: str, raw: bytes, inject: bool = True):
        """(http_status, json_or_None) for one request; None means drop the connection."""
        with self._lock:
            self.requests += inject
            failure = self._failures.pop(0) if inject and self._failures else None
        if failure:
            how = failure[1]
            if how in ("late", "not_json"):
                status, payload = self._answer(key, raw, inject=False)
                return status, {**payload, "_then": how}
            if how == "http500":
                return 500, None
            if how == "disconnect":
                return None, None
            return 200, {"errcode": int(how), "errmsg": "injected failure"}
        if not key or (self.keys is not None and key not in self.keys) or \
                (self.keys is None and not key.startswith("key-")):
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 200, {"errcode": 40035, "errmsg": "invalid args, not json"}
        msgtype = body.get("msgtype") if isinstance(body, dict) else None
        if msgtype not in ("text", "markdown"):
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        content = (body.get(msgtype) or {}).get("content")
        if not isinstance(content, str) or not content:
            return 200, {"errcode": 44004, "errmsg": "empty content"}
        limit = TEXT_MAX if msgtype == "text" else MARKDOWN_MAX
        if len(content.encode("utf-8")) > limit:
            return 200, {"errcode": 40058, "errmsg": f"content exceed max length {limit}"}
        with self._lock:
            now = self.clock()
            window = self._windows[key]
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= PER_MINUTE:
                return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
            window.append(now)
            self.received.append({"key": key, "body": body, "at": now})
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if fake.delay:
                    time.sleep(fake.delay)
                if url.path != "/cgi-bin/webhook/send":
                    self.send_error(404)
                    return
                key = (parse_qs(url.query).get("key") or [""])[0]
                status, payload = fake._answer(key, raw)
                if status is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                then = payload.pop("_then", None) if payload else None
                if then == "late":
                    time.sleep(fake.late_seconds)
                data = json.dumps(payload or {"error": "server error"}).encode()
                if then == "not_json":
                    data = b"<html><body>502 Bad Gateway</body></html>"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a killed scheduler): as a real server would

        return Handler


def main():
    """Run standalone (benchmarks, crash test): python tests/fake_wecom.py --port 0 --delay 0.2"""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--log", help="append each accepted message as a JSON line to this file")
    a = ap.parse_args()
    fake = FakeWeCom(delay=a.delay)
    if a.log:
        original = fake._answer

        def logged(key, raw):
            status, payload = original(key, raw)
            if payload and payload.get("errcode") == 0:
                with fake._lock, open(a.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, "at": fake.clock(), "body": json.loads(raw)},
                                       ensure_ascii=False) + "\n")
            return status, payload
        fake._answer = logged
    print(fake.base_url, flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
