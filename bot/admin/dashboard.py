"""Dashboard: the last 8 weeks at a glance, as SVG charts drawn on the server with pygal.

The charts carry no JavaScript (``js=[]`` and the inline config script filtered out), so the
only markup the page trusts (``|safe``) is pygal's own SVG, whose text pygal escapes; labels
are week dates and taxonomy names, never residents' text.
"""
from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, render_template

import pygal  # noqa: I001 - after flask: nothing may be imported between pygal and the line below
from pygal.style import Style

# pygal appends a sys.meta_path finder (for its map plugins) that has no find_spec, so every
# failed import after it (e.g. openpyxl probing for lxml) raises ImportWarning on Python 3.11,
# an error under -W error. We use no map plugins: take it out at once.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

from ..content.model import load_taxonomy  # noqa: E402
from ..reporting.weekly import (  # noqa: E402
    push_counts, question_counts, recent_weeks, week_bounds, window_params, window_sql)
from .blueprint import bp, local_now  # noqa: E402
from ..pushing.health import is_healthy  # noqa: E402
from ..storage.questions import resident_sql  # noqa: E402
from .inbox import local_time  # noqa: E402
from .push_status import group_health  # noqa: E402
from .sign_in import db, login_required  # noqa: E402

WEEKS = 8
TOP_WEEKS = 4
MAX_SERIES = 9   # more categories than this are summed up as 其他
FONT = '-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif'
PALETTE = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#8d6e63", "#ad1457",
           "#9e9d24", "#546e7a", "#c62828")
PUSH_COLORS = ("#2e7d32", "#c62828", "#f9a825")   # sent green, failed red, missed amber


def _style(colors) -> Style:
    return Style(font_family=FONT, background="white", plot_background="white",
                 label_font_size=14, major_label_font_size=14, legend_font_size=15,
                 value_font_size=12, tooltip_font_size=14, no_data_font_size=20, colors=colors)


def _without_scripts(root):
    """xml_filter: drop pygal's inline config <script> (we load none of its JS anyway)."""
    for parent in root.iter():
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _int_ticks(top: int) -> list[int]:
    """Whole-number y labels from 0 to at least ``top``: counts have no halves."""
    step = 1
    while top / step > 6:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2   # 1 2 5 10 20 50 ...
    return list(range(0, max(top, 1) + step, step))


def _chart(kind, labels: list[str], series: list[tuple[str, list[int]]],
           stacked: bool = False, colors=PALETTE) -> str:
    columns = zip(*(values for _, values in series)) if series else []
    top = max([sum(c) if stacked else max(c) for c in columns] or [0])
    # pygal fails to draw its "no data" chart when given y_labels: only give them with data
    ticks = {"y_labels": _int_ticks(top)} if series else {}
    chart = kind(style=_style(colors), js=[], disable_xml_declaration=True,
                 width=480, height=320, legend_at_bottom=True, legend_at_bottom_columns=3,
                 truncate_legend=-1, truncate_label=-1, no_data_text="暂无数据", **ticks)
    chart.add_xml_filter(_without_scripts)
    chart.x_labels = labels
    for title, values in series:
        chart.add(title, values)
    return chart.render(is_unicode=True)


def weekly_series(database, settings, now: datetime) -> dict:
    """Per week (oldest first): questions by category, urgent questions, pushes by status."""
    tz = ZoneInfo(settings.scheduler.timezone)
    weeks = recent_weeks(now, WEEKS)
    questions, pushes = [], []
    for week in weeks:
        start, end = week_bounds(week, tz)
        questions.append(question_counts(database, start, end))
        totals = {"sent": 0, "failed": 0, "missed": 0}
        for counts in push_counts(database, start, end).values():
            for status, n in counts.items():
                totals[status] += n
        pushes.append(totals)
    labels = [week_bounds(w, tz)[0].strftime("%m/%d") for w in weeks]
    labels[-1] = "本周"
    return {"weeks": weeks, "labels": labels, "questions": questions, "pushes": pushes}


def _category_series(questions: list[dict], taxonomy: dict) -> list[tuple[str, list[int]]]:
    totals: dict[str, int] = {}
    for week in questions:
        for category, (n, _) in week.items():
            totals[category] = totals.get(category, 0) + n
    ranked = sorted((c for c in totals if totals[c]), key=lambda c: -totals[c])
    shown, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    series = [(taxonomy.get(c, c or "未分类"), [w.get(c, (0, 0))[0] for w in questions])
              for c in shown]
    if rest:
        series.append(("其他", [sum(w.get(c, (0, 0))[0] for c in rest) for w in questions]))
    return series


def top_unanswered(database, start: datetime, end: datetime, limit: int = 20) -> list[dict]:
    """The most frequent texts residents asked that the bot could not answer (category none)."""
    rows = database.execute(
        f"SELECT TRIM(text) AS t, COUNT(*) AS n, MAX(asked_at) FROM questions "
        f"WHERE category = 'none' AND {window_sql('asked_at')} AND {resident_sql()} "
        f"GROUP BY t ORDER BY n DESC, MAX(asked_at) DESC LIMIT ?",
        [*window_params(start, end), limit]).fetchall()
    return [{"text": r[0], "count": r[1], "last": r[2]} for r in rows]


def counters(database, settings) -> dict:
    health = group_health(settings)
    return {
        "cases": database.execute("SELECT COUNT(*) FROM cases WHERE status = 'published'")
        .fetchone()[0],
        "tips": database.execute("SELECT COUNT(*) FROM tips WHERE status = 'published'")
        .fetchone()[0],
        "groups": len(settings.groups),
        "unhealthy": sum(not is_healthy(g, health[g.id]) for g in settings.groups),
    }


@bp.get("/")
@login_required()
def dashboard():
    settings = current_app.config["SETTINGS"]
    tz = ZoneInfo(settings.scheduler.timezone)
    now = local_now()
    data = weekly_series(db(), settings, now)
    taxonomy = load_taxonomy(settings.content.dir)
    labels = data["labels"]
    charts = {
        "questions": _chart(pygal.StackedBar, labels,
                            _category_series(data["questions"], taxonomy), stacked=True),
        "urgent": _chart(pygal.Bar, labels, [("紧急求助", [sum(u for _, u in w.values())
                                                        for w in data["questions"]])],
                         colors=("#c62828",)),
        "pushes": _chart(pygal.Bar, labels, [
            ("成功", [w["sent"] for w in data["pushes"]]),
            ("失败", [w["failed"] for w in data["pushes"]]),
            ("错过", [w["missed"] for w in data["pushes"]])], colors=PUSH_COLORS),
    }
    since = week_bounds(recent_weeks(now, TOP_WEEKS)[0], tz)[0]
    top = top_unanswered(db(), since, week_bounds(data["weeks"][-1], tz)[1])
    for r in top:
        r["last"] = local_time(r["last"], tz)
    return render_template("admin/dashboard.html", charts=charts, top=top,
                           counters=counters(db(), settings), since=since.strftime("%m/%d"))
