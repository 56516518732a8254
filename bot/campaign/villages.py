"""Villages (村/社区) and their grids (网格): the CSV import, edits, grid workers' grids, and the
police's 发案/损失 per village and month. Every change writes its audit row in the same
transaction; a CSV is imported whole or not at all, every bad row named ``FILE:line: message``.
"""
from __future__ import annotations

import csv
import io
import re

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import utcnow_iso, write_transaction

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ID_RULE = "只能用小写字母、数字、- 和 _（最长64个字符）"

# CSV header -> field; the town's own Chinese headers and plain English ones both work.
VILLAGE_COLUMNS = {
    "村编号": "village_id", "village_id": "village_id",
    "村名称": "village_name", "村/社区": "village_name", "village_name": "village_name",
    "镇街": "town", "乡镇": "town", "town": "town",
    "网格编号": "grid_id", "grid_id": "grid_id",
    "网格名称": "grid_name", "grid_name": "grid_name",
    "户数": "households", "households": "households",
    "人口": "population", "population": "population",
}
VILLAGE_REQUIRED = ("village_id", "village_name", "grid_id", "grid_name", "households")
CASE_COLUMNS = {
    "村编号": "village_id", "village_id": "village_id", "月份": "month", "month": "month",
    "发案": "cases", "发案数": "cases", "cases": "cases",
    "损失": "losses", "损失金额": "losses", "损失（元）": "losses", "losses": "losses",
}
CASE_REQUIRED = ("village_id", "month", "cases", "losses")


class ImportProblems(ValueError):
    """A file could not be imported; ``problems`` holds every ``FILE:line: message``."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# -- reading ----------------------------------------------------------------------------------------
def villages(db: Database, village_id: str | None = None) -> list[dict]:
    """Every village (or the one asked for) with its grids' household and population totals."""
    where, params = ("WHERE v.id = ?", [village_id]) if village_id is not None else ("", [])
    return [dict(zip(("id", "name", "town", "grids", "households", "population"), r))
            for r in db.execute(
                "SELECT v.id, v.name, v.town, COUNT(g.id), COALESCE(SUM(g.households), 0), "
                f"COALESCE(SUM(g.population), 0) FROM villages v LEFT JOIN grids g "
                f"ON g.village_id = v.id {where} GROUP BY v.id ORDER BY v.id", params).fetchall()]


def village(db: Database, village_id: str) -> dict | None:
    return next((v for v in villages(db, village_id)), None)


def grids(db: Database, village_id: str | None = None, grid_ids=None) -> list[dict]:
    """Grids (of one village, or the listed ones), with their village's name."""
    where, params = [], []
    if village_id is not None:
        where.append("g.village_id = ?")
        params.append(village_id)
    if grid_ids is not None:
        grid_ids = list(grid_ids)
        where.append(f"g.id IN ({', '.join('?' * len(grid_ids))})")
        params += grid_ids
    sql = ("SELECT g.id, g.village_id, g.name, g.households, g.population, v.name "
           "FROM grids g JOIN villages v ON v.id = g.village_id")
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.execute(sql + " ORDER BY g.village_id, g.id", params).fetchall()
    return [dict(zip(("id", "village_id", "name", "households", "population", "village_name"),
                     r)) for r in rows]


def grid(db: Database, grid_id: str) -> dict | None:
    found = grids(db, grid_ids=[grid_id])
    return found[0] if found else None


# -- CSV ------------------------------------------------------------------------------------------
def _read_csv(text: str, name: str, columns: dict, required: tuple) -> tuple[list, list]:
    """([(line, {field: value})], problems) from CSV text with a header row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header:
        return [], [f"{name}:1: 文件是空的，第一行应当是表头"]
    fields = [columns.get(h.strip()) for h in header]
    missing = [k for k, v in columns.items() if v in required and v not in fields]
    missing_fields = sorted({columns[k] for k in missing})
    if missing_fields:
        names = "、".join(next(k for k, v in columns.items() if v == f) for f in missing_fields)
        return [], [f"{name}:1: 表头缺少这些列：{names}"]
    rows = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        values = {f: (row[i].strip() if i < len(row) else "")
                  for i, f in enumerate(fields) if f}
        rows.append((line, values))
    return rows, []


def _count(value: str, what: str, allow_float: bool = False):
    try:
        number = float(value) if allow_float else int(value)
    except ValueError:
        raise ValueError(f"{what}应当是{'数字' if allow_float else '整数'}：'{value[:20]}'") \
            from None
    if number < 0 or number != number:
        raise ValueError(f"{what}不能是负数：'{value[:20]}'")
    return number


def import_villages_csv(db: Database, text: str, name: str, actor: str) -> dict:
    """Villages and grids from the town's CSV (one row per grid): new ones are added, known
    ones updated, none deleted. All or nothing: ImportProblems lists every bad row."""
    rows, problems = _read_csv(text, name, VILLAGE_COLUMNS, VILLAGE_REQUIRED)
    seen_grids: dict[str, int] = {}
    village_names: dict[str, tuple[str, int]] = {}
    parsed = []
    for line, r in rows:
        where = f"{name}:{line}"
        try:
            for key, label in (("village_id", "村编号"), ("grid_id", "网格编号")):
                if not ID_RE.match(r.get(key, "")):
                    raise ValueError(f"{label}'{r.get(key, '')[:30]}'不对：{ID_RULE}")
            for key, label in (("village_name", "村名称"), ("grid_name", "网格名称")):
                if not 0 < len(r.get(key, "")) <= 40:
                    raise ValueError(f"{label}要填写，最多40个字")
            households = _count(r.get("households", ""), "户数")
            population = _count(r.get("population") or "0", "人口")
            if r["grid_id"] in seen_grids:
                raise ValueError(f"网格编号'{r['grid_id']}'重复（第{seen_grids[r['grid_id']]}行已有）")
            earlier = village_names.get(r["village_id"])
            if earlier and earlier[0] != r["village_name"]:
                raise ValueError(f"村编号'{r['village_id']}'在第{earlier[1]}行叫'{earlier[0]}'，"
                                 f"这里叫'{r['village_name']}'")
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        seen_grids[r["grid_id"]] = line
        village_names.setdefault(r["village_id"], (r["village_name"], line))
        parsed.append((line, r, households, population))
    with write_transaction(db):
        for line, r, _, _ in parsed:
            owner = db.execute("SELECT village_id FROM grids WHERE id = ?",
                               [r["grid_id"]]).fetchone()
            if owner and owner[0] != r["village_id"]:
                problems.append(f"{name}:{line}: 网格'{r['grid_id']}'已属于村'{owner[0]}'，"
                                "不能改到另一个村")
        if problems:
            raise ImportProblems(problems)
        now = utcnow_iso()
        counts = {"villages": 0, "grids": 0}
        for village_id, (village_name, _) in village_names.items():
            town = next((r.get("town", "") for _, r, _, _ in parsed
                         if r["village_id"] == village_id), "")
            existing = db.execute("SELECT 1 FROM villages WHERE id = ?", [village_id]).fetchone()
            db.execute("INSERT INTO villages (id, name, town, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
                       "town = excluded.town, updated_at = excluded.updated_at",
                       [village_id, village_name, town, now, now])
            counts["villages"] += 0 if existing else 1
        for _, r, households, population in parsed:
            existing = db.execute("SELECT 1 FROM grids WHERE id = ?", [r["grid_id"]]).fetchone()
            db.execute("INSERT INTO grids (id, village_id, name, households, population, "
                       "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO "
                       "UPDATE SET name = excluded.name, households = excluded.households, "
                       "population = excluded.population, updated_at = excluded.updated_at",
                       [r["grid_id"], r["village_id"], r["grid_name"], households, population,
                        now, now])
            counts["grids"] += 0 if existing else 1
        counts["rows"] = len(parsed)
        audit(db, actor, "import", "villages", name, None, counts)
    return counts


# -- edits in the console ---------------------------------------------------------------------------
def save_village(db: Database, actor: str, village_id: str, name: str, town: str) -> None:
    """Add a village or rename one; ValueError with a readable (Chinese) message."""
    if not ID_RE.match(village_id or ""):
        raise ValueError(f"村编号{ID_RULE}")
    if not 0 < len((name or "").strip()) <= 40:
        raise ValueError("村名称要填写，最多40个字")
    with write_transaction(db):
        before = next(db["villages"].rows_where("id = ?", [village_id]), None)
        now = utcnow_iso()
        db.execute("INSERT INTO villages (id, name, town, created_at, updated_at) VALUES "
                   "(?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
                   "town = excluded.town, updated_at = excluded.updated_at",
                   [village_id, name.strip(), (town or "").strip()[:40], now, now])
        audit(db, actor, "update" if before else "create", "village", village_id,
              before and {"name": before["name"], "town": before["town"]},
              {"name": name.strip(), "town": (town or "").strip()[:40]})


def save_grid(db: Database, actor: str, village_id: str, grid_id: str, name: str,
              households, population) -> None:
    """Add a grid to a village or change its name and counts."""
    if not ID_RE.match(grid_id or ""):
        raise ValueError(f"网格编号{ID_RULE}")
    if not 0 < len((name or "").strip()) <= 40:
        raise ValueError("网格名称要填写，最多40个字")
    households = _count(str(households).strip(), "户数")
    population = _count(str(population or 0).strip(), "人口")
    with write_transaction(db):
        before = next(db["grids"].rows_where("id = ?", [grid_id]), None)
        if before and before["village_id"] != village_id:
            raise ValueError(f"网格编号'{grid_id}'已属于村'{before['village_id']}'")
        if not db.execute("SELECT 1 FROM villages WHERE id = ?", [village_id]).fetchone():
            raise ValueError(f"没有村'{village_id}'")
        now = utcnow_iso()
        after = {"name": name.strip(), "households": households, "population": population}
        db.execute("INSERT INTO grids (id, village_id, name, households, population, created_at, "
                   "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                   "name = excluded.name, households = excluded.households, "
                   "population = excluded.population, updated_at = excluded.updated_at",
                   [grid_id, village_id, after["name"], households, population, now, now])
        audit(db, actor, "update" if before else "create", "grid", grid_id,
              before and {k: before[k] for k in after}, after)


# -- grid workers -----------------------------------------------------------------------------------
def account_grid_ids(db: Database, account_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT grid_id FROM account_grids WHERE account_id = ? "
                                     "ORDER BY grid_id", [account_id]).fetchall()]


def grid_workers(db: Database, grid_id: str) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT a.name FROM account_grids ag JOIN admins a ON a.id = ag.account_id "
        "WHERE ag.grid_id = ? ORDER BY a.name", [grid_id]).fetchall()]


def assign_grid(db: Database, actor: str, account_name: str, grid_id: str,
                assigned: bool = True) -> None:
    """Link a grid worker's account to a grid (or unlink it), audited."""
    with write_transaction(db):
        row = db.execute("SELECT id, role FROM admins WHERE name = ?", [account_name]).fetchone()
        if row is None:
            raise ValueError(f"没有账号'{account_name[:40]}'")
        if row[1] != "grid":
            raise ValueError(f"账号'{account_name}'不是网格员账号")
        if not db.execute("SELECT 1 FROM grids WHERE id = ?", [grid_id]).fetchone():
            raise ValueError(f"没有网格'{grid_id[:64]}'")
        if assigned:
            db.execute("INSERT OR IGNORE INTO account_grids (account_id, grid_id) VALUES (?, ?)",
                       [row[0], grid_id])
        else:
            db.execute("DELETE FROM account_grids WHERE account_id = ? AND grid_id = ?",
                       [row[0], grid_id])
        audit(db, actor, "assign" if assigned else "unassign", "grid", grid_id, None,
              {"account": account_name})


# -- police figures ---------------------------------------------------------------------------------
def check_month(month: str) -> str:
    if not MONTH_RE.match((month or "").strip()):
        raise ValueError(f"月份格式不对：'{(month or '')[:20]}'，应当像 2026-11")
    return month.strip()


def save_cases(db: Database, actor: str, village_id: str, month: str, cases, losses) -> None:
    """发案 and 损失 (yuan) of a village in a month, entered by police; replaces the month's."""
    month = check_month(month)
    cases = _count(str(cases).strip(), "发案数")
    losses = round(_count(str(losses).strip(), "损失金额", allow_float=True), 2)
    with write_transaction(db):
        _write_cases(db, actor, village_id, month, cases, losses)


def _write_cases(db, actor, village_id, month, cases, losses) -> None:
    if not db.execute("SELECT 1 FROM villages WHERE id = ?", [village_id]).fetchone():
        raise ValueError(f"没有村'{village_id[:64]}'")
    before = next(db["village_cases"].rows_where("village_id = ? AND month = ?",
                                                 [village_id, month]), None)
    db.execute("INSERT INTO village_cases (village_id, month, cases, losses, entered_by, "
               "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(village_id, month) DO UPDATE "
               "SET cases = excluded.cases, losses = excluded.losses, "
               "entered_by = excluded.entered_by, updated_at = excluded.updated_at",
               [village_id, month, cases, losses, actor, utcnow_iso()])
    audit(db, actor, "update" if before else "create", "village_cases", f"{village_id}:{month}",
          before and {"cases": before["cases"], "losses": before["losses"]},
          {"cases": cases, "losses": losses})


def import_cases_csv(db: Database, text: str, name: str, actor: str) -> int:
    """发案/损失 rows (村编号, 月份, 发案, 损失); all or nothing, problems as FILE:line."""
    rows, problems = _read_csv(text, name, CASE_COLUMNS, CASE_REQUIRED)
    known = {r[0] for r in db.execute("SELECT id FROM villages").fetchall()}
    parsed, seen = [], {}
    for line, r in rows:
        try:
            if r["village_id"] not in known:
                raise ValueError(f"没有村'{r['village_id'][:64]}'（先导入村和网格）")
            month = check_month(r["month"])
            key = (r["village_id"], month)
            if key in seen:
                raise ValueError(f"{r['village_id']} {month} 重复（第{seen[key]}行已有）")
            seen[key] = line
            parsed.append((r["village_id"], month, _count(r["cases"], "发案数"),
                           round(_count(r["losses"], "损失金额", allow_float=True), 2)))
        except ValueError as exc:
            problems.append(f"{name}:{line}: {exc}")
    if problems:
        raise ImportProblems(problems)
    with write_transaction(db):
        for village_id, month, cases, losses in parsed:
            _write_cases(db, actor, village_id, month, cases, losses)
    return len(parsed)


def cases_by_month(db: Database, months: list[str]) -> dict[tuple[str, str], tuple[int, float]]:
    """{(village_id, month): (cases, losses)} for the listed months."""
    rows = db.execute(f"SELECT village_id, month, cases, losses FROM village_cases WHERE month IN "
                      f"({', '.join('?' * len(months))})", months).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}
