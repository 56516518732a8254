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
import threading
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Chatty at INFO on every tick; quiet unless the level is DEBUG.
TICK_LOGGERS = ("apscheduler.executors.default", "apscheduler.scheduler")

access_log = logging.getLogger("bot.access")
ACCESS_BATCH_SECONDS = 0.05   # access lines wait at most this long to be written


class _AccessBatching:
    """For the handlers we install: access lines are collected and written together, at most
    ``ACCESS_BATCH_SECONDS`` later, by a flusher thread (one per process), instead of one
    write and flush per request. Under load the per-line write was a worker's costliest
    Python call after the answer: the handler's lock is held across a write that releases
    the GIL, so the threads of a worker queued on it, each wait a futex and a GIL hand-over
    (31% of a worker's GIL-holding samples under the webhook bench). Any other line writes the
    collected access lines first, so the order of lines is kept; ``flush``/``close`` (and
    logging's own shutdown at exit) write them too. Other handlers (a test runner's capture)
    still get every record at once."""

    batch_seconds = ACCESS_BATCH_SECONDS

    def _init_batching(self) -> None:
        self._batch: list[logging.LogRecord] = []
        self._flusher_pid: int | None = None
        self._batch_due = threading.Event()      # set when the first line of a batch comes
        self._batch_stop = threading.Event()

    def emit(self, record):   # called by Handler.handle with the handler's lock held
        if record.name == access_log.name and self.batch_seconds > 0 and \
                not self._batch_stop.is_set():
            self._batch.append(record)
            if len(self._batch) == 1:
                self._ensure_flusher()
                self._batch_due.set()
            return
        if self._batch:
            self._write_batch()
        super().emit(record)

    def flush(self):
        self.flush_round()
        super().flush()

    def close(self):
        self._batch_stop.set()
        self._batch_due.set()        # the flusher wakes up and ends
        self.flush_round()
        super().close()

    def flush_round(self) -> None:
        """Write what was collected (a round of the flusher; flush and close too)."""
        self.acquire()
        try:
            self._batch_due.clear()
            if self._batch:
                self._write_batch()
        finally:
            self.release()

    def _write_batch(self) -> None:
        """Caller holds the lock: the collected lines in one write."""
        records, self._batch = self._batch, []
        try:
            text = "".join(self.format(r) + self.terminator for r in records)
            if hasattr(self, "reopenIfNeeded"):   # WatchedFileHandler: after logrotate
                self.reopenIfNeeded()
            stream = self.stream
            stream.write(text)
            stream.flush()
        except Exception:  # noqa: BLE001 - as logging's handlers: report, never raise
            self.handleError(records[0])

    def _ensure_flusher(self) -> None:
        # Started lazily in each process: gunicorn forks after the app is built (--preload).
        if self._flusher_pid != os.getpid():
            self._flusher_pid = os.getpid()
            self._batch_due = threading.Event()
            threading.Thread(target=self._flusher, args=(self._batch_due,), name="access-log",
                             daemon=True).start()

    def _flusher(self, due: threading.Event) -> None:
        while not self._batch_stop.is_set():
            due.wait()
            self._batch_stop.wait(self.batch_seconds)
            self.flush_round()


class _StderrHandler(_AccessBatching, logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's own last resort does)."""

    def __init__(self):
        logging.Handler.__init__(self)
        self._init_batching()

    @property
    def stream(self):
        return sys.stderr


class _FileHandler(_AccessBatching, logging.handlers.WatchedFileHandler):
    """``logging.file``: appended to, reopened after logrotate moves it."""

    def __init__(self, path: str):
        logging.handlers.WatchedFileHandler.__init__(self, path, encoding="utf-8")
        self._init_batching()


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
        handler = _FileHandler(settings.file)
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
    if access_log.isEnabledFor(level):
        # Logger.log without its walk up the stack for the caller: always this function.
        access_log.handle(access_log.makeRecord(
            access_log.name, level, __file__, 0, "%s %s %s %.0f ms client %s",
            (method, path, status, ms, client or "-"), None, "log_access"))
