"""The admin console at /admin: server-rendered pages for community police and 综治中心 staff.

Views only: one blueprint, each area a module registering its views on it (sign_in, editor,
inbox, push_status, dashboard, statistics, campaign, visits); every change goes through a
service outside this package (``bot.content.editing``, ``bot.accounts``, ``bot.pushing.alerts``
/ ``health``, ``bot.campaign``).
Every view needs a signed-in account (``login_required``); account management needs the
``admin`` role. CSRF protection (Flask-WTF) covers every form.
"""
from __future__ import annotations

# Importing the view modules registers their views on the blueprint.
from . import (campaign, dashboard, editor, feedback_desk, inbox, lead_desk,  # noqa: F401
               push_status, sign_in, statistics, visits)
from .blueprint import bp  # noqa: F401 - the app registers it
