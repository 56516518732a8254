"""反诈助手: a WeChat official-account anti-fraud assistant. ``create_app`` builds the web app.

Flask is imported inside the factory, so the scheduler and the CLI can import ``bot`` packages
without loading the web stack.
"""
from __future__ import annotations

__all__ = ["create_app"]

# What a person sees for an HTTP error we did not word ourselves (pages and JSON API alike).
HTTP_MESSAGES = {
    400: "请求有误，请检查后再试。",
    401: "请先登录。",
    403: "没有权限做这件事。",
    404: "没有找到这个页面或内容。",
    405: "不支持这种请求方式。",
    413: "提交的内容太长了。",
    415: "不支持这种内容格式。",
    429: "请求太频繁，请稍后再试。",
    500: "服务器出错了，请稍后再试。",
    502: "上游服务没有正常回答，请稍后再试。",
    503: "服务暂时不可用，请稍后再试。",
}


def create_app(settings=None, lean_webhook: bool = True):
    """Wire settings, database, answer engine and blueprints into a Flask app.

    ``lean_webhook=False`` leaves ``POST /wechat`` to Flask like every other request (the
    tests compare the two paths byte for byte)."""
    from flask import Flask
    from flask_wtf.csrf import CSRFProtect

    from . import admin
    from .admin import sign_in
    from .answering.index import default_index_dir
    from .answering.service import AnswerService
    from .config import load_settings, refuse_dev_secret_key, warn_if_placeholders
    from .logs import configure_logging, init_access_log
    from .loop.service import ResidentLoop
    from .storage.db import make_db_factory
    from .storage.library import PublishedContent, ensure_database
    from .web import api, healthz, pages, relay
    from .web.ratelimit import RateLimiter
    from .wechat import webhook
    from .wechat.deliveries import Deliveries
    from .wechat.protocol import WeChatGate

    settings = settings or load_settings()
    configure_logging(settings.logging)
    refuse_dev_secret_key(settings)
    warn_if_placeholders(settings)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    # One byte past the webhook's own limit: a chunked body (no Content-Length) is cut by
    # werkzeug at this size, and a cut body must still read as too large (413), not as
    # malformed XML (400).
    app.config["MAX_CONTENT_LENGTH"] = max(settings.wechat.max_body_bytes, 64 * 1024) + 1
    app.json.ensure_ascii = False

    db_factory = make_db_factory(settings.database.path)
    ensure_database(db_factory(), settings.content.dir)
    app.extensions["db"] = db_factory
    app.extensions["answers"] = AnswerService(PublishedContent(db_factory, settings.content.dir),
                                              settings.content.dir, settings.server.public_url,
                                              settings.wechat.reply_max_bytes,
                                              local=settings.local.as_dict(),
                                              index_dir=default_index_dir(settings.database.path))
    w = settings.wechat
    app.extensions["wechat_gate"] = WeChatGate(w.token, w.app_id, w.aes_key,
                                               w.max_clock_skew_seconds, w.max_body_bytes)
    app.extensions["deliveries"] = Deliveries(
        make_db_factory(settings.database.path, busy_timeout_ms=0),
        flush_seconds=settings.wechat.record_batch_ms / 1000)
    app.extensions["loop"] = ResidentLoop(db_factory, settings, app.extensions["answers"])
    app.extensions["api_limiter"] = RateLimiter(settings.api.rate_limit_per_minute)
    # Relay taps write one row each; busy writes are retried by bot/web/relay.py itself.
    app.extensions["relay_db"] = make_db_factory(settings.database.path, busy_timeout_ms=0)
    # 有用/没用 on case pages: a few votes a minute per address is all a person makes.
    app.extensions["feedback_limiter"] = RateLimiter(10)

    sign_in.init_app(app)
    csrf = CSRFProtect(app)
    csrf.exempt(webhook.bp)   # signed by WeChat instead
    csrf.exempt(api.bp)       # JSON API for the mini-program: no cookies, no session
    csrf.exempt(pages.case_feedback)   # carries a token signed for its case instead
    app.register_blueprint(webhook.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(relay.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(healthz.bp)
    init_access_log(app, settings.logging.access_log)
    _register_error_pages(app)
    app.after_request(_security_headers)
    if lean_webhook:
        # WeChat's pushes skip Flask's request machinery (same responses, headers, access
        # line and error mapping; see bot/wechat/lean.py); everything else goes to Flask.
        from .wechat.lean import LeanWebhook
        app.wsgi_app = LeanWebhook(app, app.wsgi_app)
    if settings.server.trusted_proxy_hops:
        # Behind nginx: the client address and scheme come from X-Forwarded-For/-Proto, read
        # for exactly this many proxies (a client cannot forge the hops we do not trust); the
        # sign-in failure counter, the API rate limit and the access log use that address.
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = settings.server.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    return app


# No inline script anywhere (every script is a file under /static); styles may be inline
# because pygal's SVG charts carry their own <style>. Frames: none of ours may be framed, and
# the editor's preview is a srcdoc frame with the ``sandbox`` attribute (no scripts run in it).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'", "frame-src 'self'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _security_headers(response):
    """Every response, error pages and static files included, carries the same headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _register_error_pages(app) -> None:
    """JSON errors under /api, plain text for /wechat, a page elsewhere; never a bare 500."""
    import sqlite3

    from flask import jsonify, render_template, request
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    from .errors import BotError

    def render(status: int, message: str):
        if request.path.startswith("/api/"):
            return jsonify({"error": {"status": status, "message": message}}), status
        if request.path.startswith("/wechat"):
            return message, status, {"Content-Type": "text/plain; charset=utf-8"}
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(BotError)
    def bot_error(exc: BotError):
        return render(exc.status, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render(400, "表单已过期或无效（安全校验没有通过），请刷新页面后再提交。")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render(*http_error_message(exc))

    @app.errorhandler(sqlite3.OperationalError)
    @app.errorhandler(sqlite3.IntegrityError)
    def database_error(exc):
        return render(*database_error_message(exc))


def http_error_message(exc) -> tuple[int, str]:
    """(status, message) for a werkzeug HTTPException."""
    code = exc.code or 500
    # werkzeug's own descriptions are English; a description we passed to abort() is ours.
    own = exc.description and exc.description != type(exc).description
    return code, exc.description if own else HTTP_MESSAGES.get(code, "出错了")


def database_error_message(exc) -> tuple[int, str]:
    """(status, message) when SQLite refused; logged. A change and its audit row commit
    together or not at all: nothing was changed."""
    import logging

    logging.getLogger(__name__).error("database refused a write: %s", exc)
    return 503, "数据库暂时不能写入，这次操作没有保存，什么也没有改变。请稍后再试。"
