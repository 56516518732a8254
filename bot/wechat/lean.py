"""``POST /wechat`` without Flask's request machinery: WeChat's pushes are most of the traffic.

Flask spends about as much on a push as the whole rest of the webhook outside the answer
engine (request and app contexts, URL matching, session, hooks, the Response object). This
WSGI layer sits between ProxyFix and Flask, answers ``POST /wechat`` itself with
``receive_push`` (the same function the Flask view calls) and hands every other request to
Flask untouched. What Flask's hooks give a push is done here too, and the tests compare both
paths byte for byte: the security headers, the access line (client address as ProxyFix set
it), the 4xx error mapping (BotError, werkzeug's 413, SQLite refusing: 503), the body size
limit (``MAX_CONTENT_LENGTH`` and ``wechat.max_body_bytes``). A new app-wide
``before_request``/``after_request`` hook is not run here: tests/test_lean_webhook.py lists
the hooks, so adding one makes that test fail until this path does the same.
"""
from __future__ import annotations

import sqlite3
import sys
import time

from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length, get_input_stream

from .. import SECURITY_HEADERS, database_error_message, http_error_message
from ..errors import BotError
from ..logs import log_access
from .webhook import query_args, receive_push

_TEXT = "text/plain; charset=utf-8"
_XML = "application/xml; charset=utf-8"


def _status_line(code: int) -> str:
    """As werkzeug writes it: '200 OK', '403 FORBIDDEN'."""
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"


class LeanWebhook:
    """WSGI middleware: ``POST /wechat`` answered here, anything else passed to ``wsgi_app``."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.extensions = app.extensions
        self.access_log = app.config["SETTINGS"].logging.access_log
        self._headers = list(SECURITY_HEADERS.items())

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/wechat" or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        config = self.app.config
        try:
            text, is_xml = receive_push(
                self.extensions, query_args(environ), get_content_length(environ),
                lambda: get_input_stream(
                    environ, max_content_length=config["MAX_CONTENT_LENGTH"]).read())
            status = 200
        except BotError as exc:
            status, text, is_xml = exc.status, exc.message, False
        except HTTPException as exc:          # werkzeug's 413 while reading the body
            (status, text), is_xml = http_error_message(exc), False
        except (sqlite3.OperationalError, sqlite3.IntegrityError) as exc:
            (status, text), is_xml = database_error_message(exc), False
        except Exception:
            # As Flask: re-raised when testing or debugging, else logged and a 500.
            propagate = config["PROPAGATE_EXCEPTIONS"]
            if propagate is None:
                propagate = self.app.testing or self.app.debug
            if propagate:
                raise
            self.app.logger.error("Exception on /wechat [POST]", exc_info=sys.exc_info())
            (status, text), is_xml = http_error_message(InternalServerError()), False
        body = text.encode("utf-8")
        headers = [("Content-Type", _XML if is_xml else _TEXT),
                   ("Content-Length", str(len(body))), *self._headers]
        if self.access_log:
            log_access("POST", "/wechat", status, (time.perf_counter() - started) * 1000,
                       environ.get("REMOTE_ADDR"))
        start_response(_status_line(status), headers)
        return [body]

