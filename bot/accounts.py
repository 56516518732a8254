"""Admin accounts: creating, enabling and disabling them, passwords, sessions, and counting
failed sign-ins. Every change writes its audit row in the same transaction (both or neither).
Used by the console and the CLI alike.

Passwords are hashed with scrypt (werkzeug's default, a deliberately slow hash). Sessions: each
account has a ``session_version``, copied into the session cookie at sign-in and compared on
every request; signing out, a password change or reset and disabling the account bump it, which
ends every session of that account at once (a copied cookie stops working too).

Failed sign-ins are counted per (client address, account name): past ``max_failures`` within
15 minutes, that pair waits a delay that doubles with each further failure (1, 2, 4 ... at most
15 minutes). Nobody elsewhere is locked out of the account by a stranger's guesses.
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
FIRST_DELAY = 60          # seconds to wait after reaching the limit; doubles per failure
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
    """Disable an enabled account (ending its sessions) or enable a disabled one, audited."""
    disabled = 0 if account["disabled"] else 1
    with write_transaction(db):
        db.execute("UPDATE admins SET disabled = ?, session_version = session_version + 1 "
                   "WHERE id = ?", [disabled, account["id"]])
        audit(db, actor, "disable" if disabled else "enable", "account", account["name"],
              {"disabled": account["disabled"]}, {"disabled": disabled})


def _check_new_password(password: str, again: str | None) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"新密码至少要 {MIN_PASSWORD} 位。")
    if again is not None and password != again:
        raise ValueError("两次输入的新密码不一样。")


def _set_password(db: Database, actor: str, action: str, row: dict, password: str) -> None:
    """New hash, every session of the account ended, audited: one transaction."""
    with write_transaction(db):
        db.execute("UPDATE admins SET password_hash = ?, session_version = session_version + 1 "
                   "WHERE id = ?", [generate_password_hash(password), row["id"]])
        audit(db, actor, action, "account", row["name"])


def change_password(db: Database, account_id: int, old: str, new: str,
                    again: str | None = None) -> None:
    """The signed-in user's own change; the old password is required. ValueError (Chinese
    message) when it cannot be done."""
    row = account(db, account_id)
    if row is None or not check_password_hash(row["password_hash"], old or ""):
        raise ValueError("原密码不对。")
    _check_new_password(new, again)
    _set_password(db, row["name"], "password_change", row, new)


def reset_password(db: Database, actor: str, account_id: int, new: str,
                   again: str | None = None) -> None:
    """An admin sets another account's password (console)."""
    row = account(db, account_id)
    if row is None:
        raise LookupError(account_id)
    _check_new_password(new, again)
    _set_password(db, actor, "password_reset", row, new)


def set_password(db: Database, name: str, new: str, actor: str = "cli") -> None:
    """``python -m bot set-password NAME`` on the server."""
    row = next(db["admins"].rows_where("name = ?", [name]), None)
    if row is None:
        raise ValueError(f"没有账号“{name}”。")
    _check_new_password(new, None)
    _set_password(db, actor, "password_reset", row, new)


def end_sessions(db: Database, actor: str, account_id: int, action: str = "logout") -> None:
    """Sign out: every session of the account ends (all devices, copied cookies too)."""
    row = account(db, account_id)
    if row is None:
        return
    with write_transaction(db):
        db.execute("UPDATE admins SET session_version = session_version + 1 WHERE id = ?",
                   [account_id])
        audit(db, actor, action, "account", row["name"])


def session_version(db: Database, account_id: int) -> int | None:
    row = db.execute("SELECT session_version FROM admins WHERE id = ?", [account_id]).fetchone()
    return None if row is None else row[0]


def account(db: Database, account_id: int) -> dict | None:
    return next(db["admins"].rows_where("id = ?", [account_id]), None)


def check_password(db: Database, name: str, password: str) -> int | None:
    """The account id when ``name`` and ``password`` sign in an enabled account, else None."""
    row = db.execute("SELECT id, password_hash, disabled FROM admins WHERE name = ?",
                     [name]).fetchone()
    if row and not row[2] and check_password_hash(row[1], password):
        return row[0]
    return None


def sign_in_delay(db: Database, address: str, name: str, max_failures: int,
                  now: float | None = None) -> int:
    """Seconds this (address, name) must wait before its next try (0: may try now)."""
    now = time.time() if now is None else now
    count, last = db.execute("SELECT COUNT(*), MAX(at) FROM login_failures WHERE at > ? AND "
                             "address = ? AND name = ?",
                             [now - FAILURE_WINDOW, address, name]).fetchone()
    if count < max_failures:
        return 0
    delay = min(FIRST_DELAY * 2 ** (count - max_failures), FAILURE_WINDOW)
    return max(0, int(last + delay - now + 0.999))


def record_failure(db: Database, address: str, name: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    db.execute("INSERT INTO login_failures (at, address, name) VALUES (?, ?, ?)",
               [now, address, name[:100]])
    db.execute("DELETE FROM login_failures WHERE at < ?", [now - FAILURE_WINDOW])
