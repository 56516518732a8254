"""What the bot says to each kind of WeChat message. Handlers return text, News or None."""
from __future__ import annotations

from ..answering.context import Context
from ..campaign.residents import village_scene
from .router import Router

router = Router()

MEDIA_TYPES = ("image", "video", "shortvideo", "location", "link", "file")


def menu_reply(key_or_word: str, ctx: Context):
    """Reply for a menu key (CLICK) or the same words typed; None if it is neither."""
    replies = ctx.answers.replies
    keys = replies.menu_keys
    word = keys.get(key_or_word, key_or_word).strip()
    key = next((k for k, w in keys.items() if w == word), None)
    if key is None:
        return None
    if key == "COMMON_SCAMS":
        return ctx.answers.category_overview()
    article = ctx.answers.article(replies.menu_articles.get(key, ""))
    # The article may have been archived by an admin: then the menu is the honest answer.
    return ctx.answers.compose(article, urgent=key == "I_WAS_SCAMMED") if article \
        else replies.menu


def answer_question(text: str, ctx: Context) -> str:
    """The engine's answer, with what is known about the message's links and numbers."""
    answer = ctx.ask(text)
    if ctx.loop is None:
        return answer["answer"]
    return ctx.loop.answer_with_check(text, answer, ctx.answers, ctx.answers.reply_max_bytes)


@router.on("text")
def answer_text(msg, ctx: Context):
    text = msg.content.strip()
    if not text:
        return ctx.answers.replies.menu
    notice = ""
    if ctx.loop is not None:   # a 举报 conversation, or "没用" right after an answer
        reply, notice = ctx.loop.handle_text(ctx.user_hash, text)
        if reply:
            return reply
    answer = menu_reply(text, ctx) or answer_question(text, ctx)
    if ctx.loop is not None and ctx.questions:
        ctx.loop.after_question(ctx.user_hash, msg.from_user, ctx.questions[-1])
    return f"{notice}\n\n{answer}" if notice else answer


@router.on("voice")
def answer_voice(msg, ctx: Context):
    """Voice with speech recognition switched on carries the text in Recognition."""
    if msg.recognition.strip():
        return answer_question(msg.recognition.strip().rstrip("。"), ctx)
    return ctx.answers.replies.media


@router.on("image")
def screenshot(msg, ctx: Context):
    """A screenshot within a 举报 conversation is counted and read for the lead; otherwise it is
    read by OCR and answered later as a customer-service message (or the resident is asked to
    type it when the account cannot send those)."""
    if ctx.loop is None:
        return None
    pic_url = msg.raw.get("PicUrl", "")
    return ctx.loop.handle_image(ctx.user_hash, msg.delivery_key, pic_url) or \
        ctx.loop.screenshot(ctx.user_hash, msg.from_user, msg.delivery_key, pic_url)


@router.on(*MEDIA_TYPES)
def ask_for_text(msg, ctx: Context):
    return ctx.answers.replies.media


@router.on_event("subscribe", "subscribe_scan")
def welcome(msg, ctx: Context):
    # A follower from a parametric QR code arrives as subscribe with EventKey qrscene_<value>:
    # the value is a village id, and the follower is bound to that village.
    ctx.village_scene = village_scene(msg.event_key)
    return ctx.answers.replies.welcome


@router.on_event("scan")
def welcome_back(msg, ctx: Context):
    # An existing follower scanning a village's code: SCAN with the bare scene value.
    ctx.village_scene = village_scene(msg.event_key)
    return "欢迎回来！" + ctx.answers.replies.menu


@router.on_event("click")
def menu_click(msg, ctx: Context):
    if msg.event_key == "REPORT" and ctx.loop is not None:
        return ctx.loop.start_lead(ctx.user_hash)
    return menu_reply(msg.event_key, ctx) or ctx.answers.replies.menu

