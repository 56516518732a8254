"""The admin console at /admin: server-rendered pages for community police and 综治中心 staff.

One blueprint; each area is a module registering its views on it (auth, content, questions,
pushes, dashboard, reports). Every view needs a signed-in account (``login_required``);
account management needs the ``admin`` role. CSRF protection (Flask-WTF) covers every form.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import auth, content, dashboard, pushes, questions, reports  # noqa: E402,F401
