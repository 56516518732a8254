"""Customer-service messages (``/cgi-bin/message/custom/send``) behind a small interface.

A minimal official-account client of this branch's own: the operations branch builds the full
client (menus, QR codes); this one can be swapped for it as long as it has ``send_text``. The
access token is shared by every worker and process through the database (``meta`` row), and
refreshed under the write lock, so concurrent refreshes do not invalidate each other's tokens.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import requests

from ..storage.db import write_transaction

log = logging.getLogger(__name__)

TOKEN_KEY = "oa_access_token"
_STALE_TOKEN = {40001, 40014, 42001}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    errcode: int = 0
    errmsg: str = ""


class Messenger(Protocol):
    def send_text(self, openid: str, text: str) -> SendResult: ...


class OfficialAccountMessenger:
    """Sends text customer-service messages; one bounded retry after a stale token."""

    def __init__(self, db_factory, base_url: str, app_id: str, app_secret: str,
                 timeout: float = 5.0, clock=time.time):
        self._db = db_factory
        self.base_url = base_url.rstrip("/")
        self.app_id, self._secret = app_id, app_secret
        self.timeout, self.clock = timeout, clock

    def _cached(self) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", [TOKEN_KEY]).fetchone()
        if not row or not row[0]:
            return None
        data = json.loads(row[0])
        return data["token"] if data["expires_at"] - 300 > self.clock() else None

    def token(self, force: bool = False) -> str:
        if not force and (cached := self._cached()):
            return cached
        db = self._db()
        with write_transaction(db):   # one refresh at a time across workers
            if not force and (cached := self._cached()):
                return cached
            response = requests.post(f"{self.base_url}/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": self.app_id,
                "secret": self._secret, "force_refresh": force}, timeout=self.timeout)
            data = response.json()
            if "access_token" not in data:
                raise RuntimeError(f"token refused: {data.get('errcode')}")
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [
                TOKEN_KEY, json.dumps({"token": data["access_token"],
                                       "expires_at": self.clock() + int(data["expires_in"])})])
            return data["access_token"]

    def send_text(self, openid: str, text: str) -> SendResult:
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": text}},
                          ensure_ascii=False).encode("utf-8")
        for attempt in range(2):
            try:
                token = self.token(force=attempt > 0)
                response = requests.post(f"{self.base_url}/cgi-bin/message/custom/send",
                                         params={"access_token": token}, data=body,
                                         headers={"Content-Type": "application/json"},
                                         timeout=self.timeout)
                data = response.json()
            except (requests.RequestException, ValueError, RuntimeError) as exc:
                return SendResult(False, -1, type(exc).__name__)
            code = int(data.get("errcode", 0))
            if code in _STALE_TOKEN and attempt == 0:
                continue
            return SendResult(code == 0, code, str(data.get("errmsg", "")))
        return SendResult(False, -1, "token")
