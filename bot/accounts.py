"""Admin accounts: creating, enabling and disabling them, and counting failed sign-ins. Every
change writes its audit row in the same transaction. Used by the console and the CLI alike.

Passwords are hashed with scrypt (werkzeug's default, a deliberately slow hash).
"""
from __future__ import annotations

import time

from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from .storage.audit import audit
from .storage.db import utcnow_iso, write_transaction

ROLES = ("admin", "editor", "grid", "police")
# Town staff see every page; grid workers (网格员) only their grids' households; police enter
# cases and losses.
STAFF_ROLES = ("admin", "editor")
ROLE_NAMES = {"admin": "管理员", "editor": "编辑", "grid": "网格员", "police": "民警"}
FAILURE_WINDOW = 15 * 60
MIN_PASSWORD = 10


def create_account(db: Database, name: str, password: str, role: str = "admin",
                   actor: str = "cli") -> int:
    """A new account, audited; ValueError with a readable message if the input cannot be used."""
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise ValueError("name must be 1-40 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of: {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    with write_transaction(db):
        if db.execute("SELECT 1 FROM admins WHERE name = ?", [name]).fetchone():
            raise ValueError(f"account '{name}' already exists")
        account_id = db["admins"].insert({
            "name": name, "password_hash": generate_password_hash(password), "role": role,
            "created_at": utcnow_iso(), "disabled": 0}).last_pk
        audit(db, actor, "create", "account", name, None, {"name": name, "role": role})
    return account_id


def toggle_disabled(db: Database, actor: str, account: dict) -> None:
    """Disable an enabled account or enable a disabled one, audited."""
    disabled = 0 if account["disabled"] else 1
    with write_transaction(db):
        db["admins"].update(account["id"], {"disabled": disabled})
        audit(db, actor, "disable" if disabled else "enable", "account", account["name"],
              {"disabled": account["disabled"]}, {"disabled": disabled})


def account(db: Database, account_id: int) -> dict | None:
    return next(db["admins"].rows_where("id = ?", [account_id]), None)


def check_password(db: Database, name: str, password: str) -> int | None:
    """The account id when ``name`` and ``password`` sign in an enabled account, else None."""
    row = db.execute("SELECT id, password_hash, disabled FROM admins WHERE name = ?",
                     [name]).fetchone()
    if row and not row[2] and check_password_hash(row[1], password):
        return row[0]
    return None


def recent_failures(db: Database, address: str, name: str) -> int:
    since = time.time() - FAILURE_WINDOW
    return db.execute("SELECT COUNT(*) FROM login_failures WHERE at > ? AND "
                      "(address = ? OR name = ?)", [since, address, name]).fetchone()[0]


def record_failure(db: Database, address: str, name: str) -> None:
    db["login_failures"].insert({"at": time.time(), "address": address, "name": name})
