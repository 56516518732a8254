"""Logging: one configuration (``[logging]``) for the web server, the scheduler and the CLI.

Lines go to stderr (under systemd that is the journal, which adds its own time stamp) or to a
file that logrotate may move. Nothing personal is logged at INFO: no OpenIDs, no message text,
no query strings (WeChat puts the OpenID there); the access line carries the path only.
APScheduler's two lines per tick ("Running job ...", "... executed successfully", about 8,600
a day) are shown only at DEBUG.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Chatty at INFO on every tick; quiet unless the level is DEBUG.
TICK_LOGGERS = ("apscheduler.executors.default", "apscheduler.scheduler")

access_log = logging.getLogger("bot.access")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's own last resort does)."""

    def __init__(self):
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def configure_logging(settings) -> None:
    """Apply ``[logging]``: level, destination, and the quiet APScheduler loggers. Idempotent.

    Handlers that others installed (pytest's capture, gunicorn's) are left alone."""
    level = getattr(logging, settings.level.upper())
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_bot_handler", False):
            root.removeHandler(handler)
            handler.close()
    handler = None
    if settings.file:
        os.makedirs(os.path.dirname(os.path.abspath(settings.file)), exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(settings.file, encoding="utf-8")
        fmt = FORMAT
    elif not root.handlers:
        # Like logging.basicConfig: stderr only when nobody else (a test runner) collects logs.
        handler = _StderrHandler()
        # systemd sets JOURNAL_STREAM when stderr is the journal: it stamps lines itself.
        fmt = JOURNAL_FORMAT if os.environ.get("JOURNAL_STREAM") else FORMAT
    if handler is not None:
        handler.setFormatter(logging.Formatter(fmt))
        handler._bot_handler = True
        root.addHandler(handler)
    root.setLevel(level)
    for name in TICK_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG
                                         else logging.WARNING)


def init_access_log(app, enabled: bool) -> None:
    """One INFO line per request: method, path (never the query string), status, time, client.

    The client address is ``request.remote_addr``, which ProxyFix has already set from
    X-Forwarded-For for ``server.trusted_proxy_hops`` proxies."""
    if not enabled:
        return
    from flask import g, request

    @app.before_request
    def _start_timer():
        g._access_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.get("_access_started")
        ms = (time.perf_counter() - started) * 1000 if started else 0.0
        log_access(request.method, request.path, response.status_code, ms, request.remote_addr)
        return response


def log_access(method: str, path: str, status: int, ms: float, client: str | None) -> None:
    """The access line itself; also written by the lean WSGI path of ``POST /wechat``."""
    # A monitoring probe every few seconds would drown the rest: /healthz only at DEBUG.
    level = logging.DEBUG if path == "/healthz" else logging.INFO
    access_log.log(level, "%s %s %s %.0f ms client %s", method, path, status, ms, client or "-")
