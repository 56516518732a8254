"""Household visits (入户宣传登记): households within grids, the visit record, 回头看, and the
paper 登记表 (XLSX) import.

Household data is personal information, kept to the minimum: an address or house number within
the grid, the head of household's surname and a masked phone at most. Anything that looks like
an ID number or an unmasked phone number is refused, in every field. A visit carries a
submission id made when the form was opened, so a submission retried over a weak connection is
stored once. Nothing here logs household data.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlite_utils import Database

from ..storage.audit import audit
from ..storage.db import utcnow_iso, write_transaction

# 反诈APP status of a household, weakest to strongest.
APP_STATUSES = {
    "not_installed": "未安装",
    "installed": "已安装未注册",
    "registered": "已注册",
    "warnings_on": "已注册并开启预警",
}
APP_LEVEL = {key: i for i, key in enumerate(APP_STATUSES)}
KEY_GROUPS = {
    "elderly": "老年人", "students": "学生", "women": "妇女", "accountants": "财会人员",
    "left_behind": "农村留守人员", "migrant_workers": "外出务工人员",
}
MATERIALS = {
    "leaflet": "宣传折页", "letter": "致居民的一封信", "poster": "宣传海报",
    "calendar": "宣传挂历", "gift": "宣传品",
}
NOT_INSTALLED_REASONS = ("没有智能手机", "不会用", "不愿安装", "担心隐私", "家中无人会操作", "其他")

_LONG_DIGITS = re.compile(r"\d{11,}")
_DIGIT_GAPS = re.compile(r"(?<=\d)[\s-]+(?=\d)")
_ID_NUMBER = re.compile(r"\d{17}[\dXx]|\d{15}")
_MASKED_PHONE = re.compile(r"^1\d{2}\*{4}\d{4}$")
_SURNAME = re.compile(r"^[\u4e00-\u9fff]{1,2}$")
SUBMISSION_RE = re.compile(r"^[A-Za-z0-9:_-]{8,80}$")


class VisitProblems(ValueError):
    """The visit cannot be stored; ``problems`` maps a field name to a message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("；".join(problems.values()))
        self.problems = problems


def personal_number_problem(text: str) -> str | None:
    """A message when free text carries what looks like an ID number or a full phone number."""
    joined = _DIGIT_GAPS.sub("", text or "")
    if _ID_NUMBER.search(joined) or _LONG_DIGITS.search(joined):
        return "不要填写身份证号或完整手机号（手机号只写成 138****1234 这样）"
    return None


@dataclass(frozen=True)
class VisitForm:
    """One visit as entered, before it is checked."""
    submission_id: str
    grid_id: str
    address: str
    head_surname: str = ""
    phone_masked: str = ""
    visit_date: str = ""
    people_present: str = "1"
    key_groups: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    app_status: str = ""
    app_reason: str = ""
    pledge: bool = False
    notes: str = ""


def check_visit(form: VisitForm, today: date) -> dict:
    """The row values of a valid visit, or VisitProblems naming each bad field."""
    problems = {}
    if not SUBMISSION_RE.match(form.submission_id or ""):
        problems["submission_id"] = "表单已过期，请重新打开登记页面"
    address = (form.address or "").strip()
    if not 0 < len(address) <= 60:
        problems["address"] = "请填写门牌号或地址（最多60个字）"
    surname = (form.head_surname or "").strip()
    if surname and not _SURNAME.match(surname):
        problems["head_surname"] = "户主只填姓（一到两个汉字），不要填全名"
    phone = (form.phone_masked or "").strip().replace("＊", "*")
    if phone and not _MASKED_PHONE.match(phone):
        problems["phone_masked"] = "电话只能填隐去中间四位的号码，如 138****1234"
    for field in ("address", "notes", "app_reason"):
        message = personal_number_problem(getattr(form, field))
        if message and field not in problems:
            problems[field] = message
    try:
        visit_date = date.fromisoformat((form.visit_date or "").strip())
        if visit_date > today or visit_date.year < today.year - 2:
            problems["visit_date"] = "走访日期不能晚于今天，也不能早于两年前"
    except ValueError:
        problems["visit_date"] = "走访日期格式应当像 2026-11-20"
        visit_date = None
    try:
        people = int(str(form.people_present or "0").strip())
        if not 0 <= people <= 50:
            raise ValueError
    except ValueError:
        problems["people_present"] = "在场人数应当是0到50的整数"
        people = 0
    unknown = [g for g in form.key_groups if g not in KEY_GROUPS]
    if unknown:
        problems["key_groups"] = "重点人群只能从列表里选"
    if [m for m in form.materials if m not in MATERIALS]:
        problems["materials"] = "发放资料只能从列表里选"
    if form.app_status not in APP_STATUSES:
        problems["app_status"] = "请选择反诈APP情况"
    reason = (form.app_reason or "").strip()[:60]
    if form.app_status == "not_installed" and not reason:
        problems["app_reason"] = "未安装时请选择或填写原因"
    notes = (form.notes or "").strip()
    if len(notes) > 300:
        problems["notes"] = "备注最多300个字"
    if problems:
        raise VisitProblems(problems)
    return {
        "submission_id": form.submission_id, "address": address, "head_surname": surname,
        "phone_masked": phone, "visit_date": visit_date.isoformat(), "people_present": people,
        "key_groups": ",".join(g for g in KEY_GROUPS if g in form.key_groups),
        "materials": ",".join(m for m in MATERIALS if m in form.materials),
        "app_status": form.app_status,
        "app_reason": reason if form.app_status == "not_installed" else "",
        "pledge": int(bool(form.pledge)), "notes": notes,
    }


# -- reading ----------------------------------------------------------------------------------------
def household(db: Database, household_id: int) -> dict | None:
    return next(db["households"].rows_where("id = ?", [household_id]), None)


def find_household(db: Database, grid_id: str, address: str) -> dict | None:
    return next(db["households"].rows_where("grid_id = ? AND address = ?",
                                            [grid_id, address.strip()]), None)


def last_visit(db: Database, household_id: int) -> dict | None:
    """The household's latest visit (the status a 回头看 starts from)."""
    return next(db["visits"].rows_where("household_id = ?", [household_id],
                                        order_by="visit_date DESC, id DESC", limit=1), None)


def visit_by_submission(db: Database, submission_id: str) -> dict | None:
    return next(db["visits"].rows_where("submission_id = ?", [submission_id]), None)


def households_of_grid(db: Database, grid_id: str, search: str = "", limit: int = 200) -> list:
    """A grid's households with their last visit date and APP status, by address."""
    sql = ("SELECT h.id, h.address, h.head_surname, h.phone_masked, "
           "(SELECT visit_date || '|' || app_status FROM visits v WHERE v.household_id = h.id "
           " ORDER BY visit_date DESC, id DESC LIMIT 1) FROM households h WHERE h.grid_id = ?")
    params: list = [grid_id]
    if search.strip():
        sql += " AND h.address LIKE ?"
        params.append(f"%{search.strip()[:30]}%")
    rows = db.execute(sql + " ORDER BY h.address LIMIT ?", [*params, limit]).fetchall()
    out = []
    for hid, address, surname, phone, last in rows:
        last_date, _, status = (last or "").partition("|")
        out.append({"id": hid, "address": address, "head_surname": surname,
                    "phone_masked": phone, "last_date": last_date, "last_status": status})
    return out


# -- writing ----------------------------------------------------------------------------------------
def record_visit(db: Database, form: VisitForm, actor: str, today: date) -> tuple[dict, bool]:
    """Store one visit (and its household when new): (visit row, stored now?).

    A submission id already stored returns that visit and stores nothing (a retry). A visit to
    a household with an earlier visit is a 回头看; it counts as lost when the APP was
    uninstalled or its warnings switched off since the last visit."""
    existing = visit_by_submission(db, form.submission_id or "")
    if existing:
        return existing, False
    values = check_visit(form, today)
    with write_transaction(db):
        existing = visit_by_submission(db, form.submission_id)
        if existing:
            return existing, False
        stored = _insert_visit(db, form.grid_id, values, actor)
    return stored, True


def _insert_visit(db: Database, grid_id: str, values: dict, actor: str) -> dict:
    """Inside a write transaction: upsert the household, insert the visit."""
    grid_row = db.execute("SELECT village_id FROM grids WHERE id = ?", [grid_id]).fetchone()
    if grid_row is None:
        raise VisitProblems({"grid_id": "没有这个网格"})
    now = utcnow_iso()
    home = find_household(db, grid_id, values["address"])
    if home is None:
        home_id = db.execute(
            "INSERT INTO households (grid_id, address, head_surname, phone_masked, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [grid_id, values["address"], values["head_surname"], values["phone_masked"], now,
             now]).lastrowid
    else:
        home_id = home["id"]
        if values["head_surname"] or values["phone_masked"]:
            db.execute("UPDATE households SET head_surname = COALESCE(NULLIF(?, ''), "
                       "head_surname), phone_masked = COALESCE(NULLIF(?, ''), phone_masked), "
                       "updated_at = ? WHERE id = ?",
                       [values["head_surname"], values["phone_masked"], now, home_id])
    previous = db.execute(
        "SELECT id, visit_date, app_status FROM visits WHERE household_id = ? AND visit_date <= ? "
        "ORDER BY visit_date DESC, id DESC LIMIT 1", [home_id, values["visit_date"]]).fetchone() \
        if home else None
    following = db.execute(
        "SELECT id, app_status FROM visits WHERE household_id = ? AND visit_date > ? "
        "ORDER BY visit_date, id LIMIT 1", [home_id, values["visit_date"]]).fetchone() \
        if home else None
    lost = bool(previous) and lost_since(previous[2], values["app_status"])
    row = {
        "submission_id": values["submission_id"], "household_id": home_id, "grid_id": grid_id,
        "village_id": grid_row[0], "visit_date": values["visit_date"],
        "prev_visit_date": previous[1] if previous else None,
        "next_visit_date": None,
        "people_present": values["people_present"], "key_groups": values["key_groups"],
        "materials": values["materials"], "app_status": values["app_status"],
        "app_reason": values["app_reason"], "pledge": values["pledge"], "notes": values["notes"],
        "is_recheck": int(previous is not None), "recheck_lost": int(lost),
        "recorded_by": actor, "recorded_at": now,
    }
    if previous:
        db.execute("UPDATE visits SET next_visit_date = ? WHERE id = ?",
                   [values["visit_date"], previous[0]])
    if following:   # a paper sheet entered late: the later visit now follows this one
        row["next_visit_date"] = db.execute("SELECT visit_date FROM visits WHERE id = ?",
                                            [following[0]]).fetchone()[0]
        db.execute("UPDATE visits SET prev_visit_date = ?, is_recheck = 1, recheck_lost = ? "
                   "WHERE id = ?", [values["visit_date"],
                                    int(lost_since(values["app_status"], following[1])),
                                    following[0]])
    columns = ", ".join(row)
    row["id"] = db.execute(f"INSERT INTO visits ({columns}) VALUES "
                           f"({', '.join('?' * (len(row)))})", list(row.values())).lastrowid
    return row


def lost_since(before: str, now: str) -> bool:
    """回头看 finding: the APP was uninstalled, or its warnings were switched off."""
    if before in ("installed", "registered", "warnings_on") and now == "not_installed":
        return True
    return before == "warnings_on" and now in ("installed", "registered")


# -- the paper 登记表 -------------------------------------------------------------------------------
SHEET_COLUMNS = {
    "网格编号": "grid_id", "门牌号/地址": "address", "门牌号": "address", "地址": "address",
    "户主姓氏": "head_surname", "联系电话": "phone_masked", "走访日期": "visit_date",
    "在场人数": "people_present", "重点人群": "key_groups", "发放资料": "materials",
    "反诈APP": "app_status", "未安装原因": "app_reason", "承诺书": "pledge", "备注": "notes",
}
SHEET_REQUIRED = ("grid_id", "address", "visit_date", "app_status")
_YES = {"是", "已签", "已签订", "√", "✓", "y", "yes", "1", "true"}


def _names_to_keys(cell: str, table: dict) -> tuple[str, ...]:
    by_name = {v: k for k, v in table.items()}
    parts = [p.strip() for p in re.split(r"[、,，;；/\s]+", cell or "") if p.strip()]
    return tuple(by_name.get(p, table.get(p) and p or f"?{p}") for p in parts)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def import_visits_xlsx(db: Database, file, name: str, actor: str, today: date,
                       allowed_grids=None) -> dict:
    """A paper 登记表 typed into a spreadsheet (first sheet, header row) into visits.

    All or nothing: ValueError-like ImportProblems lists every bad row as ``FILE:line: message``.
    Each row's submission id is a digest of its content, so importing a file again stores
    nothing twice. ``allowed_grids`` limits a grid worker to their own grids."""
    from openpyxl import load_workbook

    from .villages import ImportProblems

    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many types for a file that is not XLSX
        raise ImportProblems([f"{name}: 不是有效的 XLSX 文件"]) from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [_cell_text(h) for h in (next(rows, None) or [])]
    fields = [SHEET_COLUMNS.get(h) for h in header]
    missing = [f for f in SHEET_REQUIRED if f not in fields]
    if missing:
        labels = "、".join(next(k for k, v in SHEET_COLUMNS.items() if v == f) for f in missing)
        raise ImportProblems([f"{name}:1: 表头缺少这些列：{labels}"])
    known_grids = {r[0] for r in db.execute("SELECT id FROM grids").fetchall()}
    statuses = {v: k for k, v in APP_STATUSES.items()} | {k: k for k in APP_STATUSES}
    problems, good = [], []
    for line, cells in enumerate(rows, 2):
        r = {f: _cell_text(cells[i]) for i, f in enumerate(fields) if f and i < len(cells)}
        if not any(r.values()):
            continue
        grid_id = r.get("grid_id", "")
        if grid_id not in known_grids or (allowed_grids is not None
                                          and grid_id not in allowed_grids):
            problems.append(f"{name}:{line}: 没有网格'{grid_id[:64]}'" +
                            ("（或不是您负责的网格）" if allowed_grids is not None else ""))
            continue
        digest = hashlib.sha256(json.dumps(r, sort_keys=True, ensure_ascii=False)
                                .encode()).hexdigest()[:32]
        form = VisitForm(
            submission_id=f"xlsx-{digest}", grid_id=grid_id, address=r.get("address", ""),
            head_surname=r.get("head_surname", ""), phone_masked=r.get("phone_masked", ""),
            visit_date=r.get("visit_date", ""), people_present=r.get("people_present") or "0",
            key_groups=_names_to_keys(r.get("key_groups", ""), KEY_GROUPS),
            materials=_names_to_keys(r.get("materials", ""), MATERIALS),
            app_status=statuses.get(r.get("app_status", ""), "?"),
            app_reason=r.get("app_reason", ""),
            pledge=r.get("pledge", "").lower() in _YES, notes=r.get("notes", ""))
        try:
            good.append((form, check_visit(form, today)))
        except VisitProblems as exc:
            problems += [f"{name}:{line}: {m}" for m in exc.problems.values()]
    if problems:
        raise ImportProblems(problems)
    stored = 0
    with write_transaction(db):
        for form, values in sorted(good, key=lambda fv: fv[1]["visit_date"]):
            if visit_by_submission(db, form.submission_id) is None:
                _insert_visit(db, form.grid_id, values, actor)
                stored += 1
        counts = {"rows": len(good), "stored": stored, "already": len(good) - stored}
        audit(db, actor, "import", "visits", name, None, counts)
    return counts


# -- retention ------------------------------------------------------------------------------------
def purge_before(db: Database, before: date, actor: str) -> dict:
    """Delete visits dated before ``before`` and households left without a visit (the
    retention rule in README), audited. Later visits keep their 回头看 flags."""
    day = before.isoformat()
    with write_transaction(db):
        visits = db.execute("DELETE FROM visits WHERE visit_date < ?", [day]).rowcount
        db.execute("UPDATE visits SET prev_visit_date = NULL WHERE prev_visit_date < ?", [day])
        homes = db.execute("DELETE FROM households WHERE NOT EXISTS (SELECT 1 FROM visits "
                           "WHERE visits.household_id = households.id)").rowcount
        counts = {"before": day, "visits": visits, "households": homes}
        audit(db, actor, "purge", "visits", day, None, counts)
    return counts
