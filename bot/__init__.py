"""反诈助手: a WeChat official-account anti-fraud assistant. ``create_app`` builds the web app.

Flask is imported inside the factory, so the scheduler and the CLI can import ``bot`` packages
without loading the web stack.
"""
from __future__ import annotations

import logging

__all__ = ["create_app"]


def create_app(settings=None):
    """Wire settings, database, answer engine and blueprints into a Flask app."""
    from flask import Flask
    from flask_wtf.csrf import CSRFProtect

    from . import admin
    from .admin import sign_in
    from .answering.service import AnswerService
    from .config import load_settings, warn_if_placeholders
    from .loop.service import ResidentLoop
    from .storage.db import make_db_factory
    from .storage.library import PublishedContent, ensure_database
    from .web import api, pages
    from .web.ratelimit import RateLimiter
    from .wechat import webhook
    from .wechat.deliveries import Deliveries
    from .wechat.protocol import WeChatGate

    settings = settings or load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    warn_if_placeholders(settings)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = max(settings.wechat.max_body_bytes, 64 * 1024)
    app.json.ensure_ascii = False

    db_factory = make_db_factory(settings.database.path)
    ensure_database(db_factory(), settings.content.dir)
    app.extensions["db"] = db_factory
    app.extensions["answers"] = AnswerService(PublishedContent(db_factory, settings.content.dir),
                                              settings.content.dir, settings.server.public_url,
                                              settings.wechat.reply_max_bytes)
    w = settings.wechat
    app.extensions["wechat_gate"] = WeChatGate(w.token, w.app_id, w.aes_key,
                                               w.max_clock_skew_seconds, w.max_body_bytes)
    app.extensions["deliveries"] = Deliveries(
        make_db_factory(settings.database.path, busy_timeout_ms=0),
        flush_seconds=settings.wechat.record_batch_ms / 1000)
    app.extensions["loop"] = ResidentLoop(db_factory, settings, app.extensions["answers"])
    app.extensions["api_limiter"] = RateLimiter(settings.api.rate_limit_per_minute)
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
    app.register_blueprint(admin.bp)
    _register_error_pages(app)
    return app


def _register_error_pages(app) -> None:
    """JSON errors under /api, plain text for /wechat, a page elsewhere; never a bare 500."""
    from flask import jsonify, render_template, request
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

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render(exc.code or 500, exc.description or exc.name)
