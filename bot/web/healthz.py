"""``GET /healthz`` for a monitoring probe: database, content, scheduler heartbeat, push groups.

JSON, 200 when every check passes and 503 otherwise; a handful of indexed reads, no engine
work, nothing secret (group ids and reasons, never keys). nginx in deploy/ lets only the
machine itself (and the monitor you add) reach it.
"""
from __future__ import annotations

import sqlite3
import time

from flask import Blueprint, current_app, jsonify

from ..pushing.health import group_problems
from ..pushing.push_log import read_heartbeat
from ..storage.library import content_version

bp = Blueprint("healthz", __name__)


def heartbeat_max_age(settings) -> float:
    """A heartbeat older than this means the scheduler is down or its ticks fail."""
    return max(120.0, 5.0 * settings.scheduler.tick_seconds)


def health_report(settings, db_factory, answers=None, now: float | None = None) -> dict:
    """Every check with ``ok`` and what it saw; ``status`` is 'ok' only if all passed."""
    now = time.time() if now is None else now
    checks: dict[str, dict] = {}
    try:
        db = db_factory()
        version = content_version(db)
        published = db.execute(
            "SELECT COUNT(*) FROM cases WHERE status = 'published'").fetchone()[0]
        checks["database"] = {"ok": True}
    except sqlite3.Error as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return {"status": "fail", "failing": ["database"], "checks": checks}
    loaded = len(answers.engine.articles) if answers is not None and answers.engine else None
    checks["content"] = {"ok": published > 0 and loaded != 0, "version": version,
                         "published_cases": published, "engine_articles": loaded}
    beat = read_heartbeat(db)
    age = None if beat is None else round(now - beat, 1)
    limit = heartbeat_max_age(settings)
    checks["scheduler"] = {"ok": age is not None and age <= limit,
                           "heartbeat_age_seconds": age, "max_age_seconds": limit}
    problems = group_problems(db, settings.groups)
    checks["groups"] = {"ok": not problems, "configured": len(settings.groups),
                        "problems": problems}
    failing = [name for name, check in checks.items() if not check["ok"]]
    return {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}


@bp.get("/healthz")
def healthz():
    app = current_app
    report = health_report(app.config["SETTINGS"], app.extensions["db"],
                           app.extensions["answers"])
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response
