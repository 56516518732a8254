"""The WeCom (企业微信) app API client: access token shared by every process, calls with a timeout.

The self-built app's token comes from ``GET /cgi-bin/gettoken?corpid&corpsecret`` and lasts
``expires_in`` (7,200 s); each new token invalidates the last one, so processes must share it
(doc: https://developer.work.weixin.qq.com/document/path/91039). It lives in the
``wecom_tokens`` table; one process at a time refreshes it, holding a lease row (not a SQLite
write lock: a gettoken that hangs until its timeout must not block every other writer).

A call answered 40014 / 42001 / 40001 (token invalid, expired, bad credential) refreshes the
token once and tries once more; a second failure is returned as is (wechatpy's auto-retry had no
bound: PLATFORM.md). The secret never reaches a log line.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import requests

from ..storage.db import utcnow_iso

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
ERR_RATE_LIMIT = 45009
ERR_BUSY = -1
TOKEN_MARGIN_SECONDS = 300      # refresh this long before WeCom's expiry
TOKEN_NAME = "app"


@dataclass
class ApiResult:
    """WeCom's answer, or why there is none. ``uncertain``: the request may have been carried
    out (the answer was lost after it reached WeCom), so it must not be repeated."""
    ok: bool
    errcode: int | None = None
    errmsg: str = ""
    data: dict = field(default_factory=dict)
    uncertain: bool = False

    @property
    def transient(self) -> bool:
        """Worth trying again later: network trouble, WeCom busy or rate-limited."""
        return not self.ok and (self.errcode in (None, ERR_BUSY, ERR_RATE_LIMIT)
                                or self.errcode in TOKEN_ERRORS)


class WeComApi:
    """Calls the WeCom server API as the configured app. Thread-safe."""

    def __init__(self, settings, db_factory, clock, sleep, session: requests.Session | None = None):
        w = settings.wecom
        self.base = w.base_url.rstrip("/")
        self.corp_id, self._secret = w.corp_id, w.app_secret
        self.timeout = w.api_timeout_seconds
        self._db, self.clock, self.sleep = db_factory, clock, sleep
        self.session = session or requests.Session()
        pool = settings.scheduler.max_concurrent_sends
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=pool))
        self.session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=pool))
        self._lock = threading.Lock()
        self.token_fetches = 0          # gettoken calls made by this instance (tests, bench)

    # -- calls ------------------------------------------------------------------------------
    def post(self, path: str, body: dict) -> ApiResult:
        """POST ``body`` to ``/cgi-bin/<path>`` with the app's token; refresh it at most once."""
        try:
            token = self.token()
        except TokenError as exc:
            return ApiResult(ok=False, errcode=exc.errcode, errmsg=exc.errmsg)
        result = self._post(path, token, body)
        if result.errcode in TOKEN_ERRORS:
            log.info("WeCom answered %s for %s; refreshing the token once", result.errcode, path)
            try:
                token = self.token(stale=token)
            except TokenError as exc:
                return ApiResult(ok=False, errcode=exc.errcode, errmsg=exc.errmsg)
            result = self._post(path, token, body)
        return result

    def _post(self, path: str, token: str, body: dict) -> ApiResult:
        url = f"{self.base}/cgi-bin/{path}"
        try:
            response = self.session.post(url, params={"access_token": token}, json=body,
                                         timeout=self.timeout)
        except requests.ConnectTimeout:
            return ApiResult(ok=False, errmsg="network error: ConnectTimeout")
        except requests.ReadTimeout:
            return ApiResult(ok=False, errmsg="no answer within the timeout", uncertain=True)
        except requests.ConnectionError as exc:
            # Refused: never reached WeCom. Aborted mid-answer: it may have been carried out.
            aborted = "aborted" in str(exc).lower() or "RemoteDisconnected" in str(exc)
            return ApiResult(ok=False, errmsg=f"network error: {type(exc).__name__}",
                             uncertain=aborted)
        except requests.RequestException as exc:
            return ApiResult(ok=False, errmsg=f"network error: {type(exc).__name__}",
                             uncertain=True)
        if response.status_code >= 500:
            return ApiResult(ok=False, errmsg=f"HTTP {response.status_code}")
        try:
            data = response.json()
            errcode = int(data.get("errcode", 0))
        except (ValueError, AttributeError, TypeError):
            return ApiResult(ok=False, errmsg=f"HTTP {response.status_code}: not JSON",
                             uncertain=True)
        return ApiResult(ok=errcode == 0, errcode=errcode, errmsg=str(data.get("errmsg", "")),
                         data=data)

    # -- the shared token -------------------------------------------------------------------
    def token(self, stale: str | None = None) -> str:
        """A valid token from the database, fetched by this process if none is (or only
        ``stale``, the one WeCom just refused). Waits at most the timeout for another
        process's refresh."""
        with self._lock:
            deadline = self.clock() + self.timeout + 5
            while True:
                now = self.clock()
                row = self._row()
                if row and row[0] and row[0] != stale and row[1] - TOKEN_MARGIN_SECONDS > now:
                    return row[0]
                if self._take_lease(now):
                    try:
                        row = self._row()   # another process may have refreshed meanwhile
                        if row and row[0] and row[0] != stale and \
                                row[1] - TOKEN_MARGIN_SECONDS > now:
                            return row[0]
                        return self._fetch(now)
                    finally:
                        self._db().execute("UPDATE wecom_tokens SET lease_until = 0 "
                                           "WHERE name = ?", [TOKEN_NAME])
                if now > deadline:
                    raise TokenError(None, "another process did not finish refreshing the "
                                           "WeCom token in time")
                self.sleep(0.1)

    def _row(self):
        return self._db().execute("SELECT token, expires_at FROM wecom_tokens WHERE name = ?",
                                  [TOKEN_NAME]).fetchone()

    def _take_lease(self, now: float) -> bool:
        db = self._db()
        db.execute("INSERT OR IGNORE INTO wecom_tokens (name, token, expires_at, lease_until) "
                   "VALUES (?, '', 0, 0)", [TOKEN_NAME])
        return db.execute("UPDATE wecom_tokens SET lease_until = ? WHERE name = ? AND "
                          "lease_until < ?", [now + self.timeout + 5, TOKEN_NAME, now]
                          ).rowcount == 1

    def _fetch(self, now: float) -> str:
        self.token_fetches += 1
        try:
            response = self.session.get(f"{self.base}/cgi-bin/gettoken", timeout=self.timeout,
                                        params={"corpid": self.corp_id,
                                                "corpsecret": self._secret})
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise TokenError(None, f"gettoken failed: {type(exc).__name__}") from None
        errcode = int(data.get("errcode", 0) or 0)
        if errcode or not data.get("access_token"):
            raise TokenError(errcode, f"gettoken: {data.get('errmsg', '')}")
        expires = now + int(data.get("expires_in", 7200))
        self._db().execute("UPDATE wecom_tokens SET token = ?, expires_at = ?, refreshed_at = ? "
                           "WHERE name = ?", [data["access_token"], expires, utcnow_iso(),
                                              TOKEN_NAME])
        log.info("WeCom access token refreshed (valid %s s)", data.get("expires_in"))
        return data["access_token"]


class TokenError(Exception):
    def __init__(self, errcode, errmsg: str):
        super().__init__(errmsg)
        self.errcode, self.errmsg = errcode, errmsg
