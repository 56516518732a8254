"""The /wechat endpoint: verify, open, deduplicate, route, reply.

Replies must leave within WeChat's 5 seconds; anything we cannot or should not answer gets
'success', which WeChat accepts silently. Bad signatures and stale timestamps get 403, broken
bodies 4xx, never a 500.

``receive_push`` is the endpoint itself, free of Flask: the blueprint's view below calls it,
and so does the lean WSGI path of ``POST /wechat`` (``bot/wechat/lean.py``), which answers
WeChat's pushes without Flask's request machinery.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, request

from ..campaign.residents import bind_follower
from ..content.render import fit_bytes
from ..errors import BadRequest, BotError, Forbidden
from ..storage.questions import hash_user
from .handlers import Context, router

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

FALLBACK = "抱歉，刚才没处理好，请再发一次。遇到正在发生的诈骗，请立即拨打110。"


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


@bp.errorhandler(BotError)
def _bot_error(exc: BotError):
    return _plain(exc.message, exc.status)


@bp.get("/wechat")
def verify():
    """Server address check in the WeChat console: echo echostr when the signature holds."""
    gate = current_app.extensions["wechat_gate"]
    gate.check_request(request.args)
    echostr = request.args.get("echostr", "")
    if not echostr:
        raise BadRequest("missing echostr")
    return _plain(echostr)


@bp.post("/wechat")
def receive():
    text, is_xml = receive_push(current_app.extensions, query_args(request.environ),
                                request.content_length,
                                lambda: request.get_data(cache=False))
    return Response(text, mimetype="application/xml") if is_xml else _plain(text)


def query_args(environ) -> dict[str, str]:
    """The query string as werkzeug's ``request.args`` reads it (first value of a repeated
    name wins, as ``MultiDict.get`` does), as a plain dict: a push reads it a dozen times. A
    query string that is not UTF-8 (werkzeug would raise UnicodeDecodeError: a 500) is a bad
    request."""
    query = environ.get("QUERY_STRING", "")
    args: dict[str, str] = {}
    if query.isascii() and "%" not in query and "+" not in query:
        # WeChat's own query strings: nothing to decode, so parse_qsl would only split them
        for field in query.split("&"):
            if field:
                name, _, value = field.partition("=")
                args.setdefault(name, value)
        return args
    try:
        query = query.encode("latin1").decode()
    except UnicodeError:
        raise BadRequest("query string is not UTF-8") from None
    for name, value in parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote"):
        args.setdefault(name, value)
    return args


def receive_push(extensions, args, content_length: int | None, read_body) -> tuple[str, bool]:
    """One POST from WeChat: (reply text, whether it is XML). ``extensions`` are the app's
    (gate, deliveries, answers, loop, db, settings); ``read_body()`` returns the body within
    the app's size limit. Raises BotError (4xx) for what WeChat would never send."""
    gate = extensions["wechat_gate"]
    gate.check_request(args)
    if (content_length or 0) > gate.max_body:
        raise BadRequest("body too large", status=413)
    msg, encrypted = gate.open(read_body(), args)
    deliveries = extensions["deliveries"]
    # Plaintext mode: the signature covers timestamp and nonce but not the body, so a signed
    # URL carries the one message it came with (again, if WeChat retries with the same URL).
    nonce = None if encrypted else f"{args['timestamp']}:{args['nonce']}"
    xml, owner = deliveries.lookup(msg.delivery_key, nonce)
    if owner not in (None, msg.delivery_key):
        raise Forbidden("timestamp and nonce already used for another message")
    if xml is None:
        xml = _process(extensions, msg, nonce)
    else:
        # An event's delivery key holds the sender's OpenID: the type only, and at DEBUG.
        log.debug("redelivery of a %s message answered from the first delivery", msg.msg_type)
    if not xml:
        return "success", False
    if encrypted:
        xml = gate.seal(xml, args.get("nonce", ""))
    return xml, True


def _process(extensions, msg, nonce: str | None) -> str:
    """Route a first delivery; record its reply and question-log rows together."""
    gate = extensions["wechat_gate"]
    ctx = Context(answers=extensions["answers"],
                  user_hash=hash_user(msg.from_user, gate.app_id),
                  loop=extensions.get("loop"))
    try:
        reply = router.dispatch(msg, ctx)
    except Exception:  # noqa: BLE001 - a handler bug must not cost the resident an answer
        log.exception("handler failed for %s message", msg.msg_type)
        return gate.render_text(FALLBACK, msg)   # not recorded: a redelivery tries again
    if ctx.village_scene:
        try:
            bind_follower(extensions["db"](), ctx.user_hash, ctx.village_scene)
        except Exception:  # noqa: BLE001 - the welcome matters more than the binding
            log.exception("binding a follower to a village failed")
    # Every passive reply, fixed texts from replies.toml included, within the byte budget.
    xml = gate.render_text(fit_bytes(reply, ctx.answers.reply_max_bytes), msg) if reply else ""
    question = ctx.questions[0] if ctx.questions else None   # one message, one question
    return extensions["deliveries"].record(msg.delivery_key, xml, question, nonce=nonce)
