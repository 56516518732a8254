"""Issue 8, admin console: each attack an adversarial review found, reproduced through the real
app, and what must happen instead. Webhook and API attacks: test_security_web.py."""
from __future__ import annotations

import functools
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest

from bot import create_app
from bot.config import DEV_SECRET_KEY
from bot.errors import ConfigError
from bot.web.pages import render_markdown
from test_admin import (ADMIN, ADMIN_PASSWORD, EDITOR, EDITOR_PASSWORD, NEW_CASE,  # noqa: F401
                        add_account, admin, app, audit_rows, body, create_case, db, editor,
                        editor_form, login, post_form, row, set_status, settings,
                        snapshot)


# -- 1. Markdown links: only http, https, mailto and relative URLs ------------------------------
class _Urls(HTMLParser):
    """Every href/src as the browser reads it (character references decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v or "" for k, v in attrs if k in ("href", "src", "xlink:href", "action",
                                                          "formaction", "srcset", "poster")]


def urls_in(page: str) -> list[str]:
    parser = _Urls()
    parser.feed(page)
    return parser.urls


def scheme_of(url: str) -> str:
    """The scheme a browser would use: tabs and newlines removed, leading controls stripped."""
    url = re.sub(r"[\t\n\r]", "", url).lstrip("".join(map(chr, range(0x21))))
    m = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    return m.group(1).lower() if m else ""


HOSTILE_MARKDOWN = {
    "javascript link": "[点这里](javascript:alert(document.cookie))",
    "mixed case": "[点这里](JaVaScRiPt:alert(1))",
    "leading spaces": "[点这里](   javascript:alert(1))",
    "vbscript": "[点这里](vbscript:msgbox(1))",
    "data: HTML": "[点这里](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "reference-style": "看[这个][1]\n\n[1]: javascript:alert(1)",
    "reference-style, titled": "看[这个][x]\n\n[x]: javascript:alert(1) \"标题\"",
    "image source": "![图](javascript:alert(1))",
    "image data: SVG": "![图](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "reference image": "![图][p]\n\n[p]: data:image/svg+xml,<svg/onload=alert(1)>",
    "character references": "[点这里](&#106;avascript:alert(1))",
    "hex reference": "[点这里](&#x6A;avascript:alert(1))",
    "tab inside": "[点这里](java\tscript:alert(1))",
    "named colon": "[点这里](javascript&colon;alert(1))",
    "file scheme": "[点这里](file:///etc/passwd)",
}
ALLOWED_MARKDOWN = {
    "https": ("[官网](https://www.12321.cn/a?b=1&c=2)", "https://www.12321.cn/a?b=1&c=2"),
    "http": ("[官网](http://www.example.cn/)", "http://www.example.cn/"),
    "mailto": ("[来信](mailto:fanzha@example.cn)", "mailto:fanzha@example.cn"),
    "absolute path": ("[别的案例](/cases/official-96110-call)", "/cases/official-96110-call"),
    "relative path": ("[别的案例](official-96110-call)", "official-96110-call"),
    "fragment": ("[上面](#top)", "#top"),
    "reference https": ("[官网][1]\n\n[1]: https://www.12321.cn", "https://www.12321.cn"),
    "image https": ("![图](https://www.example.cn/a.png)", "https://www.example.cn/a.png"),
}


@pytest.mark.parametrize("name", list(HOSTILE_MARKDOWN))
def test_markdown_drops_every_dangerous_url(name):
    page = str(render_markdown(HOSTILE_MARKDOWN[name]))
    for url in urls_in(page):
        assert scheme_of(url) in ("", "http", "https", "mailto"), (name, page)
    assert "点这里" in page or "图" in page or "这个" in page    # the text stays, as text


@pytest.mark.parametrize("name", list(ALLOWED_MARKDOWN))
def test_markdown_keeps_safe_urls(name):
    source, url = ALLOWED_MARKDOWN[name]
    assert urls_in(str(render_markdown(source))) == [url]


def test_an_editor_cannot_publish_a_script_link_to_an_admin(app, editor, admin):
    """The reviewed attack: an editor's case with a javascript: link, opened by an admin."""
    hostile = "\n\n".join(HOSTILE_MARKDOWN.values())
    r = create_case(editor, **{"套路": NEW_CASE["套路"] + "\n\n" + hostile})
    assert r.status_code == 302, body(r)
    assert set_status(editor, NEW_CASE["id"], "published").status_code == 302
    pages = [body(admin.get(f"/cases/{NEW_CASE['id']}")),
             post_form(admin, "/admin/preview/case",
                       {**NEW_CASE, "套路": NEW_CASE["套路"] + "\n\n" + hostile}).get_json()["page"]]
    for page in pages:
        assert "点这里" in page
        for url in urls_in(page):
            assert scheme_of(url) in ("", "http", "https", "mailto"), url


# -- 2. security headers on every response; no inline script -----------------------------------
def _csp(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {d.split()[0]: d.strip() for d in policy.split(";") if d.strip()}


ADMIN_PAGES = ["/admin/", "/admin/items/case", "/admin/items/tip", "/admin/items/case/new",
               f"/admin/items/case/{NEW_CASE['id']}", f"/admin/items/case/{NEW_CASE['id']}/history",
               "/admin/questions", "/admin/pushes", "/admin/report", "/admin/accounts",
               "/admin/audit", "/admin/password"]


def test_every_response_carries_the_security_headers(app, admin):
    create_case(admin)
    client = app.test_client()
    responses = [client.get(p) for p in ("/", "/cases/official-96110-call", "/cases/nothing",
                                         "/admin/login", "/static/admin.js", "/api/v1/categories",
                                         "/api/v1/nothing", "/wechat")]
    responses += [client.post("/api/v1/ask", json={"q": "网贷要先交保证金"})]
    responses += [admin.get(p) for p in ADMIN_PAGES]
    for r in responses:
        where = (r.request.path, r.status_code)
        assert r.status_code < 500, where
        assert r.headers.get("X-Content-Type-Options") == "nosniff", where
        assert r.headers.get("X-Frame-Options") == "DENY", where
        assert r.headers.get("Referrer-Policy") == "same-origin", where
        csp = _csp(r)
        assert csp.get("frame-ancestors") == "frame-ancestors 'none'", where
        assert csp.get("script-src") == "script-src 'self'", where   # no inline, no eval
        assert csp.get("object-src") == "object-src 'none'", where
        assert csp.get("base-uri") == "base-uri 'none'", where
        assert csp.get("form-action") == "form-action 'self'", where
        r.close()


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline: list[str] = []
        self.frames: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and not a.get("src"):
            self.inline.append(self.get_starttag_text())
        self.inline += [f"{tag} {k}" for k in a if k.startswith("on")]
        self.inline += [f"{tag} {k}={v}" for k, v in a.items()
                        if k in ("href", "src", "action") and scheme_of(v or "") == "javascript"]
        if tag == "iframe":
            self.frames.append(a)


def test_no_page_has_inline_script_and_the_preview_is_sandboxed(app, admin):
    create_case(admin)
    pages = {p: body(admin.get(p)) for p in ADMIN_PAGES}
    pages["/"] = body(app.test_client().get("/"))
    pages["/cases/official-96110-call"] = body(app.test_client().get("/cases/official-96110-call"))
    for path, page in pages.items():
        scripts = _Scripts()
        scripts.feed(page)
        assert scripts.inline == [], path
    editor_page = _Scripts()
    editor_page.feed(pages[f"/admin/items/case/{NEW_CASE['id']}"])
    [frame] = editor_page.frames
    assert "sandbox" in frame and not frame["sandbox"]   # sandboxed, no allow-scripts
    # The questions page's case lists are still filled in, by the static script.
    assert 'src="/static/admin.js"' in pages["/admin/questions"]


# -- 7. hostile query strings get a 4xx, never a 500 --------------------------------------------
@pytest.mark.parametrize("target", ["/admin/items\r\nSet-Cookie: evil=1", "/admin/\n",
                                    "/admin/\rx", "/admin/%0d%0a", "/admin\\evil.example",
                                    "/admin/../\x00"])
def test_sign_in_with_a_hostile_next_never_fails_and_never_leaves_the_site(app, target):
    from test_admin import csrf_token
    client = app.test_client()
    r = client.post("/admin/login", query_string={"next": target}, data={
        "csrf_token": csrf_token(client), "name": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 302
    assert "\r" not in r.location and "\n" not in r.location and "\\" not in r.location
    assert r.location.startswith("/admin")
    assert client.get("/admin/items/case").status_code == 200


@pytest.mark.parametrize("week", ["9999-W52", "9999-W01", "0001-W01", "0000-W01", "2026-W00",
                                  "2026-W54", "2026-W5", "99999-W01", "2026-W47\r\nx", "x" * 5000])
def test_report_of_an_impossible_week_is_a_400(admin, week):
    for path in ("/admin/report", "/admin/report.xlsx", "/admin/report.csv"):
        r = admin.get(path, query_string={"week": week})
        assert r.status_code == 400, (path, week, r.status_code)
        assert "周" in body(r)


# -- 5. sessions end on sign-out, password change, reset and disable ----------------------------
def _copy_of(app, client):
    """Another browser holding a copy of this client's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_logout_ends_the_session_for_a_copied_cookie_too(app, admin):
    thief = _copy_of(app, admin)
    assert thief.get("/admin/items/case").status_code == 200
    assert post_form(admin, "/admin/logout").status_code == 302
    for client in (admin, thief):
        r = client.get("/admin/items/case")
        assert r.status_code == 302 and r.location.startswith("/admin/login")
    assert [r["actor"] for r in audit_rows(app, "logout", ADMIN)] == [ADMIN]


def _editor_sessions(app, n=2):
    add_account(app, EDITOR, EDITOR_PASSWORD, "editor")
    clients = [app.test_client() for _ in range(n)]
    for c in clients:
        assert login(c, EDITOR, EDITOR_PASSWORD).status_code == 302
    return clients


def _signed_out(client) -> bool:
    return client.get("/admin/items/case").status_code == 302


NEW_PASSWORD = "a-brand-new-password-7"


def test_changing_ones_password_needs_the_old_one_and_ends_every_session(app):
    phone, laptop = _editor_sessions(app)
    thief = _copy_of(app, laptop)
    assert "原密码" in body(phone.get("/admin/password"))
    before = snapshot(app)["admins"]
    for old, new, again, message in (("wrong-old-password", NEW_PASSWORD, NEW_PASSWORD, "原密码不对"),
                                     (EDITOR_PASSWORD, "short", "short", "至少要 10 位"),
                                     (EDITOR_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "不一样")):
        r = post_form(phone, "/admin/password", {"old": old, "new": new, "again": again},
                      token_from="/admin/password")
        assert r.status_code == 400 and message in body(r)
    assert snapshot(app)["admins"] == before and not _signed_out(laptop)
    r = post_form(phone, "/admin/password", {"old": EDITOR_PASSWORD, "new": NEW_PASSWORD,
                                             "again": NEW_PASSWORD}, token_from="/admin/password")
    assert r.status_code == 302 and r.location == "/admin/login"
    assert all(_signed_out(c) for c in (phone, laptop, thief))
    assert login(app.test_client(), EDITOR, EDITOR_PASSWORD).status_code == 200
    assert login(app.test_client(), EDITOR, NEW_PASSWORD).status_code == 302
    assert [r["actor"] for r in audit_rows(app, "password_change", EDITOR)] == [EDITOR]


def test_an_admin_resets_a_password_and_the_accounts_sessions_end(app, admin):
    (editor_client,) = _editor_sessions(app, 1)
    editor_id = next(db(app)["admins"].rows_where("name = ?", [EDITOR]))["id"]
    assert "重置密码" in body(admin.get("/admin/accounts"))
    r = post_form(admin, f"/admin/accounts/{editor_id}/password",
                  {"new": NEW_PASSWORD, "again": NEW_PASSWORD}, token_from="/admin/accounts")
    assert r.status_code == 302 and "密码已重置" in body(admin.get(r.location))
    assert _signed_out(editor_client) and not _signed_out(admin)
    assert login(app.test_client(), EDITOR, NEW_PASSWORD).status_code == 302
    assert [r["actor"] for r in audit_rows(app, "password_reset", EDITOR)] == [ADMIN]
    # An editor may not reset anyone's password.
    editor2 = app.test_client()
    login(editor2, EDITOR, NEW_PASSWORD)
    admin_id = next(db(app)["admins"].rows_where("name = ?", [ADMIN]))["id"]
    assert post_form(editor2, f"/admin/accounts/{admin_id}/password",
                     {"new": "editor-owns-admin-1", "again": "editor-owns-admin-1"}
                     ).status_code == 403
    assert not _signed_out(admin)


def test_disabling_an_account_ends_its_sessions(app, admin):
    (editor_client,) = _editor_sessions(app, 1)
    thief = _copy_of(app, editor_client)
    editor_id = next(db(app)["admins"].rows_where("name = ?", [EDITOR]))["id"]
    post_form(admin, f"/admin/accounts/{editor_id}/disable", token_from="/admin/accounts")
    post_form(admin, f"/admin/accounts/{editor_id}/disable", token_from="/admin/accounts")
    assert db(app)["admins"].get(editor_id)["disabled"] == 0        # enabled again ...
    assert _signed_out(editor_client) and _signed_out(thief)         # ... old sessions stay ended


def test_set_password_on_the_server_is_prompted_twice_and_ends_sessions(app, settings, tmp_path,
                                                                       content_dir):
    from click.testing import CliRunner
    from bot.cli import main
    (editor_client,) = _editor_sessions(app, 1)
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\npath = "{settings.database.path}"\n'
                      f'[content]\ndir = "{content_dir}"\n', encoding="utf-8")
    run = functools.partial(CliRunner().invoke, main, ["--config", str(config), "set-password",
                                                       EDITOR])
    r = run(input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}x\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert r.output.count("新密码") >= 2 and "再输一次" in r.output
    assert _signed_out(editor_client)
    assert login(app.test_client(), EDITOR, NEW_PASSWORD).status_code == 302
    assert [r["actor"] for r in audit_rows(app, "password_reset", EDITOR)] == ["cli"]
    r = CliRunner().invoke(main, ["--config", str(config), "set-password", "nobody"],
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert r.exit_code == 1 and "没有账号" in r.output


def test_the_shipped_secret_key_is_refused_where_cookies_are_secure(settings):
    with pytest.raises(ConfigError, match="admin.secret_key"):
        create_app(settings.replace(admin={"secret_key": DEV_SECRET_KEY}))
    create_app(settings.replace(admin={"secret_key": DEV_SECRET_KEY, "cookie_secure": False}))


# -- 6. failures per (address, name); the client address through trusted proxies only ----------
PROXY = {"REMOTE_ADDR": "127.0.0.1"}       # nginx on the same machine


def _via_proxy(client_address: str, claimed: str = "") -> dict:
    """What nginx passes on: the client's own X-Forwarded-For (if any) plus the address it saw."""
    return {**PROXY, "HTTP_X_FORWARDED_FOR": f"{claimed}, {client_address}" if claimed
            else client_address}


def test_strangers_behind_the_proxy_cannot_lock_admins_out(settings):
    app = create_app(settings.replace(server={"trusted_proxy_hops": 1}))
    add_account(app, ADMIN, ADMIN_PASSWORD, "admin")
    attacker = app.test_client()
    for i in range(10):
        login(attacker, ADMIN, f"guess-{i}", environ_base=_via_proxy("203.0.113.9", f"10.0.0.{i}"))
    assert login(attacker, ADMIN, ADMIN_PASSWORD,
                 environ_base=_via_proxy("203.0.113.9", "10.9.9.9")).status_code == 429
    r = login(app.test_client(), ADMIN, ADMIN_PASSWORD, environ_base=_via_proxy("198.51.100.7"))
    assert r.status_code == 302                     # the real admin, elsewhere, signs in
    assert {r["address"] for r in db(app)["login_failures"].rows} == {"203.0.113.9"}


def test_without_trusted_proxies_a_forwarded_header_is_ignored(app):
    attacker = app.test_client()
    for i in range(4):                              # max_login_failures = 3
        login(attacker, ADMIN, f"guess-{i}",
              environ_base={"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": f"10.0.0.{i}"})
    assert {r["address"] for r in db(app)["login_failures"].rows} == {"203.0.113.9"}


def test_the_api_rate_limit_counts_the_real_client_address(settings):
    app = create_app(settings.replace(server={"trusted_proxy_hops": 1},
                                      api={"rate_limit_per_minute": 3}))
    client = app.test_client()
    codes = [client.get("/api/v1/categories", environ_base=_via_proxy("203.0.113.9", f"1.1.1.{i}"))
             .status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]            # a made-up X-Forwarded-For does not help
    assert client.get("/api/v1/categories",
                      environ_base=_via_proxy("198.51.100.7")).status_code == 200


# -- 3. no lost updates --------------------------------------------------------------------------
CONTENT_CASE = "official-96110-call"


def test_a_stale_save_is_refused_and_shows_both_versions(app, admin, editor):
    path = f"/admin/items/case/{CONTENT_CASE}"
    form_a, form_b = editor_form(admin, path), editor_form(editor, path)   # both open the case
    form_a["summary"] = "甲改的概括：96110来电是反诈中心在提醒你，请接听。"
    assert post_form(admin, path, form_a).status_code == 302
    form_b["title"] = "乙改的标题：接到96110别挂断"
    r = post_form(editor, path, form_b)
    assert r.status_code == 409
    page = body(r)
    saved = row(app, "cases", CONTENT_CASE)
    assert "甲改的概括" in saved["source"] and "乙改的标题" not in saved["source"]  # kept
    assert "乙改的标题" in page                                     # nothing lost: B's text
    assert "甲改的概括" in page and ADMIN in page                    # the newer saved version
    assert re.search(r"第\s*\d+\s*版", page)                        # and which versions
    again = editor_form_from(page)                                 # B saves knowingly
    assert post_form(editor, path, again).status_code == 302
    assert "乙改的标题" in row(app, "cases", CONTENT_CASE)["source"]


def editor_form_from(page: str):
    from test_admin import _FormReader
    reader = _FormReader("editor")
    reader.feed(page)
    return reader.fields


def test_twelve_parallel_examples_all_land(app, admin):
    database = db(app)
    questions = [f"第{i}个问题：96110打电话来说我可能被骗了，这是真的吗" for i in range(12)]
    ids = [database.execute("INSERT INTO questions (asked_at, channel, text, category, urgent, "
                            "score) VALUES ('2026-11-27T00:00:00+00:00', 'wechat', ?, "
                            "'impersonation', 0, 0.1)", [q]).lastrowid for q in questions]
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      body(admin.get("/admin/questions"))).group(1)
    clients = [_copy_of(app, admin) for _ in ids]
    start = threading.Barrier(len(ids))

    def add(i):
        start.wait()
        return clients[i].post(f"/admin/questions/{ids[i]}/example",
                               data={"csrf_token": token, "case_id": CONTENT_CASE}).status_code

    with ThreadPoolExecutor(len(ids)) as pool:
        assert list(pool.map(add, range(len(ids)))) == [302] * len(ids)
    source = row(app, "cases", CONTENT_CASE)["source"]
    assert [q for q in questions if q not in source] == []
    assert len(audit_rows(app, "edit", CONTENT_CASE)) == 12


# -- 4. an action and its audit row commit together or not at all -----------------------------
AUDIT_FAILS = ("CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log "
               "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END")


def test_when_the_audit_row_cannot_be_written_no_action_takes_effect(app, admin, settings,
                                                                      tmp_path, content_dir):
    from click.testing import CliRunner
    from bot.cli import main
    database = db(app)
    (editor_client,) = _editor_sessions(app, 1)
    editor_id = next(database["admins"].rows_where("name = ?", [EDITOR]))["id"]
    path = f"/admin/items/case/{CONTENT_CASE}"
    form = editor_form(admin, path)
    form["summary"] = "先改一次，好有可以恢复的版本：96110来电请接听。"
    assert post_form(admin, path, form).status_code == 302
    form = editor_form(admin, path)
    database["group_health"].insert({"group_id": "dongcun", "healthy": 0, "reason": "bad key",
                                     "errcode": 93000, "key_fingerprint": "",
                                     "updated_at": "2026-11-27T00:00:00+00:00"})
    qid = database.execute("INSERT INTO questions (asked_at, channel, text, category, urgent, "
                           "score) VALUES ('2026-11-27T00:00:00+00:00', 'wechat', "
                           "'96110半夜来电话是真的吗', 'impersonation', 0, 0.1)").lastrowid
    database.execute(AUDIT_FAILS)
    before = snapshot(app)
    attempts = {
        "new account": (admin, "/admin/accounts", {"name": "mallory", "password": "mallory-pass-1",
                                                   "role": "admin"}),
        "disable": (admin, f"/admin/accounts/{editor_id}/disable", {}),
        "password reset": (admin, f"/admin/accounts/{editor_id}/password",
                           {"new": NEW_PASSWORD, "again": NEW_PASSWORD}),
        "own password": (editor_client, "/admin/password",
                         {"old": EDITOR_PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}),
        "alert": (admin, f"{path}/alert", {"groups": "dongcun"}),
        "mark healthy": (admin, "/admin/pushes/dongcun/healthy", {}),
        "case save": (admin, path, {**form, "summary": "不该保存的概括：96110来电请接听。"}),
        "new case": (admin, "/admin/items/case/new", NEW_CASE),
        "status": (admin, f"{path}/status", {"status": "archived"}),
        "restore": (admin, f"{path}/restore/1", {}),
        "example": (admin, f"/admin/questions/{qid}/example", {"case_id": CONTENT_CASE}),
        "logout": (admin, "/admin/logout", {}),
    }
    for what, (client, url, data) in attempts.items():
        r = post_form(client, url, data)
        assert r.status_code == 503, (what, r.status_code)
        assert "没有保存" in body(r), what
        assert snapshot(app) == before, what
    assert not _signed_out(admin) and not _signed_out(editor_client)   # sessions untouched
    r = login(app.test_client(), ADMIN, ADMIN_PASSWORD)                # no unaudited sign-in
    assert r.status_code == 503 and snapshot(app) == before
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\npath = "{settings.database.path}"\n'
                      f'[content]\ndir = "{content_dir}"\n', encoding="utf-8")
    for args in (["create-admin", "mallory"], ["set-password", EDITOR]):
        r = CliRunner().invoke(main, ["--config", str(config), *args],
                               input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
        assert r.exit_code == 1 and "什么也没有改" in r.output, (args, r.output)
    assert snapshot(app) == before
