"""Command line: ``python -m bot <command>`` (init-db, check-content, serve, ask)."""
from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from .config import load_settings
from .errors import BotError, ContentError


def _settings(ctx: click.Context):
    try:
        return load_settings(ctx.obj.get("config"))
    except BotError as exc:
        raise click.ClickException(exc.message) from None


@click.group(help="反诈助手: anti-fraud assistant for a WeChat official account.")
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $BOT_CONFIG or ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command("check-content", help="Validate content/; print problems as file:line: message.")
@click.pass_context
def check_content(ctx: click.Context) -> None:
    from .content.menu import load_menu
    from .content.model import coverage_problems, load_content, review_warnings
    from .content.replies import Replies

    settings = _settings(ctx)
    problems: list[str] = []
    try:
        bank = load_content(settings.content.dir)
        problems += coverage_problems(bank)
    except ContentError as exc:
        problems += exc.problems
        bank = None
    try:
        Replies.load(settings.content.dir)
    except ContentError as exc:
        problems += exc.problems
    try:
        load_menu(settings.content.dir)
    except ContentError as exc:
        problems += exc.problems
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {settings.content.dir}")
    click.echo(f"ok: {len(bank.articles)} articles, {len(bank.tips)} tips")
    today = datetime.now(ZoneInfo(settings.scheduler.timezone)).date()
    for warning in review_warnings(bank.articles, today):   # warnings never fail the check
        click.echo(warning, err=True)


@main.command("init-db", help="Create or migrate the database and load content/ into it. "
                              "Never deletes rows, never overwrites admin edits.")
@click.pass_context
def init_db_cmd(ctx: click.Context) -> None:
    from .storage.db import connect
    from .storage.library import init_db

    settings = _settings(ctx)
    try:
        report = init_db(connect(settings.database.path), settings.content.dir)
    except ContentError as exc:
        for p in exc.problems:
            click.echo(p, err=True)
        raise click.ClickException("content/ has problems; nothing was loaded") from None
    click.echo(f"database {settings.database.path}: " +
               "; ".join(f"{t} {c}" for t, c in report.items()))
    _build_index(settings)


@main.command("build-index", help="Build the answer index of the published content (if it "
                                  "is not built yet) beside the database; workers swap to it.")
@click.pass_context
def build_index_cmd(ctx: click.Context) -> None:
    settings, _ = _db(ctx)
    _build_index(settings)


def _build_index(settings) -> None:
    """Build the index outside the web workers, so none of them builds it in a request."""
    from .answering.index import IndexStore, default_index_dir
    from .answering.service import IndexBuilder
    from .storage.db import make_db_factory
    from .storage.library import PublishedContent

    store = IndexStore(default_index_dir(settings.database.path))
    feed = PublishedContent(make_db_factory(settings.database.path), settings.content.dir)
    pointer = IndexBuilder(feed, settings.content.dir, store).build()
    click.echo(f"answer index {store.root / pointer.digest} (content version "
               f"{pointer.content_version})")


@main.command(help="Serve the app with gunicorn (gthread workers); --with-scheduler also runs "
                   "scheduler.py, and Ctrl-C stops both.")
@click.option("--host", default=None, help="Address to bind (default: server.host).")
@click.option("--port", type=int, default=None, help="Port (default: server.port).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: server.workers).")
@click.option("--with-scheduler", is_flag=True, help="Also run the push scheduler (one process).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None,
          with_scheduler: bool) -> None:
    settings = _settings(ctx)
    host = host or settings.server.host
    port = port or settings.server.port
    workers = workers or settings.server.workers
    env = dict(os.environ)
    if ctx.obj.get("config"):
        env["BOT_CONFIG"] = str(Path(ctx.obj["config"]).resolve())
    base = f"http://{host}:{port}"
    click.echo(f"反诈助手 on {base}/  (try-it page)\n"
               f"  WeChat webhook: {base}/wechat\n  API: {base}/api/v1/ask\n"
               f"  {workers} worker(s)" + (", push scheduler running" if with_scheduler else "") +
               "; Ctrl-C stops.")
    server = gunicorn_argv("bot:create_app()", host, port, workers, settings.server.threads)
    if not with_scheduler:
        os.execve(sys.executable, server, env)
    scheduler = [sys.executable, str(Path(__file__).resolve().parent.parent / "scheduler.py")]
    _run_together([scheduler, server], env)


def gunicorn_argv(app_spec: str, host: str, port: int, workers: int,
                  threads: int = 16) -> list[str]:
    """How we serve: gthread workers, so a client that sends its headers slowly (or not at all)
    holds one thread, not a whole worker (with sync workers four such connections made the
    server unavailable for a minute); the app built once before forking (--preload: workers
    share the loaded dictionary pages); and no access log: WeChat puts the user's openid in the
    query string. In production a buffering reverse proxy (nginx) sits in front as well."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers",
            str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--timeout", "30", "--no-control-socket", "--preload", app_spec]


def _run_together(commands: list[list[str]], env: dict) -> None:
    """Start the processes; when one ends or we are interrupted, stop the others."""
    import signal
    import subprocess

    procs = [subprocess.Popen(cmd, env=env) for cmd in commands]

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            try:
                procs[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    codes = [p.returncode for p in procs]
    raise SystemExit(next((c for c in codes if c not in (0, -15, None)), 0))


def _read_questions(as_jsonl: bool):
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        if not as_jsonl:
            yield line.strip()
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"stdin:{lineno}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("q"), str):
            raise click.ClickException(f'stdin:{lineno}: expected an object like {{"q": "..."}}')
        yield obj["q"]


@main.command(help='Answer a question: ask "问题"; or one per stdin line; or --jsonl objects.')
@click.argument("question", required=False)
@click.option("--jsonl", "as_jsonl", is_flag=True, help='Read {"q": ...} objects, one per line.')
@click.option("--explain", is_flag=True, help="Print why: urgency rules, vetoes and model "
                                              "score, category scores per view, nearest examples.")
@click.pass_context
def ask(ctx: click.Context, question: str | None, as_jsonl: bool, explain: bool) -> None:
    from .answering.index import default_index_dir
    from .answering.service import AnswerService
    from .storage.db import make_db_factory
    from .storage.library import PublishedContent

    settings = _settings(ctx)
    # The database when it exists (admin-made cases count), else content/ directly.
    feed = PublishedContent(make_db_factory(settings.database.path), settings.content.dir) \
        if settings.database.path.exists() else None
    service = AnswerService(feed, settings.content.dir, settings.server.public_url,
                            settings.wechat.reply_max_bytes, local=settings.local.as_dict(),
                            index_dir=default_index_dir(settings.database.path) if feed else None)
    questions = [question] if question is not None else _read_questions(as_jsonl)
    for q in questions:
        answer = service.ask(q)
        if explain:
            from .answering.explain import explain as explain_text
            click.echo(explain_text(service.engine, q) + "\n\n答复 (answer):\n" +
                       json.dumps(answer, ensure_ascii=False, indent=1) + "\n")
        else:
            click.echo(json.dumps(answer, ensure_ascii=False))
        sys.stdout.flush()


@main.command(help="Send now, recorded in the push log like any push: a group's next tip "
                   "(--group), a given tip (--group --tip), or a 本周预警 alert to all its "
                   "groups (--alert, optionally --group). Unhealthy groups are skipped, "
                   "with the reason.")
@click.option("--group", "group_id", default=None, help="Group id from config.toml.")
@click.option("--tip", "tip_id", default=None, help="Send this published tip (with --group).")
@click.option("--alert", "alert_id", type=int, default=None,
              help="Send this 本周预警 alert (its number on the pushes page) now.")
@click.pass_context
def push(ctx: click.Context, group_id: str | None, tip_id: str | None,
         alert_id: int | None) -> None:
    import time
    from datetime import datetime

    from .pushing.pusher import Pusher
    from .storage.db import make_db_factory
    from .storage.library import ensure_database

    settings = _settings(ctx)
    if tip_id and alert_id is not None:
        raise click.ClickException("give --tip or --alert, not both")
    if group_id is None and alert_id is None:
        raise click.ClickException("give --group ID (and optionally --tip), or --alert N")
    group = settings.group(group_id) if group_id else None
    if group_id and group is None:
        known = ", ".join(g.id for g in settings.groups) or "none configured"
        raise click.ClickException(f"no group '{group_id}' (groups: {known})")
    db_factory = make_db_factory(settings.database.path)
    ensure_database(db_factory(), settings.content.dir)
    pusher = Pusher(settings, db_factory, time.time, time.sleep)
    now = datetime.now(pusher.tz)
    if alert_id is not None:
        _push_alert(pusher, db_factory(), alert_id, now, group)
        return
    job, outcome = pusher.push_now(group, now, tip_id)
    if job is None:
        raise click.ClickException(f"{group_id}: {outcome}")
    if outcome == "skipped":
        click.echo(f"{group_id}: {job.item_id} skipped: {pusher.skip_reason(group, False)}")
        raise SystemExit(1)
    row = db_factory()["pushes"].get(job.push_id) if job.push_id else None
    detail = f" (errcode {row['errcode']}: {row['errmsg']})" \
        if row and outcome != "sent" and row["errmsg"] else ""
    click.echo(f"{group_id}: {job.item_id} {outcome}{detail}")
    if outcome != "sent":
        raise SystemExit(1)


def _push_alert(pusher, db, alert_id: int, now, group) -> None:
    """``push --alert N [--group ID]``: one line per group, exit 1 unless every one was sent."""
    from .pushing.alerts import active_alerts

    if group is not None:
        alert = next((a for a in active_alerts(db) if a.id == alert_id), None)
        if alert is not None and not alert.targets(group.id):
            raise click.ClickException(f"alert {alert_id} is not for group {group.id}")
    try:
        results = pusher.send_alert_now(alert_id, now, [group.id] if group else None)
    except LookupError:
        raise click.ClickException(f"no active alert {alert_id}") from None
    if not results:
        raise click.ClickException(f"alert {alert_id}: none of its groups is configured")
    for r in results:
        why = {"skipped": pusher.skip_reason(r.group, False),
               "already": "this group already has it (sent, sending or to be retried)",
               "taken": "this group already has it (sent, sending or to be retried)",
               "none": "its tip or case is no longer published"}.get(r.outcome)
        detail = f": {why}" if why else ""
        if r.outcome == "failed":
            row = db["pushes"].get(r.push_id)
            detail = f" (errcode {row['errcode']}: {row['errmsg']}); the scheduler retries it"
        click.echo(f"{r.group.id}: alert {alert_id} ({r.item_id}) {r.outcome}{detail}")
    if any(r.outcome != "sent" for r in results):
        raise SystemExit(1)


def _db(ctx):
    from .storage.db import connect
    from .storage.library import ensure_database

    settings = _settings(ctx)
    db = connect(settings.database.path)
    ensure_database(db, settings.content.dir)
    return settings, db


@main.command("create-admin", help="Create an admin account; the password is prompted.")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "editor", "grid", "police"]),
              default="admin", help="admin: everything incl. accounts; editor: content and "
              "campaign; grid: a grid worker (own grids' households); police: cases and losses.")
@click.password_option(help="Prompted (twice) when not given.")
@click.pass_context
def create_admin(ctx: click.Context, name: str, role: str, password: str) -> None:
    from .accounts import create_account

    _, db = _db(ctx)
    try:
        create_account(db, name, password, role, actor="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"数据库拒绝写入（{exc}），什么也没有改。") from None
    click.echo(f"account '{name}' ({role}) created")


@main.command("set-password", help="Set an account's password on the server (prompted twice); "
                                   "every session of the account ends.")
@click.argument("name")
@click.password_option("--password", prompt="新密码", confirmation_prompt="再输一次",
                       help="Prompted (twice) when not given.")
@click.pass_context
def set_password_cmd(ctx: click.Context, name: str, password: str) -> None:
    from .accounts import set_password

    _, db = _db(ctx)
    try:
        set_password(db, name, password, actor="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"数据库拒绝写入（{exc}），什么也没有改。") from None
    click.echo(f"账号“{name}”的密码已修改，它的所有登录都已退出。")


@main.command("add-case", help="Add or update a case from a file in the content/ format "
                               "(saved as a draft when new).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def add_case(ctx: click.Context, path: str) -> None:
    from .content.editing import current, parse_source, save_item

    settings, db = _db(ctx)
    source = Path(path).read_text(encoding="utf-8")
    item, problems = parse_source("case", source, settings.content.dir, Path(path).stem)
    existing = current(db, "case", item.id) if item else None
    result = save_item(db, "case", source, "cli", settings.content.dir,
                       expected_id=item.id if existing else None)
    if not result.ok:
        for p in result.problems:
            click.echo(p.replace(f"cases/{Path(path).stem}.md", path), err=True)
        raise click.ClickException(f"{path}: not saved")
    status = current(db, "case", result.item_id)["status"]
    click.echo(f"{'updated' if existing else 'added'} case {result.item_id} ({status})")
    if status == "published":
        _build_index(settings)


@main.command("list-cases", help="List cases: id, status, category, title.")
@click.option("--status", type=click.Choice(["draft", "published", "archived"]), default=None)
@click.pass_context
def list_cases(ctx: click.Context, status: str | None) -> None:
    _, db = _db(ctx)
    where, params = ("status = ?", [status]) if status else (None, None)
    for row in db["cases"].rows_where(where, params, order_by="category, id"):
        click.echo(f"{row['id']}\t{row['status']}\t{row['category']}\t{row['title']}")


def _set_status(ctx, case_id: str, status: str) -> None:
    from .content.editing import set_status

    settings, db = _db(ctx)
    if not set_status(db, "case", case_id, status, "cli"):
        raise click.ClickException(f"no case '{case_id}'")
    click.echo(f"case {case_id}: {status}")
    _build_index(settings)


@main.command(help="Publish a case: the bot answers with it at once.")
@click.argument("case_id")
@click.pass_context
def publish(ctx: click.Context, case_id: str) -> None:
    _set_status(ctx, case_id, "published")


@main.command(help="Archive a case (nothing is ever deleted).")
@click.argument("case_id")
@click.pass_context
def archive(ctx: click.Context, case_id: str) -> None:
    _set_status(ctx, case_id, "archived")


@main.command("export-content", help="Write every case and tip (admin-made too) to DIR in "
                                     "the content/ format, for review and commit.")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.pass_context
def export_content_cmd(ctx: click.Context, out_dir: str) -> None:
    from .content.editing import export_content

    _, db = _db(ctx)
    counts = export_content(db, Path(out_dir))
    click.echo(f"wrote {counts['cases']} cases and {counts['tips']} tips to {out_dir}")


@main.command(help="Weekly statistics (宣传活动统计表) of an ISO week: XLSX when --out ends "
                   "in .xlsx, CSV when .csv; CSV on stdout without --out.")
@click.option("--week", default=None, help="ISO week like 2026-W47 (default: last complete week).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="File to write: name.xlsx or name.csv.")
@click.option("--reporter", default="", help="填报人 on the form (default: report.reporter).")
@click.pass_context
def report(ctx: click.Context, week: str | None, out: str | None, reporter: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .reporting.weekly import last_complete_week, summary_value, weekly_report, write_csv, write_xlsx

    if out and not out.lower().endswith((".xlsx", ".csv")):
        raise click.ClickException(f"--out {out}: the name must end in .xlsx or .csv")
    settings, db = _db(ctx)
    week = week or last_complete_week(datetime.now(ZoneInfo(settings.scheduler.timezone)))
    try:
        data = weekly_report(db, settings, week, reporter=reporter)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if out is None:
        write_csv(data, sys.stdout)
        return
    if out.lower().endswith(".xlsx"):
        write_xlsx(data, out)
    else:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8-sig", newline="") as f:
            write_csv(data, f)
    click.echo(f"{data['week']} ({data['range']}): 推送成功 {summary_value(data, '推送成功')}，"
               f"群众提问 {summary_value(data, '群众提问')} -> {out}")


@main.command(help="Copy the database to DEST with SQLite's online backup API (consistent "
                   "while the server and scheduler run). DEST is a file, or a directory that "
                   "gets bot-YYYYmmdd-HHMMSS.db; --keep N then deletes all but the newest N.")
@click.argument("dest", type=click.Path())
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="DEST is a directory (created if missing): keep only the newest N backups.")
@click.pass_context
def backup(ctx: click.Context, dest: str, keep: int | None) -> None:
    from .storage.backup import BackupError, backup as make_backup, prune_backups

    settings = _settings(ctx)
    try:
        path = make_backup(settings.database.path, Path(dest), directory=keep is not None)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup: {path} ({path.stat().st_size // 1024} KiB)")
    if keep:
        for old in prune_backups(Path(dest), keep):
            click.echo(f"deleted old backup {old}")


@main.command(help="Replace the database with the backup SRC after checking it (integrity, "
                   "tables, migrations). The current database is first saved next to it as "
                   "bot.before-restore-<time>.db. Stop the web server and scheduler first.")
@click.argument("src", type=click.Path(dir_okay=False))
@click.pass_context
def restore(ctx: click.Context, src: str) -> None:
    from .storage.backup import BackupError, restore as restore_backup, scheduler_running

    settings = _settings(ctx)
    if scheduler_running(settings.scheduler.lock_path):
        raise click.ClickException("the scheduler is running (it holds "
                                   f"{settings.scheduler.lock_path}); stop it first: "
                                   "systemctl stop fanzha-scheduler fanzha-web")
    try:
        info = restore_backup(Path(src), settings.database.path)
    except BackupError as exc:
        message = str(exc) if "after the restore" in str(exc) else f"{exc}; nothing was changed"
        raise click.ClickException(message) from None
    if info["safety_copy"]:
        click.echo(f"the previous database was saved as {info['safety_copy']}")
    click.echo(f"restored {src} into {settings.database.path}: {info['cases']} cases, "
               f"{info['questions']} questions, {info['admins']} admin account(s), "
               f"{info['pushes']} pushes; {info['pending']} migration(s) applied")


@main.command(help="Apply the retention rule now: questions older than "
                   "retention.question_months lose their text and user hash; delivery records "
                   "older than a day are deleted. The scheduler does this daily.")
@click.option("--dry-run", is_flag=True, help="Only count what would change.")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool) -> None:
    from datetime import datetime, timezone

    from .storage.retention import purge as apply_retention

    settings, db = _db(ctx)
    result = apply_retention(db, datetime.now(timezone.utc), settings.retention.question_months,
                             dry_run=dry_run)
    verb = "would anonymise" if dry_run else "anonymised"
    click.echo(f"{verb} {result['questions']} question(s) asked before {result['cutoff']}; "
               f"{'would delete' if dry_run else 'deleted'} {result['wechat_deliveries']} "
               "delivery record(s)")
def _official_account_api(ctx):
    from .storage.db import make_db_factory
    from .storage.library import ensure_database
    from .wechat.api_client import OfficialAccountApi

    settings = _settings(ctx)
    db_factory = make_db_factory(settings.database.path)
    ensure_database(db_factory(), settings.content.dir)
    return settings, OfficialAccountApi(settings.wechat, db_factory)


@main.group(help="The official account's custom menu (defined in content/replies.toml).")
def menu() -> None:
    pass


@menu.command("push", help="Create the custom menu from content/replies.toml through WeChat's "
                           "API (replaces the live menu; clients show it within 5 minutes).")
@click.option("--dry-run", is_flag=True, help="Only check the menu and print its JSON.")
@click.pass_context
def menu_push(ctx: click.Context, dry_run: bool) -> None:
    from .content.menu import load_menu, menu_lines
    from .wechat.api_client import WeChatApiError

    settings = _settings(ctx)
    try:
        definition = load_menu(settings.content.dir)
    except ContentError as exc:
        for p in exc.problems:
            click.echo(p, err=True)
        raise click.ClickException("the menu in replies.toml has problems; nothing was sent") \
            from None
    if dry_run:
        click.echo(json.dumps(definition, ensure_ascii=False, indent=2))
        return
    _, api = _official_account_api(ctx)
    try:
        api.create_menu(definition)
    except WeChatApiError as exc:
        raise click.ClickException(f"menu not created: {exc.message}") from None
    click.echo("menu created:\n" + "\n".join(menu_lines(definition["button"])))


@menu.command("show", help="Print the live custom menu and whether it matches content/.")
@click.pass_context
def menu_show(ctx: click.Context) -> None:
    from .content.menu import load_menu, menu_lines, same_menu
    from .wechat.api_client import WeChatApiError

    settings, api = _official_account_api(ctx)
    try:
        live = api.current_menu()
    except WeChatApiError as exc:
        raise click.ClickException(f"cannot read the menu: {exc.message}") from None
    buttons = (live.get("selfmenu_info") or {}).get("button") or []
    if not live.get("is_menu_open") or not buttons:
        click.echo("the account has no custom menu (run: python -m bot menu push)")
        return
    click.echo("\n".join(menu_lines(buttons)))
    try:
        matches = same_menu(buttons, load_menu(settings.content.dir))
    except ContentError:
        return
    click.echo("same as content/replies.toml" if matches else
               "differs from content/replies.toml (python -m bot menu push replaces it)")
# -- the campaign ---------------------------------------------------------------------------------
def _import_problems(exc) -> click.ClickException:
    for p in exc.problems:
        click.echo(p, err=True)
    return click.ClickException(f"{len(exc.problems)} 个问题，什么都没有导入")


@main.group(help="Villages (村/社区) and grids (网格) of the campaign, and their data.")
def villages() -> None:
    pass


@villages.command("import", help="Import villages and grids from a CSV with a header row "
                                 "(村编号,村名称,镇街,网格编号,网格名称,户数,人口); all or nothing.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def villages_import(ctx: click.Context, path: str) -> None:
    from .campaign.villages import ImportProblems, import_villages_csv

    _, db = _db(ctx.parent)
    try:
        counts = import_villages_csv(db, Path(path).read_text(encoding="utf-8-sig"), path, "cli")
    except ImportProblems as exc:
        raise _import_problems(exc) from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: 不是 UTF-8 编码的 CSV") from None
    click.echo(f"{path}: {counts['rows']} 行，新增 {counts['villages']} 个村、"
               f"{counts['grids']} 个网格")


@villages.command("list", help="List villages: id, name, town, grids, households, population.")
@click.pass_context
def villages_list(ctx: click.Context) -> None:
    from .campaign.villages import villages as all_villages

    _, db = _db(ctx.parent)
    for v in all_villages(db):
        click.echo(f"{v['id']}\t{v['name']}\t{v['town']}\t{v['grids']}\t{v['households']}\t"
                   f"{v['population']}")


@villages.command("cases-import", help="Import 发案 and 损失 per village and month from a CSV "
                                       "(村编号,月份,发案,损失); all or nothing.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def villages_cases_import(ctx: click.Context, path: str) -> None:
    from .campaign.villages import ImportProblems, import_cases_csv

    _, db = _db(ctx.parent)
    try:
        n = import_cases_csv(db, Path(path).read_text(encoding="utf-8-sig"), path, "cli")
    except ImportProblems as exc:
        raise _import_problems(exc) from None
    click.echo(f"{path}: {n} 行已导入")


@villages.command("visits-import", help="Import a paper 登记表 typed into an XLSX (first sheet, "
                                        "header row); all or nothing, problems per row.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def villages_visits_import(ctx: click.Context, path: str) -> None:
    from .campaign.figures import today_in
    from .campaign.villages import ImportProblems
    from .campaign.visits import import_visits_xlsx

    settings, db = _db(ctx.parent)
    try:
        with open(path, "rb") as f:
            counts = import_visits_xlsx(db, f, path, "cli", today_in(settings))
    except ImportProblems as exc:
        raise _import_problems(exc) from None
    click.echo(f"{path}: {counts['rows']} 行，新存 {counts['stored']} 条，"
               f"已有 {counts['already']} 条")


@villages.command("assign", help="Link a grid worker's account (role grid) to a grid.")
@click.argument("account")
@click.argument("grid_id")
@click.option("--remove", is_flag=True, help="Unlink instead.")
@click.pass_context
def villages_assign(ctx: click.Context, account: str, grid_id: str, remove: bool) -> None:
    from .campaign.villages import assign_grid

    _, db = _db(ctx.parent)
    try:
        assign_grid(db, "cli", account, grid_id, assigned=not remove)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{account} {'-' if remove else '+'} {grid_id}")


@villages.command("purge", help="Delete visits dated before DATE and households left without "
                                "a visit (the retention rule: keep this year and the last).")
@click.option("--before", "before", required=True, help="Date like 2025-01-01.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def villages_purge(ctx: click.Context, before: str, yes: bool) -> None:
    from datetime import date

    from .campaign.visits import purge_before

    try:
        day = date.fromisoformat(before)
    except ValueError:
        raise click.ClickException(f"--before {before[:20]}: 日期格式应当像 2025-01-01") from None
    if not yes:
        click.confirm(f"删除 {day} 以前的走访记录和只有这些记录的住户？", abort=True)
    _, db = _db(ctx.parent)
    counts = purge_before(db, day, "cli")
    click.echo(f"已删除 {counts['visits']} 条走访、{counts['households']} 户")


@villages.command("sheets", help="The weekly 《反电诈入户宣传登记表》 and 《反诈骗宣传活动统计表》 "
                                 "of a village as one XLSX (two sheets).")
@click.argument("village_id")
@click.option("--week", default=None, help="ISO week like 2026-W47 (default: last complete week).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="XLSX file to write (default: 入户宣传周报-VILLAGE-WEEK.xlsx).")
@click.pass_context
def villages_sheets(ctx: click.Context, village_id: str, week: str | None,
                    out: str | None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .campaign.tongbao import weekly_filename, weekly_sheets, weekly_workbook
    from .reporting.weekly import last_complete_week
    from .storage.audit import audit

    settings, db = _db(ctx.parent)
    week = week or last_complete_week(datetime.now(ZoneInfo(settings.scheduler.timezone)))
    try:
        data = weekly_sheets(db, settings, village_id, week)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    out = out or weekly_filename(village_id, data["period"].label)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    weekly_workbook(data).save(out)
    audit(db, "cli", "export", "weekly_sheets", f"{village_id}:{data['period'].label}", None,
          {"file": Path(out).name, "visits": len(data["visits"])})
    click.echo(f"{village_id} {data['period'].label}: {len(data['visits'])} 条走访 -> {out}")


@main.command(help="The monthly 通报: every village ranked on the campaign composite, as XLSX "
                   "ready to file (A4 landscape).")
@click.option("--month", default=None, help="Month like 2026-11 (default: last month).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="XLSX file (default: 反电诈工作排名通报-MONTH.xlsx).")
@click.pass_context
def tongbao(ctx: click.Context, month: str | None, out: str | None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .campaign.figures import current_month, shift_month
    from .campaign.tongbao import monthly_tongbao, tongbao_filename, tongbao_workbook
    from .storage.audit import audit

    settings, db = _db(ctx)
    month = month or shift_month(current_month(datetime.now(ZoneInfo(
        settings.scheduler.timezone))), -1)
    try:
        data = monthly_tongbao(db, settings, month)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    out = out or tongbao_filename(data["month"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tongbao_workbook(data).save(out)
    audit(db, "cli", "export", "tongbao", data["month"], None, {"file": Path(out).name})
    below = sum(1 for r in data["rows"] if r["below_target"])
    click.echo(f"{data['month']}: {len(data['rows'])} 个村，{below} 个未达标 -> {out}")


@main.command(help="Obtain a village's parametric QR code from the official account "
                   "(qrcode/create) and save it as a PNG for posters.")
@click.argument("village_id")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="PNG file (default: campaign.qrcode_dir/VILLAGE.png).")
@click.pass_context
def qrcode(ctx: click.Context, village_id: str, out: str | None) -> None:
    from .campaign.qrcodes import village_qrcode
    from .wechat.api_client import WeChatApiError

    settings, db = _db(ctx)
    if not db.execute("SELECT 1 FROM villages WHERE id = ?", [village_id]).fetchone():
        raise click.ClickException(f"没有村'{village_id[:64]}'（先用 villages import 导入）")
    _, api = _official_account_api(ctx)
    try:
        path, _ = village_qrcode(settings, api, village_id, Path(out) if out else None)
    except WeChatApiError as exc:
        raise click.ClickException(f"二维码没有生成：{exc.message}") from None
    click.echo(f"{village_id}: {path}")
