"""Sign-in, sessions and roles, and the account pages (the accounts themselves: ``bot.accounts``).

Sessions are signed cookies with HttpOnly, SameSite=Lax and (outside local development) Secure
flags, expire after ``admin.idle_minutes`` without a request and carry the account's
``session_version``: signing out, a password change or reset and disabling the account end every
session of it. Failed sign-ins are counted per (client address, name); past
``admin.max_login_failures`` in 15 minutes that pair waits a growing delay. The client address
is the socket's, or with ``server.trusted_proxy_hops`` the one the proxies report (ProxyFix).
"""
from __future__ import annotations

import functools
import re
import time

from flask import (abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from ..accounts import (ROLE_NAMES, ROLES, STAFF_ROLES, account, change_password, check_password,
                        create_account, end_sessions, record_failure, reset_password,
                        session_version, sign_in_delay, toggle_disabled)
from ..storage.audit import audit
from ..storage.db import write_transaction
from .blueprint import bp


def db():
    return current_app.extensions["db"]()


def settings():
    return current_app.config["SETTINGS"]


# -- the current user -------------------------------------------------------------------------------
@bp.before_app_request
def load_user():
    g.user = None
    if not request.path.startswith("/admin"):
        return
    user_id = session.get("admin_id")
    if user_id is None:
        return
    idle = settings().admin.idle_minutes * 60
    if time.time() - session.get("seen", 0) > idle:
        session.clear()
        flash("您已长时间未操作，请重新登录。", "info")
        return
    row = db().execute("SELECT id, name, role, disabled, session_version FROM admins "
                       "WHERE id = ?", [user_id]).fetchone()
    if row is None or row[3] or session.get("ver") != row[4]:
        session.clear()       # disabled, signed out elsewhere, or the password changed
        return
    g.user = {"id": row[0], "name": row[1], "role": row[2]}
    session["seen"] = time.time()


def login_required(role: str | None = None, roles: tuple[str, ...] = STAFF_ROLES):
    """Views need a signed-in account; ``role='admin'`` also needs the admin role. Other views
    are for town staff (admin, editor) unless ``roles`` names more (grid workers, police)."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if g.get("user") is None:
                return redirect(url_for("admin.login", next=request.full_path))
            if role and g.user["role"] != role:
                abort(403, "只有管理员可以做这件事。")
            if g.user["role"] != "admin" and g.user["role"] not in roles:
                abort(403, "您的账号不能访问这个页面。")
            return view(*args, **kwargs)
        return inner
    return wrap


def actor() -> str:
    return g.user["name"] if g.get("user") else "?"


# A page of this console to return to after sign-in: /admin, then nothing or a path, query or
# fragment without spaces, control characters or backslashes (a CR/LF would break the
# redirect header; a backslash or '//' could lead off-site).
_NEXT_RE = re.compile(r"/admin(?:[/?#][^\x00-\x20\x7f\\]*)?")


def safe_next(target: str, default: str | None = None) -> str:
    if _NEXT_RE.fullmatch(target or "") and "//" not in target:
        return target
    return default or url_for("admin.dashboard")


# -- views ------------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or "?"
        wait = sign_in_delay(db(), address, name, settings().admin.max_login_failures)
        if wait:
            error = f"登录失败次数过多，请 {-(-wait // 60)} 分钟后再试。"
            return render_template("admin/login.html", error=error), 429, \
                {"Retry-After": str(wait)}
        account_id = check_password(db(), name, password)
        if account_id is not None:
            with write_transaction(db()):
                audit(db(), name, "login", "account", name)
            session.clear()
            session.permanent = True
            session["admin_id"], session["seen"] = account_id, time.time()
            session["ver"] = session_version(db(), account_id)
            return redirect(safe_next(request.args.get("next", ""), home_url(account_id)))
        record_failure(db(), address, name)
        error = "账号或密码不对。"
    return render_template("admin/login.html", error=error)


def home_url(account_id: int) -> str:
    """Where an account lands after signing in: its role's first page."""
    role = account(db(), account_id)["role"]
    return url_for({"grid": "admin.my_grids", "police": "admin.campaign_cases"}.get(
        role, "admin.dashboard"))


@bp.post("/logout")
def logout():
    """Ends every session of the account, not only this cookie (a copy stops working too)."""
    if g.get("user"):
        end_sessions(db(), g.user["name"], g.user["id"])
    session.clear()
    return redirect(url_for("admin.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required(roles=ROLES)   # every account, grid workers and police too
def password():
    """Change one's own password (the old one is required); every session ends, this one too."""
    if request.method == "POST":
        f = request.form
        try:
            change_password(db(), g.user["id"], f.get("old", ""), f.get("new", ""),
                            f.get("again", ""))
        except ValueError as exc:
            return render_template("admin/password.html", error=str(exc)), 400
        session.clear()
        flash("密码已修改，所有登录都已退出，请用新密码登录。", "ok")
        return redirect(url_for("admin.login"))
    return render_template("admin/password.html", error=None)


@bp.post("/accounts/<int:account_id>/password")
@login_required(role="admin")
def reset_account_password(account_id: int):
    """An admin sets another account's password; that account's sessions end."""
    f = request.form
    try:
        reset_password(db(), actor(), account_id, f.get("new", ""), f.get("again", ""))
    except LookupError:
        abort(404)
    except ValueError as exc:
        flash(str(exc), "error")
    else:
        flash("密码已重置，这个账号的所有登录都已退出。", "ok")
        if account_id == g.user["id"]:
            session.clear()
            return redirect(url_for("admin.login"))
    return redirect(url_for("admin.accounts"))


@bp.route("/accounts", methods=["GET", "POST"])
@login_required(role="admin")
def accounts():
    if request.method == "POST":
        try:
            create_account(db(), request.form.get("name", ""), request.form.get("password", ""),
                           request.form.get("role", "editor"), actor=actor())
        except ValueError as exc:
            flash(str(exc), "error")
        else:
            flash("账号已创建。", "ok")
        return redirect(url_for("admin.accounts"))
    rows = list(db()["admins"].rows_where(select="id, name, role, created_at, disabled",
                                          order_by="name"))
    return render_template("admin/accounts.html", accounts=rows, roles=ROLES,
                           role_names=ROLE_NAMES)


@bp.post("/accounts/<int:account_id>/disable")
@login_required(role="admin")
def disable_account(account_id: int):
    row = account(db(), account_id)
    if row is None:
        abort(404)
    if row["id"] == g.user["id"]:
        flash("不能停用自己的账号。", "error")
    else:
        toggle_disabled(db(), actor(), row)
    return redirect(url_for("admin.accounts"))


@bp.get("/audit")
@login_required(role="admin")
def audit_log():
    rows = list(db()["audit_log"].rows_where(order_by="id desc", limit=300))
    return render_template("admin/audit.html", rows=rows)


def init_app(app) -> None:
    """Session cookie flags and lifetime from settings."""
    s = app.config["SETTINGS"].admin
    app.config.update(
        SECRET_KEY=s.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=s.cookie_secure,
        PERMANENT_SESSION_LIFETIME=s.idle_minutes * 60,
        WTF_CSRF_TIME_LIMIT=None,   # the token lives as long as the session
    )
