"""One request's view of the answer service: who asks, through which channel, and the question
log rows its answers produced (written by the caller, with the reply, in one go)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass
class Context:
    """What handlers may use; ``questions`` collects log rows written with the reply."""
    answers: object
    user_hash: str = ""
    channel: str = "wechat"
    questions: list = field(default_factory=list)
    # A village id from a parametric QR code (subscribe/SCAN); the caller binds the follower.
    village_scene: str = ""
    # The residents' loop (bot.loop.service.ResidentLoop) when the channel has one: 举报,
    # feedback, link and number checks. None for the API and the CLI.
    loop: object = None

    def ask(self, text: str) -> dict:
        answer = self.answers.ask(text)
        self.questions.append(question_row(text, answer, self.channel, self.user_hash))
        return answer


def question_row(text: str, answer: dict, channel: str, user_hash: str = "",
                 now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    return {
        "asked_at": now.isoformat(timespec="seconds"),
        "channel": channel,
        "user_hash": user_hash,
        "text": text[:2000],
        "category": answer["category"],
        "urgent": int(bool(answer["urgent"])),
        "score": float(answer["score"]),
        "case_id": (answer.get("case_ids") or [None])[0],
    }
