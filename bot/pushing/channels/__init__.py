"""Where pushes go. A channel is one module with a class registered under its config name.

Every channel takes a rendered ``Message`` for a group and returns a ``SendResult``; the push
log, retries and health live in ``bot.pushing`` and do not care which channel ran. Adding a
channel (say, official-account mass send by tag) is one new module here that registers a class
under its module name: the config accepts every module of this package as a channel name.
"""
from __future__ import annotations

import importlib
import pkgutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

REGISTRY: dict[str, type] = {}


@dataclass(frozen=True)
class Message:
    """A rendered push: plain text, and Markdown for channels that take it."""
    title: str
    text: str
    markdown: str


@dataclass(frozen=True)
class SendResult:
    ok: bool
    errcode: int | None = None
    errmsg: str = ""
    # Transient failures are retried: after ``retry_after`` seconds when the channel says so
    # (a rate limit), else with backoff. Permanent ones mark the group unhealthy.
    permanent: bool = False
    retry_after: float | None = None
    # The message may have arrived (the response timed out or was not the API's answer):
    # recorded 'unknown' and never resent automatically (WeCom has no idempotency key).
    uncertain: bool = False


class Channel(Protocol):
    name: str

    def send(self, group, message: Message, push_id: int) -> SendResult: ...


class BatchChannel(Protocol):
    """A channel that hands several groups' messages over together (one mass-send task per
    group owner, one message per grid worker) and follows them up after the send.
    ``send_batch`` gets claimed jobs (``push_id`` set) and returns one result per job;
    ``follow_up`` runs at every scheduler tick (polls, reminders, expiry)."""
    name: str
    batched: bool

    def send_batch(self, jobs: list, now) -> list[SendResult]: ...

    def follow_up(self, now) -> dict[str, int]: ...


def map_bundles(send_one, bundles: dict, workers: int) -> dict:
    """``send_one(key, jobs) -> {push_id: SendResult}`` over every bundle, ``workers`` at a
    time; the merged results."""
    items = list(bundles.items())
    if len(items) <= 1 or workers <= 1:
        parts = [send_one(key, jobs) for key, jobs in items]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                                thread_name_prefix="bundle") as pool:
            parts = list(pool.map(lambda item: send_one(*item), items))
    return {push_id: result for part in parts for push_id, result in part.items()}


def register(name: str):
    def add(cls):
        cls.name = name
        REGISTRY[name] = cls
        return cls
    return add


def channel_names() -> tuple[str, ...]:
    """Every channel module of this package (found without importing them)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))


def build_channels(settings, db_factory, clock, sleep) -> dict[str, Channel]:
    """One instance of every registered channel, sharing the process's clock."""
    for name in channel_names():   # each module registers its class on import
        importlib.import_module(f"{__name__}.{name}")

    return {name: cls(settings=settings, db_factory=db_factory, clock=clock, sleep=sleep)
            for name, cls in REGISTRY.items()}
