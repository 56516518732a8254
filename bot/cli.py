"""Command line: ``python -m bot <command>`` (init-db, check-content, serve, ask)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

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
    from .content.model import coverage_problems, load_content
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
    for p in problems:
        click.echo(p, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {settings.content.dir}")
    click.echo(f"ok: {len(bank.articles)} articles, {len(bank.tips)} tips")


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


@main.command(help="Serve the app with gunicorn (sync workers); --with-scheduler also runs "
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
    server = gunicorn_argv("bot:create_app()", host, port, workers)
    if not with_scheduler:
        os.execve(sys.executable, server, env)
    scheduler = [sys.executable, str(Path(__file__).resolve().parent.parent / "scheduler.py")]
    _run_together([scheduler, server], env)


def gunicorn_argv(app_spec: str, host: str, port: int, workers: int) -> list[str]:
    """How we serve: sync workers (one request each; WeChat waits 5 s anyway), the app built
    once before forking (--preload: workers share the loaded dictionary pages), and no access
    log: WeChat puts the user's openid in the query string."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers",
            str(workers), "--worker-class", "sync", "--timeout", "30", "--no-control-socket",
            "--preload", app_spec]


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
    from .answering.service import AnswerService
    from .storage.db import make_db_factory
    from .storage.library import PublishedContent

    settings = _settings(ctx)
    # The database when it exists (admin-made cases count), else content/ directly.
    feed = PublishedContent(make_db_factory(settings.database.path), settings.content.dir) \
        if settings.database.path.exists() else None
    service = AnswerService(feed, settings.content.dir, settings.server.public_url,
                            settings.wechat.reply_max_bytes)
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


@main.command(help="Send a group's next tip now (recorded in the push log like any push).")
@click.option("--group", "group_id", required=True, help="Group id from config.toml.")
@click.pass_context
def push(ctx: click.Context, group_id: str) -> None:
    import time
    from datetime import datetime

    from .pushing.pusher import Pusher
    from .storage.db import make_db_factory
    from .storage.library import ensure_database

    settings = _settings(ctx)
    group = settings.group(group_id)
    if group is None:
        known = ", ".join(g.id for g in settings.groups) or "none configured"
        raise click.ClickException(f"no group '{group_id}' (groups: {known})")
    db_factory = make_db_factory(settings.database.path)
    ensure_database(db_factory(), settings.content.dir)
    pusher = Pusher(settings, db_factory, time.time, time.sleep)
    job, outcome = pusher.push_now(group, datetime.now(pusher.tz))
    if job is None:
        raise click.ClickException(f"{group_id}: {outcome}")
    row = db_factory()["pushes"].get(job.push_id) if job.push_id else None
    detail = f" (errcode {row['errcode']}: {row['errmsg']})" \
        if row and outcome != "sent" and row["errmsg"] else ""
    click.echo(f"{group_id}: {job.item_id} {outcome}{detail}")
    if outcome != "sent":
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
@click.option("--role", type=click.Choice(["admin", "editor"]), default="admin",
              help="admin: everything incl. accounts; editor: content only.")
@click.password_option(help="Prompted (twice) when not given.")
@click.pass_context
def create_admin(ctx: click.Context, name: str, role: str, password: str) -> None:
    from .accounts import create_account

    _, db = _db(ctx)
    try:
        create_account(db, name, password, role, actor="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"account '{name}' ({role}) created")


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

    _, db = _db(ctx)
    if not set_status(db, "case", case_id, status, "cli"):
        raise click.ClickException(f"no case '{case_id}'")
    click.echo(f"case {case_id}: {status}")


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
@click.pass_context
def report(ctx: click.Context, week: str | None, out: str | None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .reporting.weekly import last_complete_week, summary_value, weekly_report, write_csv, write_xlsx

    if out and not out.lower().endswith((".xlsx", ".csv")):
        raise click.ClickException(f"--out {out}: the name must end in .xlsx or .csv")
    settings, db = _db(ctx)
    week = week or last_complete_week(datetime.now(ZoneInfo(settings.scheduler.timezone)))
    try:
        data = weekly_report(db, settings, week)
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
    click.echo(f"{data['week']}: 推送成功 {summary_value(data, '推送成功')}，"
               f"群众提问 {summary_value(data, '群众提问')} -> {out}")
