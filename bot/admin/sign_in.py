"""Sign-in, sessions and roles, and the account pages (the accounts themselves: ``bot.accounts``).

Sessions are
signed cookies with HttpOnly, SameSite=Lax and (outside local development) Secure flags, and
expire after ``admin.idle_minutes`` without a request. Failed sign-ins are counted per address
and per name; past ``admin.max_login_failures`` in 15 minutes, sign-in is refused for a while.
"""
from __future__ import annotations

import functools
import time

from flask import (abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from ..accounts import (ROLE_NAMES, ROLES, STAFF_ROLES, account, check_password, create_account, recent_failures,
                        record_failure, toggle_disabled)
from ..storage.audit import audit
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
    row = db().execute("SELECT id, name, role, disabled FROM admins WHERE id = ?",
                       [user_id]).fetchone()
    if row is None or row[3]:
        session.clear()
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


# -- views ------------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or "?"
        if recent_failures(db(), address, name) >= settings().admin.max_login_failures:
            error = "登录失败次数过多，请15分钟后再试。"
            return render_template("admin/login.html", error=error), 429
        account_id = check_password(db(), name, password)
        if account_id is not None:
            session.clear()
            session.permanent = True
            session["admin_id"], session["seen"] = account_id, time.time()
            audit(db(), name, "login", "account", name)
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/admin") else home_url(account_id))
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
    if g.get("user"):
        audit(db(), g.user["name"], "logout", "account", g.user["name"])
    session.clear()
    return redirect(url_for("admin.login"))


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
