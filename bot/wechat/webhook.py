"""The /wechat endpoint: verify, open, deduplicate, route, reply.

Replies must leave within WeChat's 5 seconds; anything we cannot or should not answer gets
'success', which WeChat accepts silently. Bad signatures and stale timestamps get 403, broken
bodies 4xx, never a 500.
"""
from __future__ import annotations

import logging

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
    gate = current_app.extensions["wechat_gate"]
    gate.check_request(request.args)
    if (request.content_length or 0) > gate.max_body:
        raise BadRequest("body too large", status=413)
    msg, encrypted = gate.open(request.get_data(cache=False), request.args)
    deliveries = current_app.extensions["deliveries"]
    # Plaintext mode: the signature covers timestamp and nonce but not the body, so a signed
    # URL carries the one message it came with (again, if WeChat retries with the same URL).
    nonce = None if encrypted else f"{request.args['timestamp']}:{request.args['nonce']}"
    if nonce is not None and deliveries.nonce_owner(nonce) not in (None, msg.delivery_key):
        raise Forbidden("timestamp and nonce already used for another message")
    xml = deliveries.recorded_reply(msg.delivery_key)
    if xml is None:
        xml = _process(msg, nonce)
    else:
        # An event's delivery key holds the sender's OpenID: the type only, and at DEBUG.
        log.debug("redelivery of a %s message answered from the first delivery", msg.msg_type)
    if not xml:
        return _plain("success")
    if encrypted:
        xml = gate.seal(xml, request.args.get("nonce", ""))
    return Response(xml, mimetype="application/xml")


def _process(msg, nonce: str | None) -> str:
    """Route a first delivery; record its reply and question-log rows together."""
    app = current_app
    gate = app.extensions["wechat_gate"]
    ctx = Context(answers=app.extensions["answers"],
                  user_hash=hash_user(msg.from_user, gate.app_id),
                  loop=app.extensions.get("loop"))
    try:
        reply = router.dispatch(msg, ctx)
    except Exception:  # noqa: BLE001 - a handler bug must not cost the resident an answer
        log.exception("handler failed for %s message", msg.msg_type)
        return gate.render_text(FALLBACK, msg)   # not recorded: a redelivery tries again
    if ctx.village_scene:
        try:
            bind_follower(app.extensions["db"](), ctx.user_hash, ctx.village_scene)
        except Exception:  # noqa: BLE001 - the welcome matters more than the binding
            log.exception("binding a follower to a village failed")
    # Every passive reply, fixed texts from replies.toml included, within the byte budget.
    limit = app.config["SETTINGS"].wechat.reply_max_bytes
    xml = gate.render_text(fit_bytes(reply, limit), msg) if reply else ""
    question = ctx.questions[0] if ctx.questions else None   # one message, one question
    return app.extensions["deliveries"].record(msg.delivery_key, xml, question, nonce=nonce)
