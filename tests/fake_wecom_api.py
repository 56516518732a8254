"""A local fake of the WeCom server API the channels use, with the real error codes.

Serves the group-robot webhook of ``fake_wecom.FakeWeCom`` (same rules) and:

- ``GET /cgi-bin/gettoken?corpid&corpsecret``: 40013 bad corpid, 40001 bad secret; the same
  token until it expires (``expires_in`` 7200 on the fake clock), as WeCom does.
- every other call takes ``?access_token=``: 41001 missing, 40014 unknown, 42001 expired.
- ``POST /cgi-bin/message/send``: app message to members (agentid checked, 81013 if no
  recipient is a member, ``invaliduser`` for some); more than 30 a minute to one member are
  dropped without an error, as WeCom documents (counted in ``dropped``).
- ``POST /cgi-bin/externalcontact/add_msg_template`` (chat_type group, sender, chat_id_list):
  a task the owner must confirm (``confirm(owner)``, or automatically after
  ``auto_confirm_after`` seconds); 41063 from ``get_groupmsg_task`` while a fresh task is
  still being dispatched; ``get_groupmsg_send_result`` per group 0 not sent / 1 sent / 3
  already got another mass send that day (``per_day`` per customer group).
- 45009 when one API is called more than ``per_minute`` times in a minute; 44004 empty
  content; 40058 too long; 40003 unknown user; 93000 bad robot key.

The clock is injectable; run standalone (``python tests/fake_wecom_api.py``) it prints its URL
and takes control requests: ``POST /_fake/confirm {"owner": ..}``, ``POST /_fake/advance
{"seconds": n}``, ``POST /_fake/expire_tokens``, ``POST /_fake/fail {"path", "errcode", "n"}``,
``GET /_fake/state``.
"""
from __future__ import annotations

import collections
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

try:
    from tests.fake_wecom import FakeWeCom, _BackloggedServer
except ImportError:     # run as a script: python tests/fake_wecom_api.py
    from fake_wecom import FakeWeCom, _BackloggedServer

CORP_ID = "ww-test-corp"
SECRET = "test-app-secret"
AGENT_ID = 1000002
DISPATCH_SECONDS = 2          # 41063 this long after a task was created
MEMBER_PER_MINUTE = 30


class FakeWeComApi(FakeWeCom):
    def __init__(self, members=(), owners=None, clock=time.time, delay: float = 0.0,
                 per_minute: int = 10000, per_day: int = 1, auto_confirm_after: float | None = None,
                 keys=None):
        super().__init__(keys=keys, clock=clock, delay=delay)
        self.server.server_close()      # replaced below by one that also serves the API
        self.members = set(members)
        self.owners = {o: set(c) for o, c in (owners or {}).items()}   # owner -> chat ids
        self.per_minute, self.per_day = per_minute, per_day
        self.auto_confirm_after = auto_confirm_after
        self.tokens: dict[str, float] = {}          # token -> expiry
        self.current_token = ""
        self.gettoken_calls = 0
        self.calls: collections.Counter = collections.Counter()
        self.app_messages: list[dict] = []
        self.dropped = 0
        self.tasks: dict[str, dict] = {}
        self.chat_days: dict[tuple[str, str], int] = collections.Counter()   # (chat, day) -> n
        self.api_failures: list[tuple[str, int]] = []
        self._api_windows: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._member_windows: dict[str, collections.deque] = collections.defaultdict(
            collections.deque)
        self._ids = itertools.count(1)
        self.offset = 0.0
        self.server = _BackloggedServer(("127.0.0.1", 0), self._api_handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def now(self) -> float:
        return self.clock() + self.offset

    # -- control ------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens = {t: 0.0 for t in self.tokens}

    def fail_api(self, path: str, errcode: int, n: int = 1) -> None:
        """The next n calls of ``path`` (e.g. 'message/send') answer ``errcode``."""
        with self._lock:
            self.api_failures.extend([(path, errcode)] * n)

    def confirm(self, owner: str, msgid: str | None = None) -> int:
        """The owner taps 发送 in their WeCom client: every open task of theirs is sent."""
        with self._lock:
            return self._confirm(owner, msgid)

    def _confirm(self, owner, msgid=None) -> int:
        done = 0
        day = time.strftime("%Y-%m-%d", time.gmtime(self.now() + 8 * 3600))
        for task in self.tasks.values():
            if task["sender"] != owner or task["sent_at"] or (msgid and task["msgid"] != msgid):
                continue
            task["sent_at"] = int(self.now())
            for chat in task["chats"]:
                if self.chat_days[(chat, day)] >= self.per_day:
                    task["results"][chat] = 3
                else:
                    self.chat_days[(chat, day)] += 1
                    task["results"][chat] = 1
            done += 1
        return done

    def _auto_confirm(self) -> None:
        if self.auto_confirm_after is None:
            return
        for task in list(self.tasks.values()):
            if not task["sent_at"] and self.now() - task["created"] >= self.auto_confirm_after:
                self._confirm(task["sender"], task["msgid"])

    # -- the API ------------------------------------------------------------------------------
    def gettoken(self, query: dict) -> dict:
        with self._lock:
            self.gettoken_calls += 1
            if query.get("corpid") != CORP_ID:
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            if query.get("corpsecret") != SECRET:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            now = self.now()
            if not self.current_token or self.tokens.get(self.current_token, 0) <= now:
                self.current_token = f"tok-{next(self._ids)}"
                self.tokens[self.current_token] = now + 7200
            return {"errcode": 0, "errmsg": "ok", "access_token": self.current_token,
                    "expires_in": int(self.tokens[self.current_token] - now)}

    def call(self, path: str, token: str, raw: bytes) -> dict:
        with self._lock:
            self.calls[path] += 1
            now = self.now()
            if not token:
                return {"errcode": 41001, "errmsg": "access_token missing"}
            if token not in self.tokens:
                return {"errcode": 40014, "errmsg": "invalid access_token"}
            if self.tokens[token] <= now:
                return {"errcode": 42001, "errmsg": "access_token expired"}
            for i, (fail_path, errcode) in enumerate(self.api_failures):
                if fail_path == path:
                    del self.api_failures[i]
                    return {"errcode": errcode, "errmsg": "injected failure"}
            window = self._api_windows[path]
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            window.append(now)
            try:
                body = json.loads(raw.decode("utf-8"))
                assert isinstance(body, dict)
            except (UnicodeDecodeError, ValueError, AssertionError):
                return {"errcode": 40035, "errmsg": "invalid args, not json"}
            handler = {"message/send": self._message_send,
                       "externalcontact/add_msg_template": self._add_msg_template,
                       "externalcontact/get_groupmsg_task": self._get_task,
                       "externalcontact/get_groupmsg_send_result": self._get_result}.get(path)
            if handler is None:
                return {"errcode": 60011, "errmsg": "no privilege to access/modify contact"}
            self._auto_confirm()
            return handler(body, now)

    def _message_send(self, body: dict, now: float) -> dict:
        if body.get("agentid") != AGENT_ID:
            return {"errcode": 40056, "errmsg": "invalid agentid"}
        content = (body.get("text") or {}).get("content")
        if body.get("msgtype") != "text" or not content:
            return {"errcode": 44004, "errmsg": "empty content"}
        if len(content.encode()) > 2048:
            return {"errcode": 40058, "errmsg": "content exceed max length 2048"}
        users = [u for u in str(body.get("touser", "")).split("|") if u]
        valid = [u for u in users if u in self.members]
        if not valid:
            return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
        for user in valid:
            window = self._member_windows[user]
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= MEMBER_PER_MINUTE:
                self.dropped += 1            # WeCom drops these without an error
                continue
            window.append(now)
            self.app_messages.append({"touser": user, "content": content, "at": now})
        invalid = [u for u in users if u not in self.members]
        return {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid),
                "msgid": f"app-{next(self._ids)}"}

    def _add_msg_template(self, body: dict, now: float) -> dict:
        if body.get("chat_type") != "group":
            return {"errcode": 40003, "errmsg": "this fake knows customer groups only"}
        sender = body.get("sender")
        if sender not in self.owners:
            return {"errcode": 40003, "errmsg": "invalid userid"}
        content = (body.get("text") or {}).get("content")
        if not content:
            return {"errcode": 44004, "errmsg": "empty content"}
        if len(content.encode()) > 4000:
            return {"errcode": 40058, "errmsg": "content exceed max length"}
        chats = list(body.get("chat_id_list") or self.owners[sender])
        if len(chats) > 2000:
            return {"errcode": 40058, "errmsg": "chat_id_list exceed max length 2000"}
        fail = [c for c in chats if c not in self.owners[sender]]
        chats = [c for c in chats if c in self.owners[sender]]
        msgid = f"msg{next(self._ids):06d}"
        self.tasks[msgid] = {"msgid": msgid, "sender": sender, "chats": chats, "text": content,
                             "created": now, "sent_at": None,
                             "results": dict.fromkeys(chats, 0)}
        return {"errcode": 0, "errmsg": "ok", "fail_list": fail, "msgid": msgid}

    def _get_task(self, body: dict, now: float) -> dict:
        task = self.tasks.get(body.get("msgid"))
        if task is None:
            return {"errcode": 41062, "errmsg": "invalid msgid"}
        if now - task["created"] < DISPATCH_SECONDS:
            return {"errcode": 41063, "errmsg": "message is being dispatched, try later"}
        entry = {"userid": task["sender"], "status": 2 if task["sent_at"] else 0}
        if task["sent_at"]:
            entry["send_time"] = task["sent_at"]
        return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "task_list": [entry]}

    def _get_result(self, body: dict, now: float) -> dict:
        task = self.tasks.get(body.get("msgid"))
        if task is None:
            return {"errcode": 41062, "errmsg": "invalid msgid"}
        if body.get("userid") != task["sender"]:
            return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "send_list": []}
        chats = sorted(task["results"])
        limit = int(body.get("limit") or 1000)
        start = int(body.get("cursor") or 0)
        page = chats[start:start + limit]
        send_list = []
        for chat in page:
            status = task["results"][chat]
            entry = {"chat_id": chat, "userid": task["sender"], "status": status}
            if status == 1:
                entry["send_time"] = task["sent_at"]
            send_list.append(entry)
        cursor = str(start + limit) if start + limit < len(chats) else ""
        return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "send_list": send_list}

    def state(self) -> dict:
        with self._lock:
            return {"gettoken_calls": self.gettoken_calls, "calls": dict(self.calls),
                    "app_messages": self.app_messages, "dropped": self.dropped,
                    "robot_messages": self.received,
                    "tasks": list(self.tasks.values())}

    # -- HTTP ---------------------------------------------------------------------------------
    def _api_handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, payload, status=200):
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/cgi-bin/gettoken":
                    if fake.delay:
                        time.sleep(fake.delay)
                    self._reply(fake.gettoken(query))
                elif url.path == "/_fake/state":
                    self._reply(fake.state())
                else:
                    self._reply({"errcode": 404, "errmsg": "not found"}, 404)

            def do_POST(self):  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if fake.delay:
                    time.sleep(fake.delay)
                if url.path == "/cgi-bin/webhook/send":
                    status, payload = fake._answer(query.get("key", ""), raw)
                    if status is None:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self._reply(payload or {"error": "server error"}, status)
                elif url.path.startswith("/cgi-bin/"):
                    self._reply(fake.call(url.path[len("/cgi-bin/"):],
                                          query.get("access_token", ""), raw))
                elif url.path.startswith("/_fake/"):
                    self._reply(fake.control(url.path[len("/_fake/"):],
                                             json.loads(raw or b"{}")))
                else:
                    self._reply({"errcode": 404, "errmsg": "not found"}, 404)

        return Handler

    def control(self, what: str, body: dict) -> dict:
        if what == "confirm":
            return {"confirmed": self.confirm(body["owner"], body.get("msgid"))}
        if what == "advance":
            with self._lock:
                self.offset += float(body["seconds"])
            return {"now": self.now()}
        if what == "expire_tokens":
            self.expire_tokens()
            return {"ok": True}
        if what == "fail":
            self.fail_api(body["path"], int(body["errcode"]), int(body.get("n", 1)))
            return {"ok": True}
        return {"error": f"unknown control {what}"}


def main():
    """python tests/fake_wecom_api.py --members a,b --owners owner1=wr1+wr2 [--per-minute N]"""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", default="")
    ap.add_argument("--owners", default="", help="owner=chat+chat,owner2=chat")
    ap.add_argument("--members-count", type=int, default=0, help="also members w0001..wNNNN")
    ap.add_argument("--per-minute", type=int, default=10000)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--auto-confirm-after", type=float)
    a = ap.parse_args()
    members = [m for m in a.members.split(",") if m] + \
        [f"w{i:04d}" for i in range(1, a.members_count + 1)]
    owners = {}
    for part in filter(None, a.owners.split(",")):
        owner, chats = part.split("=")
        owners[owner] = chats.split("+")
    fake = FakeWeComApi(members=members, owners=owners, per_minute=a.per_minute, delay=a.delay,
                        auto_confirm_after=a.auto_confirm_after)
    print(fake.base_url, flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
