"""The admin console through the real app: sign-in and sessions, CSRF, roles, the case and tip
editor (draft -> published -> archived, seen by every worker), history and restore, 本周预警,
and the content commands of the CLI. Pages for questions, pushes and reports: test_admin_stats.py.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.datastructures import MultiDict
from werkzeug.security import check_password_hash, generate_password_hash

from bot import create_app
from bot.cli import main
from bot.content.editing import save_item
from bot.storage.db import connect, utcnow_iso
from conftest import make_settings, small_content_dir, write_config

ADMIN, ADMIN_PASSWORD = "zhang-admin", "correct-horse-battery"
EDITOR, EDITOR_PASSWORD = "li-editor", "editor-password-9"
CONTENT_CASE = "official-96110-call"        # a published case loaded from content/
GROUPS = [
    {"id": "dongcun", "name": "东村老年人群", "area": "东村", "audiences": ["elderly"],
     "schedule": ["mon 09:00"]},
    {"id": "xicun", "name": "西村家长群", "area": "西村", "audiences": ["parents"],
     "schedule": ["thu 19:30"]},
    {"id": "nancun", "name": "南村群", "area": "南村", "schedule": ["fri 10:00"]},
]

# A scam type the content bank does not have, so its examples can only be answered by it.
NEW_CASE = {
    "id": "parking-ticket-qr-code",
    "category": "fake_subsidy",
    "title": "车窗上的停车罚单让扫码交罚款，是骗局",
    "summary": "骗子把假罚单夹在车窗上，扫上面的二维码会进入假的缴费页面，骗走钱和银行卡信息。",
    "audiences": ["general", "elderly"],
    "examples": "车窗上夹了一张停车罚单 让扫码交罚款 是真的吗\n"
                "罚单上印着二维码 扫了要我交滞纳金\n"
                "雨刮器下面塞了一张违停通知单 上面有付款码",
    "keywords": "停车罚单，扫码交罚款，违停通知单",
    "sources": "公安交管部门公开发布的防范提示",
    "套路": "骗子把假的停车罚单夹在车窗上，上面印着二维码。扫码后进入假的缴费页面，"
           "要你填银行卡号和验证码，钱就被转走了。",
    "识别要点": "真罚单不会让你扫陌生二维码付款\n页面要银行卡号和验证码的都是假的",
    "怎么办": "不要扫罚单上的二维码\n用交管部门的官方APP查询有没有违法记录\n已经付了钱的马上拨打110报警",
}
EXAMPLE = "车窗上夹了一张停车罚单 让扫码交罚款 是真的吗"

NEW_TIP = {
    "id": "tip-parking-ticket-qr",
    "title": "车窗上的罚单二维码别乱扫",
    "audiences": ["general"],
    "categories": ["fake_subsidy"],
    "body": "最近有人在车窗上夹假的停车罚单，上面印着二维码，扫码后让你交罚款、填银行卡号和验证码。"
            "真的交通罚款不会让你扫车窗上的陌生二维码，要查违法记录请用交管部门的官方APP。"
            "拿不准就拨打96110咨询，已经付了钱的马上打110报警。",
}

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'
RAW_XSS = (XSS_SCRIPT, "<img src=x onerror=alert(1)>")


# -- fixtures and helpers ---------------------------------------------------------------------
# Every test here publishes into the small bank (conftest.small_content_dir: every case of
# content/, a few lines each): each publish builds the index of the whole bank again.
@pytest.fixture(scope="module")
def content_dir() -> Path:
    return small_content_dir()


@pytest.fixture
def config_file(tmp_path) -> Path:
    return write_config(tmp_path, small=True)


def admin_settings(tmp_path, **admin):
    return make_settings(tmp_path, GROUPS, small=True,
                         admin={"max_login_failures": 3, "idle_minutes": 30, **admin})


@pytest.fixture
def settings(tmp_path):
    """Overrides conftest's: admin settings and three group chats (for 本周预警), over a copy
    of the session's loaded database (conftest's make_settings seeds it)."""
    return admin_settings(tmp_path)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    add_account(app, ADMIN, ADMIN_PASSWORD, "admin")
    return app


@pytest.fixture
def admin(app):
    """A test client signed in as an admin."""
    client = app.test_client()
    assert login(client, ADMIN, ADMIN_PASSWORD).status_code == 302
    return client


@pytest.fixture
def editor(app):
    """A test client signed in as an editor."""
    add_account(app, EDITOR, EDITOR_PASSWORD, "editor")
    client = app.test_client()
    assert login(client, EDITOR, EDITOR_PASSWORD).status_code == 302
    return client


@functools.cache
def _quick_hash(password: str) -> str:
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


def add_account(app, name, password, role):
    """A ready-made account for tests about something else. Its hash is cheap, so signing in
    stays fast; accounts made the real way (scrypt) are tested through /admin/accounts and
    create-admin."""
    db(app)["admins"].insert({"name": name, "password_hash": _quick_hash(password),
                              "role": role, "created_at": utcnow_iso(), "disabled": 0})


def csrf_token(client, path="/admin/login") -> str:
    """The token a browser would send: read from the hidden field of a page's form."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, name, password, **kwargs):
    token = csrf_token(client)
    return client.post("/admin/login", data={"csrf_token": token, "name": name,
                                             "password": password}, **kwargs)


def post_form(client, path, data=None, token_from="/admin/items/case"):
    """POST like a browser: the form's fields plus the CSRF token of the session."""
    form = MultiDict(data or {})
    form["csrf_token"] = csrf_token(client, token_from)
    return client.post(path, data=form)


def db(app):
    return app.extensions["db"]()


def row(app, table, item_id):
    rows = list(db(app)[table].rows_where("id = ?", [item_id]))
    return rows[0] if rows else None


def snapshot(app) -> dict:
    """Every row of every table: to show that a refused request changed nothing."""
    database = db(app)
    return {t: list(database[t].rows) for t in database.table_names()}


def answered_with(app, question) -> list[str]:
    """The answer once the worker has the index of the current content (built in the
    background after a publish, never inside the admin's request)."""
    answers = app.extensions["answers"]
    assert answers.wait_until_current(timeout=60)
    return answers.ask(question)["case_ids"]


def create_case(client, **changes):
    return post_form(client, "/admin/items/case/new", {**NEW_CASE, **changes})


def set_status(client, item_id, status, kind="case"):
    return post_form(client, f"/admin/items/{kind}/{item_id}/status", {"status": status})


def body(response) -> str:
    return response.get_data(as_text=True)


class _FormReader(HTMLParser):
    """What a browser submits from one <form>: text inputs, checked boxes, textareas, selects."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.fields = form_id, False, MultiDict()
        self._textarea = self._select = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.add(a["name"], a.get("value", "on"))
            elif a.get("type") not in ("submit", "button"):
                self.fields.add(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self._textarea = [a["name"], ""]
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            self.fields.add(*self._textarea)
            self._textarea = None
        elif tag == "select" and self._select:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.fields.add(self._select, chosen[0])
            self._select = None


def editor_form(client, path) -> MultiDict:
    """The editor form's current values, read from the page as a browser would."""
    reader = _FormReader("editor")
    reader.feed(body(client.get(path)))
    return reader.fields


def audit_rows(app, action, target_id):
    return list(db(app)["audit_log"].rows_where("action = ? AND target_id = ?",
                                                [action, target_id], order_by="id"))


# -- sign-in and sessions ---------------------------------------------------------------------
def _admin_urls(app, item_id):
    """Every /admin rule with its methods, arguments filled in (other modules' rules too)."""
    values = {"kind": "case", "item_id": item_id, "account_id": 1, "version": 1}
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint == "admin.login":
            continue
        url = adapter.build(rule.endpoint, {a: values.get(a, "1") for a in rule.arguments})
        for method in ("GET", "POST"):
            if method in rule.methods:
                yield method, url


def test_every_admin_url_needs_sign_in(app):
    client = app.test_client()
    before = snapshot(app)
    urls = list(_admin_urls(app, CONTENT_CASE))
    assert len(urls) >= 14
    for method, url in urls:
        # A valid token (logout clears the session, so a fresh one each time): the refusal
        # must come from the missing sign-in, not from CSRF protection.
        data = {"csrf_token": csrf_token(client), "status": "archived"} if method == "POST" \
            else None
        r = client.open(url, method=method, data=data)
        assert r.status_code == 302, (method, url, r.status_code)
        assert r.location.startswith("/admin/login"), (method, url, r.location)
    assert snapshot(app) == before


def test_sign_in_and_out(app):
    client = app.test_client()
    r = login(client, ADMIN, ADMIN_PASSWORD)
    assert r.status_code == 302 and r.location == "/admin/"
    assert client.get("/admin/items/case").status_code == 200
    assert audit_rows(app, "login", ADMIN)
    r = post_form(client, "/admin/logout")
    assert r.status_code == 302 and r.location == "/admin/login"
    assert client.get("/admin/items/case").status_code == 302
    # Back to the page asked for, but never off-site.
    for target, expected in (("/admin/items/tip", "/admin/items/tip"),
                             ("https://evil.example/", "/admin/")):
        client = app.test_client()
        token = csrf_token(client)
        r = client.post(f"/admin/login?next={target}", data={
            "csrf_token": token, "name": ADMIN, "password": ADMIN_PASSWORD})
        assert r.location == expected


def test_wrong_password_fails_and_repeated_failures_lock_out(app):
    """Failures count per (address, name): past the limit that pair waits a growing delay;
    the account stays open to everyone else (issue 8: lock-out as a weapon)."""
    client = app.test_client()
    r = login(app.test_client(), "nobody", ADMIN_PASSWORD, environ_base={"REMOTE_ADDR": "10.0.0.3"})
    assert r.status_code == 200 and "账号或密码不对" in body(r)
    for attempt in range(3):          # admin.max_login_failures = 3
        r = login(client, ADMIN, f"wrong-password-{attempt}")
        assert r.status_code == 200 and "账号或密码不对" in body(r)
        with client.session_transaction() as s:
            assert "admin_id" not in s
        assert client.get("/admin/items/case").status_code == 302
    r = login(client, ADMIN, ADMIN_PASSWORD)       # now even the right password waits
    assert r.status_code == 429 and "登录失败次数过多" in body(r)
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    with client.session_transaction() as s:
        assert "admin_id" not in s
    # Not counted per name: the account still signs in from another address ...
    r = login(app.test_client(), ADMIN, ADMIN_PASSWORD, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert r.status_code == 302
    # ... nor per address alone: this address may sign in to another account.
    add_account(app, EDITOR, EDITOR_PASSWORD, "editor")
    assert login(app.test_client(), EDITOR, EDITOR_PASSWORD).status_code == 302
    # The wait grows with each failure after it: 1 minute, then 2 (moved in time, no sleeping).
    db(app).execute("UPDATE login_failures SET at = at - 61")
    assert login(client, ADMIN, "wrong-again").status_code == 200
    assert 61 <= int(login(client, ADMIN, ADMIN_PASSWORD).headers["Retry-After"]) <= 120
    db(app).execute("UPDATE login_failures SET at = at - 121")
    assert login(client, ADMIN, ADMIN_PASSWORD).status_code == 302


def test_idle_session_is_signed_out(settings):
    app = create_app(settings.replace(admin={"idle_minutes": 5}))
    add_account(app, ADMIN, ADMIN_PASSWORD, "admin")
    client = app.test_client()
    assert login(client, ADMIN, ADMIN_PASSWORD).status_code == 302
    with client.session_transaction() as s:
        s["seen"] = time.time() - 4 * 60          # 4 idle minutes: still signed in
    assert client.get("/admin/items/case").status_code == 200
    with client.session_transaction() as s:
        s["seen"] = time.time() - 6 * 60          # 6 idle minutes: signed out
    r = client.get("/admin/items/case")
    assert r.status_code == 302 and r.location.startswith("/admin/login")
    with client.session_transaction() as s:
        assert "admin_id" not in s
    assert "长时间未操作" in body(client.get(r.location))
    assert client.get("/admin/").status_code == 302


def _session_cookie_header(client) -> str:
    r = login(client, ADMIN, ADMIN_PASSWORD)
    headers = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(headers) == 1
    return headers[0]


def test_session_cookie_flags(app, settings):
    header = _session_cookie_header(app.test_client())   # admin.cookie_secure defaults to true
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header
    local = create_app(settings.replace(admin={"cookie_secure": False}))   # same database
    header = _session_cookie_header(local.test_client())
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header


# -- CSRF -------------------------------------------------------------------------------------
def test_every_form_needs_the_csrf_token(app, admin):
    # Something to restore and alert about: one real edit of a published case.
    form = editor_form(admin, f"/admin/items/case/{CONTENT_CASE}")
    form["summary"] = "改过的概括：96110是反诈预警劝阻专线。"
    assert post_form(admin, f"/admin/items/case/{CONTENT_CASE}", form).status_code == 302
    add_account(app, EDITOR, EDITOR_PASSWORD, "editor")
    editor_id = next(db(app)["admins"].rows_where("name = ?", [EDITOR]))["id"]
    stranger = app.test_client()
    stranger.get("/admin/login")                 # has a session, but sends no token
    posts = [
        (stranger, "/admin/login", {"name": ADMIN, "password": ADMIN_PASSWORD}),
        (admin, "/admin/logout", {}),
        (admin, "/admin/items/case/new", NEW_CASE),
        (admin, "/admin/items/tip/new", NEW_TIP),
        (admin, f"/admin/items/case/{CONTENT_CASE}", {**form, "summary": "不该保存"}),
        (admin, f"/admin/items/case/{CONTENT_CASE}/status", {"status": "archived"}),
        (admin, f"/admin/items/case/{CONTENT_CASE}/restore/1", {}),
        (admin, f"/admin/items/case/{CONTENT_CASE}/alert", {"groups": "dongcun"}),
        (admin, "/admin/accounts", {"name": "mallory", "password": "mallory-password",
                                    "role": "admin"}),
        (admin, f"/admin/accounts/{editor_id}/disable", {}),
        (admin, "/admin/preview/case", NEW_CASE),
    ]
    for client, path, data in posts:
        before = snapshot(app)
        data = MultiDict(data)
        data.pop("csrf_token", None)
        r = client.post(path, data=data)
        assert r.status_code == 400, (path, r.status_code)
        assert "安全校验没有通过" in body(r), path
        assert snapshot(app) == before, path
    with stranger.session_transaction() as s:
        assert "admin_id" not in s
    assert admin.get("/admin/items/case").status_code == 200   # logout without token: still in
    # A token from another session is no better than none.
    before = snapshot(app)
    r = admin.post("/admin/items/case/new", data={**NEW_CASE, "csrf_token": csrf_token(stranger)})
    assert r.status_code == 400 and snapshot(app) == before


# -- roles and accounts -----------------------------------------------------------------------
def test_editor_cannot_manage_accounts_or_read_the_audit_log(app, editor):
    assert editor.get("/admin/accounts").status_code == 403
    assert editor.get("/admin/audit").status_code == 403
    before = snapshot(app)
    r = post_form(editor, "/admin/accounts", {"name": "sneaky", "password": "sneaky-password",
                                              "role": "admin"})
    assert r.status_code == 403
    r = post_form(editor, "/admin/accounts/1/disable")
    assert r.status_code == 403
    assert snapshot(app) == before
    assert 'href="/admin/accounts"' not in body(editor.get("/admin/items/case"))
    assert editor.get("/admin/items/case").status_code == 200   # content is theirs to edit


def test_admin_creates_an_editor_with_a_hashed_password(app, admin):
    assert admin.get("/admin/accounts").status_code == 200
    r = post_form(admin, "/admin/accounts", {"name": EDITOR, "password": EDITOR_PASSWORD,
                                             "role": "editor"}, token_from="/admin/accounts")
    assert r.status_code == 302
    account = next(db(app)["admins"].rows_where("name = ?", [EDITOR]))
    assert account["role"] == "editor"
    assert account["password_hash"].startswith("scrypt:")
    assert EDITOR_PASSWORD not in account["password_hash"]
    assert check_password_hash(account["password_hash"], EDITOR_PASSWORD)
    assert audit_rows(app, "create", EDITOR)[0]["actor"] == ADMIN
    assert EDITOR in body(admin.get("/admin/accounts"))
    client = app.test_client()
    assert login(client, EDITOR, EDITOR_PASSWORD).status_code == 302
    assert client.get("/admin/items/case").status_code == 200
    assert client.get("/admin/accounts").status_code == 403
    # A short password or a taken name: refused with a message, nothing stored.
    before = snapshot(app)["admins"]
    for name, password, message in (("wang", "short9", "at least 10 characters"),
                                    (ADMIN, "another-password", "already exists")):
        r = post_form(admin, "/admin/accounts", {"name": name, "password": password,
                                                 "role": "editor"})
        assert r.status_code == 302
        assert message in body(admin.get(r.location))
    assert snapshot(app)["admins"] == before
    # Disabling the editor ends their session and their sign-ins; nobody can disable themself.
    editor_id = account["id"]
    r = post_form(admin, f"/admin/accounts/{editor_id}/disable", token_from="/admin/accounts")
    assert r.status_code == 302 and db(app)["admins"].get(editor_id)["disabled"] == 1
    assert client.get("/admin/items/case").status_code == 302
    assert login(app.test_client(), EDITOR, EDITOR_PASSWORD).status_code == 200
    own_id = next(db(app)["admins"].rows_where("name = ?", [ADMIN]))["id"]
    r = post_form(admin, f"/admin/accounts/{own_id}/disable", token_from="/admin/accounts")
    assert "不能停用自己的账号" in body(admin.get(r.location))
    assert db(app)["admins"].get(own_id)["disabled"] == 0


def test_disabling_an_unknown_account_is_404(app, admin):
    before = snapshot(app)
    assert post_form(admin, "/admin/accounts/999/disable").status_code == 404
    assert snapshot(app) == before


# -- the case editor: draft, publish, archive -------------------------------------------------
def test_case_lifecycle_draft_publish_edit_archive(app, admin, settings):
    r = create_case(admin)
    assert r.status_code == 302 and r.location == f"/admin/items/case/{NEW_CASE['id']}"
    saved = row(app, "cases", NEW_CASE["id"])
    assert (saved["status"], saved["origin"], saved["category"], saved["title"]) == \
        ("draft", "admin", "fake_subsidy", NEW_CASE["title"])
    assert "- 不要扫罚单上的二维码" in saved["source"]
    assert NEW_CASE["title"] in body(admin.get("/admin/items/case?status=draft"))
    worker = create_app(settings)          # a second server process on the same database
    for each in (app, worker):             # a draft is not answered by anyone
        assert NEW_CASE["id"] not in answered_with(each, EXAMPLE)
    assert admin.get(f"/cases/{NEW_CASE['id']}").status_code == 404

    assert set_status(admin, NEW_CASE["id"], "published").status_code == 302
    assert row(app, "cases", NEW_CASE["id"])["status"] == "published"
    for each in (app, worker):
        assert answered_with(each, EXAMPLE)[0] == NEW_CASE["id"]
    assert NEW_CASE["title"] in body(worker.test_client().get(f"/cases/{NEW_CASE['id']}"))
    publish = audit_rows(app, "publish", NEW_CASE["id"])[0]
    assert publish["actor"] == ADMIN
    assert json.loads(publish["before"])["status"] == "draft"
    assert json.loads(publish["after"])["status"] == "published"

    # An edit of a published case is live too: the form comes back filled in, save, answered.
    form = editor_form(admin, f"/admin/items/case/{NEW_CASE['id']}")
    assert form["title"] == NEW_CASE["title"] and form["category"] == "fake_subsidy"
    assert form.getlist("audiences") == ["elderly", "general"]
    form["title"] = "改过标题：车窗罚单二维码是骗局"
    assert post_form(admin, f"/admin/items/case/{NEW_CASE['id']}", form).status_code == 302
    assert row(app, "cases", NEW_CASE["id"])["status"] == "published"
    assert worker.extensions["answers"].wait_until_current(timeout=60)
    assert worker.extensions["answers"].ask(EXAMPLE)["title"] == form["title"]

    assert set_status(admin, NEW_CASE["id"], "archived").status_code == 302
    for each in (app, worker):
        assert NEW_CASE["id"] not in answered_with(each, EXAMPLE)
    assert worker.test_client().get(f"/cases/{NEW_CASE['id']}").status_code == 404
    archived = row(app, "cases", NEW_CASE["id"])          # archived, never deleted
    assert archived["status"] == "archived" and archived["title"] == form["title"]
    assert admin.get(f"/admin/items/case/{NEW_CASE['id']}").status_code == 200
    assert form["title"] in body(admin.get("/admin/items/case?status=archived"))
    assert json.loads(audit_rows(app, "archived", NEW_CASE["id"])[0]["after"])["status"] == \
        "archived"
    assert [v["status"] for v in db(app)["item_versions"].rows_where(
        "item_id = ?", [NEW_CASE["id"]], order_by="version")] == \
        ["draft", "published", "published", "archived"]


def test_publish_is_answered_once_the_index_is_built_outside_the_request(app, admin):
    """Publishing asks for the new index and returns: the admin's request does not build it
    (a background thread does); the worker answers with the case as soon as it is ready."""
    create_case(admin)
    assert NEW_CASE["id"] not in answered_with(app, EXAMPLE)   # the worker has just checked
    answers = app.extensions["answers"]
    before = answers.content_version
    set_status(admin, NEW_CASE["id"], "published")
    assert answers.content_version == before     # the request did not build or swap
    assert NEW_CASE["id"] in answered_with(app, EXAMPLE)
    assert admin.get(f"/cases/{NEW_CASE['id']}").status_code == 200
    set_status(admin, NEW_CASE["id"], "archived")
    assert NEW_CASE["id"] not in answered_with(app, EXAMPLE)


INVALID = [
    # (what is wrong, form changes, the field its message goes with, the message)
    ("no title", {"title": ""}, "title", "缺少标题（title）"),
    ("unknown category", {"category": "parking"}, "category", "不认识的类别（category）“parking”"),
    ("two examples", {"examples": "车窗上有罚单\n罚单上有二维码"}, "examples",
     "群众会怎么问（examples）至少要 3 条，现在有 2 条"),
    ("unmasked phone", {"套路": "骗子在罚单上留了电话13812345678，让你打过去交钱。"}, "套路",
     "电话号码“13812345678”没有打码"),
]


def _field_errors(page: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for field, message in re.findall(r'<div class="errors" data-field="([^"]+)">([^<]*)</div>',
                                     page):
        found.setdefault(field, []).append(message.replace("&#39;", "'"))
    return found


def test_invalid_case_shows_errors_by_field_and_saves_nothing(app, admin):
    before = snapshot(app)
    for what, changes, field, message in INVALID:
        r = create_case(admin, **changes)
        assert r.status_code == 422, what
        errors = _field_errors(body(r))
        assert any(message in m for m in errors.get(field, [])), (what, errors)
        assert set(errors) == {field}, (what, errors)
        assert snapshot(app) == before, what
    # All at once: every problem is shown, each next to its own field.
    everything = {k: v for _, changes, _, _ in INVALID for k, v in changes.items()}
    r = create_case(admin, **everything)
    assert r.status_code == 422
    errors = _field_errors(body(r))
    for what, _, field, message in INVALID:
        assert any(message in m for m in errors.get(field, [])), (what, errors)
    assert NEW_CASE["识别要点"].split("\n")[0] in body(r)    # what was typed is kept
    assert snapshot(app) == before
    # The live preview reports the same problems by field.
    preview = post_form(admin, "/admin/preview/case", {**NEW_CASE, **everything}).get_json()
    assert preview["ok"] is False
    assert set(preview["errors"]) == {field for _, _, field, _ in INVALID}
    # A new case cannot take an existing id.
    r = create_case(admin, id=CONTENT_CASE)
    assert r.status_code == 422 and "已经被占用了" in body(r)
    # An invalid edit of a published case keeps the published version.
    path = f"/admin/items/case/{CONTENT_CASE}"
    form = editor_form(admin, path)
    form["examples"] = "96110是什么"
    r = post_form(admin, path, form)
    assert r.status_code == 422 and "examples" in _field_errors(body(r))
    assert snapshot(app) == before


def _assert_escaped(page: str, where: str):
    for raw in RAW_XSS:
        assert raw not in page, where
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, where


def test_markup_typed_into_a_case_is_shown_as_text_everywhere(app, admin):
    xss = {"title": XSS_SCRIPT + XSS_ATTR, "summary": "骗局" + XSS_SCRIPT + XSS_ATTR,
           "套路": "骗子发来" + XSS_SCRIPT + "和" + XSS_ATTR + "这样的东西。"}
    case_id = NEW_CASE["id"]
    r = post_form(admin, "/admin/preview/case", {**NEW_CASE, **xss})
    preview = r.get_json()
    assert preview["ok"] is True and XSS_SCRIPT in preview["reply"]   # plain text for WeChat
    _assert_escaped(preview["page"], "preview page")

    assert create_case(admin, **xss).status_code == 302
    form = editor_form(admin, f"/admin/items/case/{case_id}")
    form["summary"] = "改过：" + XSS_SCRIPT + XSS_ATTR
    assert post_form(admin, f"/admin/items/case/{case_id}", form).status_code == 302
    assert set_status(admin, case_id, "published").status_code == 302
    _assert_escaped(body(admin.get("/admin/items/case")), "list page")
    _assert_escaped(body(admin.get(f"/admin/items/case/{case_id}")), "editor page")
    history = body(admin.get(f"/admin/items/case/{case_id}/history"))
    _assert_escaped(history, "history page")
    assert "<pre class=\"add\">+summary: 改过：&lt;script&gt;" in history
    public = admin.get(f"/cases/{case_id}")
    assert public.status_code == 200
    _assert_escaped(body(public), "public page")
    _assert_escaped(body(admin.get("/admin/audit")), "audit page")


def test_history_diff_and_restore_of_a_content_case(app, admin, content_dir):
    original = (content_dir / "cases" / f"{CONTENT_CASE}.md").read_text(encoding="utf-8")
    path = f"/admin/items/case/{CONTENT_CASE}"
    assert row(app, "cases", CONTENT_CASE)["source"] == original
    form = editor_form(admin, path)
    form["summary"] = "第一次修改：96110是公安机关的反诈预警劝阻专线，来电一定要接。"
    assert post_form(admin, path, form).status_code == 302
    form = editor_form(admin, path)           # reopened: a form carries the version it shows
    form["examples"] += "\n96110半夜打来电话 要接吗"
    assert post_form(admin, path, form).status_code == 302

    versions = list(db(app)["item_versions"].rows_where(
        "kind = 'case' AND item_id = ?", [CONTENT_CASE], order_by="version"))
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["source"] == original and versions[0]["editor"] == "content/"
    assert [v["editor"] for v in versions[1:]] == [ADMIN, ADMIN]
    page = body(admin.get(f"{path}/history"))
    assert "从内容库文件（content/）载入的原版" in page
    for label in ("v1 → v2", "v2 → v3"):
        assert label in page
    assert '<pre class="add">+summary: 第一次修改' in page
    assert re.search(r'<pre class="add">\+\s*- 96110半夜打来电话 要接吗</pre>', page)
    assert page.count("恢复这一版") == 2          # every version but the current one

    r = post_form(admin, f"{path}/restore/1", token_from=f"{path}/history")
    assert r.status_code == 302
    current = row(app, "cases", CONTENT_CASE)
    assert current["source"] == original and current["status"] == "published"
    latest = db(app).execute("SELECT version, source, note FROM item_versions WHERE "
                             "item_id = ? ORDER BY version DESC LIMIT 1",
                             [CONTENT_CASE]).fetchone()
    assert latest[0] == 4 and latest[1] == original and "恢复第 1 版" in latest[2]
    page = body(admin.get(f"{path}/history"))
    assert "v3 → v4" in page and "恢复第 1 版" in page

    edits = audit_rows(app, "edit", CONTENT_CASE)
    assert len(edits) >= 2
    first = edits[0]
    assert first["actor"] == ADMIN
    assert json.loads(first["before"])["source"] == original
    assert "第一次修改" in json.loads(first["after"])["source"]
    audit_page = body(admin.get("/admin/audit"))
    assert CONTENT_CASE in audit_page and "<td>修改</td>" in audit_page
    assert post_form(admin, f"{path}/restore/9").status_code == 404


def test_a_restore_is_audited_as_a_restore(app, admin, content_dir):
    """The audit log tells a restore from an edit (who restored which version), with the
    source before and after."""
    original = (content_dir / "cases" / f"{CONTENT_CASE}.md").read_text(encoding="utf-8")
    path = f"/admin/items/case/{CONTENT_CASE}"
    form = editor_form(admin, path)
    form["summary"] = "改过的概括：96110是反诈预警劝阻专线，来电一定要接。"
    assert post_form(admin, path, form).status_code == 302
    assert post_form(admin, f"{path}/restore/1").status_code == 302
    assert row(app, "cases", CONTENT_CASE)["source"] == original
    actions = [r["action"] for r in db(app)["audit_log"].rows_where(
        "target_id = ?", [CONTENT_CASE], order_by="id")]
    assert actions == ["edit", "restore"]
    restore = audit_rows(app, "restore", CONTENT_CASE)[0]
    assert restore["actor"] == ADMIN
    assert "改过的概括" in json.loads(restore["before"])["source"]
    assert json.loads(restore["after"])["source"] == original


def test_create_and_publish_a_tip(app, admin):
    assert admin.get("/admin/items/tip/new").status_code == 200
    before = snapshot(app)
    r = post_form(admin, "/admin/items/tip/new", {**NEW_TIP, "body": "别扫陌生二维码。" * 120})
    assert r.status_code == 422 and "最多 1800 字节" in _field_errors(body(r))["body"][0]
    assert snapshot(app) == before
    r = post_form(admin, "/admin/items/tip/new", NEW_TIP)
    assert r.status_code == 302 and r.location == f"/admin/items/tip/{NEW_TIP['id']}"
    assert row(app, "tips", NEW_TIP["id"])["status"] == "draft"
    form = editor_form(admin, r.location)
    assert form["body"] == NEW_TIP["body"] and form.getlist("categories") == ["fake_subsidy"]
    assert set_status(admin, NEW_TIP["id"], "published", kind="tip").status_code == 302
    saved = row(app, "tips", NEW_TIP["id"])
    assert saved["status"] == "published" and saved["origin"] == "admin"
    assert NEW_TIP["title"] in body(admin.get("/admin/items/tip?status=published"))


def test_weekly_alert_for_chosen_groups(app, admin):
    page = body(admin.get(f"/admin/items/case/{CONTENT_CASE}"))
    assert 'name="groups" value="dongcun"' in page and "西村家长群" in page
    r = post_form(admin, f"/admin/items/case/{CONTENT_CASE}/alert",
                  MultiDict([("groups", "dongcun"), ("groups", "xicun"),
                             ("groups", "no-such-group"), ("note", "本周多发")]))
    assert r.status_code == 302
    alerts = list(db(app)["alerts"].rows)
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["item_kind"], alert["item_id"], alert["active"]) == ("case", CONTENT_CASE, 1)
    assert json.loads(alert["groups"]) == ["dongcun", "xicun"]
    assert alert["created_by"] == ADMIN and alert["note"] == "本周多发"
    assert audit_rows(app, "alert", CONTENT_CASE)[0]["actor"] == ADMIN
    # No group chosen: every group.
    post_form(admin, f"/admin/items/case/{CONTENT_CASE}/alert")
    assert list(db(app)["alerts"].rows)[-1]["groups"] is None
    # A draft cannot be an alert.
    create_case(admin)
    r = post_form(admin, f"/admin/items/case/{NEW_CASE['id']}/alert", {"groups": "dongcun"})
    assert r.status_code == 302
    assert "请先发布" in body(admin.get(r.location))
    assert db(app)["alerts"].count == 2


# -- the command line -------------------------------------------------------------------------
VALID_FILE = """---
id: {id}
category: fake_subsidy
title: 车窗上的停车罚单让扫码交罚款，是骗局
summary: 假罚单上的二维码会带你去假的缴费页面。
audiences: [general]
examples:
  - 车窗上夹了一张停车罚单 让扫码交罚款 是真的吗
  - 罚单上印着二维码 扫了要我交滞纳金
  - 雨刮器下面塞了一张违停通知单 上面有付款码
sources:
  - 公安交管部门公开发布的防范提示
---
## 套路
骗子把假的停车罚单夹在车窗上，扫码后进入假的缴费页面。

## 识别要点
- 真罚单不会让你扫陌生二维码付款

## 怎么办
- 不要扫罚单上的二维码
"""

INVALID_FILE = """---
id: bad-case
category: parking
title: 有问题的案例
summary: 缺这缺那。
audiences: [general]
examples:
  - 只有一句
sources:
  - 某处
---
## 套路
请拨打13812345678交罚款。

## 识别要点
- 一条

## 怎么办
- 一条
"""


def cli(config_file, *args, input=None):
    return CliRunner().invoke(main, ["--config", str(config_file), *args], input=input)


def test_create_admin_prompts_for_the_password(config_file, tmp_path):
    r = cli(config_file, "create-admin", "wang", input="longpassword1\nlongpassword1\n")
    assert r.exit_code == 0, r.output
    assert "account 'wang' (admin) created" in r.output
    account = next(connect(tmp_path / "bot.db")["admins"].rows_where("name = 'wang'"))
    assert account["role"] == "admin" and "longpassword1" not in account["password_hash"]
    assert check_password_hash(account["password_hash"], "longpassword1")
    r = cli(config_file, "create-admin", "wang", input="longpassword2\nlongpassword2\n")
    assert r.exit_code == 1 and "already exists" in r.output
    r = cli(config_file, "create-admin", "zhao", "--role", "editor", input="short\nshort\n")
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    assert connect(tmp_path / "bot.db")["admins"].count == 1


def test_add_list_publish_archive_a_case(config_file, tmp_path):
    case_file = tmp_path / "parking-ticket-qr-code.md"
    case_file.write_text(VALID_FILE.format(id="parking-ticket-qr-code"), encoding="utf-8")
    r = cli(config_file, "add-case", str(case_file))
    assert r.exit_code == 0, r.output
    assert "added case parking-ticket-qr-code (draft)" in r.output
    listed = cli(config_file, "list-cases", "--status", "draft").output.splitlines()
    assert listed == ["parking-ticket-qr-code\tdraft\tfake_subsidy\t"
                      "车窗上的停车罚单让扫码交罚款，是骗局"]
    assert "parking-ticket-qr-code\tdraft" in cli(config_file, "list-cases").output
    assert cli(config_file, "publish", "parking-ticket-qr-code").exit_code == 0
    assert "parking-ticket-qr-code\tpublished" in cli(config_file, "list-cases").output
    r = cli(config_file, "ask", "车窗上夹了一张停车罚单 让扫码交罚款 是真的吗")
    assert json.loads(r.output)["case_ids"][0] == "parking-ticket-qr-code"
    assert cli(config_file, "archive", "parking-ticket-qr-code").exit_code == 0
    database = connect(tmp_path / "bot.db")
    assert database["cases"].get("parking-ticket-qr-code")["status"] == "archived"
    actions = [r["action"] for r in database["audit_log"].rows_where(
        "target_id = 'parking-ticket-qr-code'", order_by="id")]
    assert actions == ["create", "publish", "archived"]
    r = cli(config_file, "publish", "no-such-case")
    assert r.exit_code == 1 and "no case 'no-such-case'" in r.output


def test_add_case_reports_every_problem_with_file_and_line(config_file, tmp_path):
    bad = tmp_path / "bad-case.md"
    bad.write_text(INVALID_FILE, encoding="utf-8")
    r = cli(config_file, "add-case", str(bad))
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert f"{bad}:3: 不认识的类别（category）“parking”：请用 taxonomy.tsv 里的编号（不能用 none）" in lines
    assert f"{bad}:7: 群众会怎么问（examples）至少要 3 条，现在有 1 条" in lines
    assert any(ln.startswith(f"{bad}:13: 电话号码“13812345678”没有打码") for ln in lines)
    problem_lines = [ln for ln in lines if ln.startswith(f"{bad}:")]
    assert len(problem_lines) == 3, lines
    assert "bad-case" not in cli(config_file, "list-cases").output


def test_add_case_updates_an_existing_case(config_file, tmp_path, content_dir):
    original = (content_dir / "cases" / f"{CONTENT_CASE}.md").read_text(encoding="utf-8")
    edited = tmp_path / f"{CONTENT_CASE}.md"
    edited.write_text(original.replace("一定要接\n", "务必接听\n", 1), encoding="utf-8")
    r = cli(config_file, "add-case", str(edited))
    assert r.exit_code == 0 and f"updated case {CONTENT_CASE} (published)" in r.output
    saved = connect(tmp_path / "bot.db")["cases"].get(CONTENT_CASE)
    assert saved["origin"] == "admin" and "务必接听" in saved["title"]


def test_export_content_writes_everything_and_passes_check_content(config_file, tmp_path,
                                                                   content_dir):
    assert cli(config_file, "init-db").exit_code == 0
    case_file = tmp_path / "parking-ticket-qr-code.md"
    case_file.write_text(VALID_FILE.format(id="parking-ticket-qr-code"), encoding="utf-8")
    assert cli(config_file, "add-case", str(case_file)).exit_code == 0
    assert cli(config_file, "archive", "parking-ticket-qr-code").exit_code == 0
    tip_source = ("---\nid: tip-parking-ticket-qr\ntitle: 车窗上的罚单二维码别乱扫\n"
                  "audiences: [general]\ncategories: [fake_subsidy]\n---\n" + NEW_TIP["body"] +
                  "\n")
    database = connect(tmp_path / "bot.db")
    assert save_item(database, "tip", tip_source, "test", content_dir).ok   # an admin-made draft

    out = tmp_path / "export"
    r = cli(config_file, "export-content", str(out))
    assert r.exit_code == 0, r.output
    n_cases, n_tips = database["cases"].count, database["tips"].count
    assert f"wrote {n_cases} cases and {n_tips} tips" in r.output
    assert {p.stem for p in (out / "cases").glob("*.md")} == \
        {r["id"] for r in database["cases"].rows}
    assert {p.stem for p in (out / "tips").glob("*.md")} == {r["id"] for r in database["tips"].rows}
    archived = (out / "cases" / "parking-ticket-qr-code.md").read_text(encoding="utf-8")
    assert archived.splitlines()[:3] == ["---", "id: parking-ticket-qr-code", "status: archived"]
    assert "status: draft" in (out / "tips" / "tip-parking-ticket-qr.md").read_text("utf-8")
    for original in (content_dir / "cases").glob("*.md"):        # untouched files round-trip
        assert (out / "cases" / original.name).read_text("utf-8") == \
            original.read_text("utf-8"), original.name

    merged = tmp_path / "content"
    shutil.copytree(content_dir, merged)
    for kind in ("cases", "tips"):
        for exported in (out / kind).glob("*.md"):
            shutil.copy(exported, merged / kind / exported.name)
    merged_config = tmp_path / "merged.toml"
    merged_config.write_text(f'[database]\npath = "{tmp_path / "merged.db"}"\n'
                             f'[content]\ndir = "{merged}"\n', encoding="utf-8")
    r = cli(merged_config, "check-content")
    assert r.exit_code == 0, r.output
    assert f"ok: {n_cases} articles, {n_tips} tips" in r.output
    # Loading the exported bank keeps each item's status.
    assert cli(merged_config, "init-db").exit_code == 0
    assert connect(tmp_path / "merged.db")["cases"].get("parking-ticket-qr-code")["status"] == \
        "archived"


def test_init_db_keeps_admin_edits(config_file, tmp_path, content_dir):
    assert cli(config_file, "init-db").exit_code == 0
    case_file = tmp_path / "parking-ticket-qr-code.md"
    case_file.write_text(VALID_FILE.format(id="parking-ticket-qr-code"), encoding="utf-8")
    assert cli(config_file, "add-case", str(case_file)).exit_code == 0
    assert cli(config_file, "publish", "parking-ticket-qr-code").exit_code == 0
    original = (content_dir / "cases" / f"{CONTENT_CASE}.md").read_text(encoding="utf-8")
    edited = tmp_path / f"{CONTENT_CASE}.md"
    edited.write_text(original.replace("一定要接\n", "务必接听\n", 1), encoding="utf-8")
    assert cli(config_file, "add-case", str(edited)).exit_code == 0
    assert cli(config_file, "archive", "official-12381-sms").exit_code == 0
    database = connect(tmp_path / "bot.db")
    admin_rows = {r["id"]: r for r in database["cases"].rows_where("origin = 'admin'")}
    assert set(admin_rows) == {"parking-ticket-qr-code", CONTENT_CASE, "official-12381-sms"}
    n = database["cases"].count

    r = cli(config_file, "init-db")
    assert r.exit_code == 0 and "'kept_admin': 2" in r.output
    assert database["cases"].count == n
    assert {r["id"]: r for r in database["cases"].rows_where("origin = 'admin'")} == admin_rows


def test_editing_a_case_in_the_form_keeps_urgent_examples_and_review_date(content_dir):
    from bot.admin.forms import case_fields, case_source
    from bot.content.model import Problems, load_taxonomy, parse_article
    taxonomy = load_taxonomy(content_dir)
    source = (content_dir / "cases" / "emergency-just-transferred.md").read_text("utf-8")
    source = re.sub(r"^reviewed:.*\n", "", source, flags=re.M)
    source = source.replace("sources:", "urgent_examples:\n  in_progress:\n    - 他还没挂电话\n"
                                        "  lost:\n    - 刚转了两万\nreviewed: 2026-11-01\nsources:", 1)
    original = parse_article(source, "x.md", taxonomy, Problems(),
                             Path("emergency-just-transferred.md"))
    text, _ = case_source(case_fields(original))
    problems = Problems()
    again = parse_article(text, "x.md", taxonomy, problems, Path("emergency-just-transferred.md"))
    assert problems.items == []
    assert again.urgent_examples == (("他还没挂电话", "in_progress"), ("刚转了两万", "lost"))
    assert again.reviewed == "2026-11-01" and again.examples == original.examples


def test_cases_list_shows_review_dates_and_lists_cases_due_for_review(admin):
    assert create_case(admin).status_code == 302            # a new case has no review date
    page = body(admin.get("/admin/items/case"))
    assert "待核实" in page and "2026-11-27" in page and "未核实" in page
    due = body(admin.get("/admin/items/case?review=due"))
    assert NEW_CASE["id"] in due
    assert "emergency-just-transferred" not in due         # reviewed 2026-11-27
