"""Admin accounts, sign-in, sessions and roles.

Passwords are hashed with scrypt (werkzeug's default, a deliberately slow hash). Sessions are
signed cookies with HttpOnly, SameSite=Lax and (outside local development) Secure flags, and
expire after ``admin.idle_minutes`` without a request. Failed sign-ins are counted per address
and per name; past ``admin.max_login_failures`` in 15 minutes, sign-in is refused for a while.
"""
from __future__ import annotations

import functools
import time

from flask import (abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from werkzeug.security import check_password_hash, generate_password_hash

from ..db import utcnow_iso
from ..editing import audit
from . import bp

ROLES = ("admin", "editor")
FAILURE_WINDOW = 15 * 60
MIN_PASSWORD = 10


def db():
    return current_app.extensions["db"]()


def settings():
    return current_app.config["SETTINGS"]


# -- accounts (also used by the CLI) --------------------------------------------------------------
def create_account(database, name: str, password: str, role: str = "admin") -> int:
    """A new account; ValueError with a readable message if the input cannot be used."""
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise ValueError("name must be 1-40 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of: {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    if database.execute("SELECT 1 FROM admins WHERE name = ?", [name]).fetchone():
        raise ValueError(f"account '{name}' already exists")
    return database["admins"].insert({
        "name": name, "password_hash": generate_password_hash(password), "role": role,
        "created_at": utcnow_iso(), "disabled": 0}).last_pk


def _recent_failures(address: str, name: str) -> int:
    since = time.time() - FAILURE_WINDOW
    row = db().execute("SELECT COUNT(*) FROM login_failures WHERE at > ? AND "
                       "(address = ? OR name = ?)", [since, address, name]).fetchone()
    return row[0]


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


def login_required(role: str | None = None):
    """Views need a signed-in account; ``role='admin'`` also needs the admin role."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if g.get("user") is None:
                return redirect(url_for("admin.login", next=request.full_path))
            if role and g.user["role"] != role:
                abort(403, "只有管理员可以做这件事。")
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
        if _recent_failures(address, name) >= settings().admin.max_login_failures:
            error = "登录失败次数过多，请15分钟后再试。"
            return render_template("admin/login.html", error=error), 429
        row = db().execute("SELECT id, password_hash, disabled FROM admins WHERE name = ?",
                           [name]).fetchone()
        if row and not row[2] and check_password_hash(row[1], password):
            session.clear()
            session.permanent = True
            session["admin_id"], session["seen"] = row[0], time.time()
            audit(db(), name, "login", "account", name)
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/admin") else url_for("admin.dashboard"))
        db()["login_failures"].insert({"at": time.time(), "address": address, "name": name})
        error = "账号或密码不对。"
    return render_template("admin/login.html", error=error)


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
                           request.form.get("role", "editor"))
        except ValueError as exc:
            flash(str(exc), "error")
        else:
            audit(db(), actor(), "create", "account", request.form.get("name", ""),
                  None, {"name": request.form.get("name"), "role": request.form.get("role")})
            flash("账号已创建。", "ok")
        return redirect(url_for("admin.accounts"))
    rows = list(db()["admins"].rows_where(select="id, name, role, created_at, disabled",
                                          order_by="name"))
    return render_template("admin/accounts.html", accounts=rows, roles=ROLES)


@bp.post("/accounts/<int:account_id>/disable")
@login_required(role="admin")
def disable_account(account_id: int):
    row = next(db()["admins"].rows_where("id = ?", [account_id]), None)
    if row is None:
        abort(404)
    if row["id"] == g.user["id"]:
        flash("不能停用自己的账号。", "error")
    else:
        db()["admins"].update(account_id, {"disabled": 0 if row["disabled"] else 1})
        audit(db(), actor(), "disable" if not row["disabled"] else "enable", "account",
              row["name"], {"disabled": row["disabled"]}, {"disabled": 0 if row["disabled"] else 1})
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
