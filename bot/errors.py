"""Errors that carry their meaning: an HTTP status for the web layer, a file:line for content."""
from __future__ import annotations


class BotError(Exception):
    """Base error; ``status`` is the HTTP status the web layer answers with."""

    status = 500

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class ConfigError(BotError):
    """The configuration cannot work; the message names the key."""


class BadRequest(BotError):
    status = 400


class Forbidden(BotError):
    status = 403


class NotFound(BotError):
    status = 404


class TooManyRequests(BotError):
    status = 429


class ContentError(BotError):
    """One or more content files are invalid; ``problems`` holds every ``path:line: message``."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems) or "invalid content")
        self.problems = problems


class PushError(BotError):
    """A push to a group chat failed; ``errcode`` is the channel's code when it gave one."""

    def __init__(self, message: str, errcode: int | None = None, permanent: bool = False):
        super().__init__(message)
        self.errcode = errcode
        self.permanent = permanent
