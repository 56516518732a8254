"""Mini-program JSON API (/api/v1): ask, categories, cases. Errors are JSON with a status."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request

from ..answering.context import Context
from ..answering.engine import NONE
from ..errors import BadRequest, BotError, NotFound, TooManyRequests

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PAGE_SIZE = 20


@bp.errorhandler(BotError)
def _bot_error(exc: BotError):
    response = jsonify({"error": {"status": exc.status, "message": exc.message}})
    response.status_code = exc.status
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(getattr(exc, "retry_after", 60))
    return response


@bp.before_request
def _rate_limit():
    wait = current_app.extensions["api_limiter"].hit(request.remote_addr or "unknown")
    if wait:
        exc = TooManyRequests(f"请求太频繁，请 {wait} 秒后再试")
        exc.retry_after = wait
        raise exc


def _answers():
    return current_app.extensions["answers"]


@bp.post("/ask")
def ask():
    try:
        data = request.get_json(silent=True)
    except RecursionError:      # thousands of nested brackets: json gives up, so do we
        raise BadRequest("JSON 嵌套太深") from None
    if not isinstance(data, dict):
        raise BadRequest('请发送 JSON 对象，例如 {"q": "问题"}（Content-Type: application/json）')
    q = data.get("q")
    if not isinstance(q, str) or not q.strip():
        raise BadRequest("“q”应当是非空的文字（要问的问题）")
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800": no character at all
        raise BadRequest("问题里有无效的字符（单独的代理码位）") from None
    limit = current_app.config["SETTINGS"].api.max_question_chars
    if len(q) > limit:
        raise BadRequest(f"问题有 {len(q)} 个字，最多 {limit} 个字", status=413)
    ctx = Context(answers=_answers(), channel=_channel(data.get("channel")))
    answer = ctx.ask(q.strip())
    # Best effort, as in the webhook: the batched writer logs it; a full disk or a write lock
    # held elsewhere never delays or fails the answer.
    current_app.extensions["deliveries"].record_questions(ctx.questions)
    return jsonify(answer)


_MINIPROGRAM_REFERER = re.compile(r"^https://servicewechat\.com/(wx[0-9a-zA-Z]+)/")


def _channel(claimed) -> str:
    """The question log's channel. The try-it page says "web"; a mini-program's request comes
    with the Referer WeChat sets and pages cannot (https://servicewechat.com/<appid>/...), so
    "miniprogram" (a resident, counted in the statistics) needs it; everything else is "api"."""
    if claimed == "web":
        return "web"
    if claimed == "miniprogram":
        m = _MINIPROGRAM_REFERER.match(request.headers.get("Referer", ""))
        expected = current_app.config["SETTINGS"].api.miniprogram_app_id
        if m and (not expected or m.group(1) == expected):
            return "miniprogram"
    return "api"


@bp.get("/categories")
def categories():
    answers = _answers()
    answers.refresh()
    counts: dict[str, int] = {}
    for a in answers.engine.articles.values():
        counts[a.category] = counts.get(a.category, 0) + 1
    return jsonify({"categories": [{"id": c, "name": name, "cases": counts.get(c, 0)}
                                   for c, name in answers.taxonomy.items() if c != NONE]})


def _case_summary(a) -> dict:
    return {"id": a.id, "category": a.category, "title": a.title, "summary": a.summary,
            "audiences": list(a.audiences), "url": _answers().case_url(a.id)}


@bp.get("/cases")
def cases():
    answers = _answers()
    answers.refresh()
    category = request.args.get("category", "").strip()
    if category and (category not in answers.taxonomy or category == NONE):
        raise BadRequest(f"没有这个类别：“{category}”")
    q = request.args.get("q", "").strip()
    if len(q) > current_app.config["SETTINGS"].api.max_question_chars:
        raise BadRequest("搜索的字词太长", status=413)
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        raise BadRequest("“page”应当是正整数") from None
    if page < 1:
        raise BadRequest("“page”应当是正整数")
    items = sorted(answers.engine.articles.values(), key=lambda a: (a.category, a.id))
    if category:
        items = [a for a in items if a.category == category]
    if q:
        needle = answers.normalizer(q)
        items = [a for a in items if needle in answers.normalizer(
            " ".join([a.title, a.summary, *a.keywords, *a.examples]))]
    total = len(items)
    pages = max(1, -(-total // PAGE_SIZE))
    chunk = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return jsonify({"items": [_case_summary(a) for a in chunk], "page": page, "pages": pages,
                    "total": total})


@bp.get("/cases/<case_id>")
def case(case_id: str):
    answers = _answers()
    answers.refresh()
    a = answers.article(case_id)
    if a is None:
        raise NotFound(f"没有已发布的案例“{case_id}”")
    return jsonify({**_case_summary(a), "sections": a.sections, "examples": list(a.examples),
                    "sources": list(a.sources)})
