"""Configuration: config.toml parsed once into frozen dataclasses, secrets from the environment.

Every problem names the key it is about (``wechat.aes_key: must be 43 characters``) so a bad
file stops start-up with a message a person can act on.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .content.model import AUDIENCES
from .errors import ConfigError
from .pushing.channels import channel_names

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"

# Environment variables that override the file, by (section, key).
ENV_OVERRIDES = {
    "WECHAT_TOKEN": ("wechat", "token"),
    "WECHAT_APP_ID": ("wechat", "app_id"),
    "WECHAT_APP_SECRET": ("wechat", "app_secret"),
    "WECHAT_AES_KEY": ("wechat", "aes_key"),
    "BOT_SECRET_KEY": ("admin", "secret_key"),
}

DEV_TOKEN = "dev-token-change-me"
DEV_SECRET_KEY = "dev-secret-key-change-me"
DEV_AES_KEY = "DevelopmentOnlyAesKeyNotForProduction012345"
_AES_KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}$")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    public_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class DatabaseSettings:
    path: Path = PROJECT_ROOT / "var" / "bot.db"


@dataclass(frozen=True)
class ContentSettings:
    dir: Path = PROJECT_ROOT / "content"


@dataclass(frozen=True)
class WeChatSettings:
    token: str = DEV_TOKEN
    app_id: str = "wx00000000dev00000"
    app_secret: str = ""
    aes_key: str = DEV_AES_KEY
    max_clock_skew_seconds: int = 300
    reply_max_bytes: int = 2000
    max_body_bytes: int = 65536
    # Replies and question-log rows are written in batches this often (0: one by one).
    record_batch_ms: int = 20

    @property
    def uses_dev_placeholders(self) -> bool:
        return self.token == DEV_TOKEN or self.aes_key == DEV_AES_KEY


@dataclass(frozen=True)
class ApiSettings:
    rate_limit_per_minute: int = 60
    max_question_chars: int = 500


@dataclass(frozen=True)
class AdminSettings:
    # Signs admin session cookies (env BOT_SECRET_KEY). The shipped value is for development.
    secret_key: str = field(default=DEV_SECRET_KEY, repr=False)
    # Send the session cookie over HTTPS only. Off only for local development on http://.
    cookie_secure: bool = True
    # Signed-in admins are signed out after this many minutes without a request.
    idle_minutes: int = 30
    # Failed sign-ins allowed per 15 minutes, per address and per account name.
    max_login_failures: int = 5
    # Questions scoring below this are listed as low-confidence.
    low_confidence_score: float = 0.2


@dataclass(frozen=True)
class LoopSettings:
    # A 举报 conversation with no answer for this long expires (kept as an incomplete lead).
    lead_session_minutes: int = 30
    # 举报 conversations one resident may start in 24 hours.
    max_leads_per_day: int = 5
    # A "没用" typed this soon after an answer counts for that answer.
    feedback_window_minutes: int = 10
    # A case with at least this many 没用 (and more 没用 than 有用) is flagged for review.
    flag_unhelpful: int = 3
    # The account may send customer-service messages (verified). Off: screenshots get
    # "请把截图里的文字发给我" and answers that come later wait for the resident's next message.
    customer_service: bool = False
    # Official-account API base (tests point it at a local fake).
    api_base_url: str = "https://api.weixin.qq.com"
    # WeChat's quota: this many customer-service messages within cs_window_hours after the
    # resident last wrote.
    cs_quota: int = 5
    cs_window_hours: int = 48
    # Read screenshots with OCR on this machine (needs the optional rapidocr + onnxruntime).
    ocr: bool = True
    ocr_workers: int = 1
    ocr_threads: int = 1
    # Screenshots waiting beyond this get "please type it" at once.
    ocr_queue_max: int = 100
    image_max_bytes: int = 5 * 1024 * 1024
    image_timeout_seconds: int = 5


@dataclass(frozen=True)
class SchedulerSettings:
    timezone: str = "Asia/Shanghai"
    # A slot missed while the scheduler was down is still sent this long after its time.
    grace_hours: int = 6
    # How often the scheduler looks for due slots and retries (seconds).
    tick_seconds: int = 20
    # Sends in flight at once (each robot still gets at most rate_per_minute).
    max_concurrent_sends: int = 64
    rate_per_minute: int = 20
    max_attempts: int = 5
    retry_backoff_seconds: int = 30
    send_timeout_seconds: int = 10
    lock_path: Path = PROJECT_ROOT / "var" / "scheduler.lock"


@dataclass(frozen=True)
class WeComSettings:
    # Tests and development point this at a local fake server.
    base_url: str = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class GroupSettings:
    id: str
    name: str
    area: str = ""
    audiences: tuple[str, ...] = ("general",)
    schedule: tuple[str, ...] = ()
    channel: str = "outbox"
    msgtype: str = "text"
    robot_key: str = field(default="", repr=False)
    robot_key_env: str = ""
    mentioned_list: tuple[str, ...] = ()
    mentioned_mobile_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    wecom: WeComSettings = field(default_factory=WeComSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    loop: LoopSettings = field(default_factory=LoopSettings)
    groups: tuple[GroupSettings, ...] = ()
    source: str = "defaults"

    def group(self, group_id: str) -> GroupSettings | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def replace(self, **sections: Any) -> "Settings":
        """Copy with some sections' fields changed: ``s.replace(wechat={"token": "t"})``."""
        changes = {
            name: dataclasses.replace(getattr(self, name), **values)
            for name, values in sections.items()
        }
        return dataclasses.replace(self, **changes)


_SECTIONS = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "content": ContentSettings,
    "wechat": WeChatSettings,
    "api": ApiSettings,
    "scheduler": SchedulerSettings,
    "wecom": WeComSettings,
    "admin": AdminSettings,
    "loop": LoopSettings,
}


def load_settings(path: str | os.PathLike | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (``BOT_CONFIG`` or ./config.toml), apply env overrides, validate."""
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("BOT_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for env_name, (section, key) in ENV_OVERRIDES.items():
        if environ.get(env_name):
            raw.setdefault(section, {})[key] = environ[env_name]
    return settings_from_mapping(raw, base_dir=path.resolve().parent, source=str(path),
                                 environ=environ)


def settings_from_mapping(raw: Mapping[str, Any], base_dir: Path = PROJECT_ROOT,
                          source: str = "mapping",
                          environ: Mapping[str, str] | None = None) -> Settings:
    """Build validated Settings from parsed TOML data; relative paths resolve against base_dir."""
    sections = {}
    for name, cls in _SECTIONS.items():
        values = dict(raw.get(name) or {})
        sections[name] = _build_section(name, cls, values, base_dir)
    unknown = set(raw) - set(_SECTIONS) - {"groups"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section")
    groups = parse_groups(raw.get("groups") or [], os.environ if environ is None else environ)
    settings = Settings(**sections, groups=groups, source=source)
    validate(settings)
    return settings


def _build_section(name: str, cls: type, values: dict, base_dir: Path):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"{name}.{key}: unknown key")
    defaults = cls()
    kwargs = {}
    for key, value in values.items():
        expected = type(getattr(defaults, key))
        if issubclass(expected, Path):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name}.{key}: must be a path string")
            p = Path(value)
            value = p if p.is_absolute() else (base_dir / p)
        elif expected is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name}.{key}: must be true or false")
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}.{key}: must be an integer")
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}.{key}: must be a number")
            value = float(value)
        elif expected is str:
            if not isinstance(value, str):
                raise ConfigError(f"{name}.{key}: must be a string")
        kwargs[key] = value
    return cls(**kwargs)


def validate(s: Settings) -> None:
    """Raise ConfigError naming the first key whose value cannot work."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{3,64}", s.wechat.token or ""):
        raise ConfigError("wechat.token: must be 3-64 letters, digits, '-' or '_' "
                          "(the Token set in the WeChat console)")
    if s.wechat.aes_key and not _AES_KEY_RE.match(s.wechat.aes_key):
        raise ConfigError("wechat.aes_key: must be 43 characters of letters, digits, + or / "
                          "(the EncodingAESKey from the WeChat console)")
    checks = [
        ("server.port", 1 <= s.server.port <= 65535, "must be between 1 and 65535"),
        ("server.workers", 1 <= s.server.workers <= 64, "must be between 1 and 64"),
        ("server.public_url", s.server.public_url.startswith(("http://", "https://")),
         "must start with http:// or https://"),
        ("wechat.max_clock_skew_seconds", s.wechat.max_clock_skew_seconds > 0, "must be positive"),
        ("wechat.reply_max_bytes", 200 <= s.wechat.reply_max_bytes <= 2048,
         "must be between 200 and 2048"),
        ("wechat.max_body_bytes", 1024 <= s.wechat.max_body_bytes <= 1 << 20,
         "must be between 1024 and 1048576"),
        ("wechat.record_batch_ms", 0 <= s.wechat.record_batch_ms <= 1000,
         "must be between 0 and 1000"),
        ("api.rate_limit_per_minute", s.api.rate_limit_per_minute > 0, "must be positive"),
        ("api.max_question_chars", 10 <= s.api.max_question_chars <= 5000,
         "must be between 10 and 5000"),
        ("scheduler.grace_hours", 0 <= s.scheduler.grace_hours <= 72, "must be between 0 and 72"),
        ("scheduler.tick_seconds", 1 <= s.scheduler.tick_seconds <= 300,
         "must be between 1 and 300"),
        ("scheduler.max_concurrent_sends", 1 <= s.scheduler.max_concurrent_sends <= 512,
         "must be between 1 and 512"),
        ("scheduler.rate_per_minute", 1 <= s.scheduler.rate_per_minute <= 20,
         "must be between 1 and 20 (the WeCom robot limit)"),
        ("scheduler.max_attempts", 1 <= s.scheduler.max_attempts <= 20, "must be between 1 and 20"),
        ("scheduler.retry_backoff_seconds", s.scheduler.retry_backoff_seconds > 0,
         "must be positive"),
        ("scheduler.send_timeout_seconds", 1 <= s.scheduler.send_timeout_seconds <= 60,
         "must be between 1 and 60"),
        ("wecom.base_url", s.wecom.base_url.startswith(("http://", "https://")),
         "must start with http:// or https://"),
        ("admin.secret_key", len(s.admin.secret_key) >= 16, "must be at least 16 characters"),
        ("admin.idle_minutes", 1 <= s.admin.idle_minutes <= 24 * 60,
         "must be between 1 and 1440"),
        ("admin.max_login_failures", 1 <= s.admin.max_login_failures <= 100,
         "must be between 1 and 100"),
        ("admin.low_confidence_score", 0 <= s.admin.low_confidence_score <= 1,
         "must be between 0 and 1"),
        ("loop.lead_session_minutes", 1 <= s.loop.lead_session_minutes <= 24 * 60,
         "must be between 1 and 1440"),
        ("loop.max_leads_per_day", 1 <= s.loop.max_leads_per_day <= 100,
         "must be between 1 and 100"),
        ("loop.feedback_window_minutes", 1 <= s.loop.feedback_window_minutes <= 24 * 60,
         "must be between 1 and 1440"),
        ("loop.flag_unhelpful", 1 <= s.loop.flag_unhelpful <= 1000,
         "must be between 1 and 1000"),
        ("loop.api_base_url", s.loop.api_base_url.startswith(("http://", "https://")),
         "must start with http:// or https://"),
        ("loop.cs_quota", 0 <= s.loop.cs_quota <= 100, "must be between 0 and 100"),
        ("loop.cs_window_hours", 1 <= s.loop.cs_window_hours <= 168,
         "must be between 1 and 168"),
        ("loop.ocr_workers", 1 <= s.loop.ocr_workers <= 16, "must be between 1 and 16"),
        ("loop.ocr_threads", 1 <= s.loop.ocr_threads <= 16, "must be between 1 and 16"),
        ("loop.ocr_queue_max", 1 <= s.loop.ocr_queue_max <= 10000,
         "must be between 1 and 10000"),
        ("loop.image_max_bytes", 1024 <= s.loop.image_max_bytes <= 50 * 1024 * 1024,
         "must be between 1024 and 52428800"),
        ("loop.image_timeout_seconds", 1 <= s.loop.image_timeout_seconds <= 60,
         "must be between 1 and 60"),
    ]
    try:
        ZoneInfo(s.scheduler.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"scheduler.timezone: unknown time zone '{s.scheduler.timezone}'") from None
    for key, ok, message in checks:
        if not ok:
            raise ConfigError(f"{key}: {message}")


# -- [[groups]]: the group chats that get weekly tips ------------------------------------------

MSGTYPES = ("text", "markdown")
_DAYS = {"mon": "mon", "tue": "tue", "wed": "wed", "thu": "thu", "fri": "fri", "sat": "sat",
         "sun": "sun", "周一": "mon", "周二": "tue", "周三": "wed", "周四": "thu", "周五": "fri",
         "周六": "sat", "周日": "sun", "周天": "sun"}
_SLOT_RE = re.compile(r"^\s*(\S+)\s+([01]?\d|2[0-3]):([0-5]\d)\s*$")
_GROUP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
GROUP_KEYS = {"id", "name", "area", "audiences", "schedule", "channel", "msgtype", "robot_key",
         "robot_key_env", "mentioned_list", "mentioned_mobile_list"}


def parse_slot(entry: str) -> tuple[str, int, int]:
    """'mon 09:00' -> ('mon', 9, 0); ValueError for anything else."""
    m = _SLOT_RE.match(entry or "")
    if not m or m.group(1).lower() not in _DAYS:
        raise ValueError(f"'{entry}' is not like 'mon 09:00' (weekday mon..sun or 周一..周日, 24h time)")
    return _DAYS[m.group(1).lower()], int(m.group(2)), int(m.group(3))


def _strings(where: str, value, allowed=None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    for v in value:
        if allowed and v not in allowed:
            raise ConfigError(f"{where}: unknown value '{v}' (one of: {', '.join(allowed)})")
    return tuple(value)


def parse_groups(raw: list, environ: Mapping[str, str]) -> tuple[GroupSettings, ...]:
    """Validate ``[[groups]]``; errors name the group and key (``groups[2].schedule: ...``)."""
    if not isinstance(raw, list):
        raise ConfigError("groups: must be an array of tables ([[groups]])")
    groups, seen = [], set()
    for i, g in enumerate(raw):
        where = f"groups[{i}]"
        if not isinstance(g, dict):
            raise ConfigError(f"{where}: must be a table")
        for key in g:
            if key not in GROUP_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key")
        gid = g.get("id")
        if not isinstance(gid, str) or not _GROUP_ID_RE.match(gid):
            raise ConfigError(f"{where}.id: must be lowercase letters, digits, '-' or '_'")
        if gid in seen:
            raise ConfigError(f"{where}.id: duplicate group id '{gid}'")
        seen.add(gid)
        where = f"groups[{i}] ({gid})"
        schedule = _strings(f"{where}.schedule", g.get("schedule", []))
        if not schedule:
            raise ConfigError(f"{where}.schedule: needs at least one weekly send time")
        for entry in schedule:
            try:
                parse_slot(entry)
            except ValueError as exc:
                raise ConfigError(f"{where}.schedule: {exc}") from None
        channel = g.get("channel", "outbox")
        if channel not in channel_names():
            raise ConfigError(f"{where}.channel: unknown channel '{channel}' "
                              f"(one of: {', '.join(channel_names())})")
        msgtype = g.get("msgtype", "text")
        if msgtype not in MSGTYPES:
            raise ConfigError(f"{where}.msgtype: must be 'text' or 'markdown'")
        key_env = g.get("robot_key_env", "")
        key = environ.get(key_env, "") if key_env else g.get("robot_key", "")
        if channel == "wecom_robot" and not key:
            raise ConfigError(f"{where}.robot_key_env: channel wecom_robot needs the robot key, "
                              f"set in the environment variable named by robot_key_env"
                              + (f" ({key_env} is empty)" if key_env else ""))
        groups.append(GroupSettings(
            id=gid, name=str(g.get("name") or gid), area=str(g.get("area", "")),
            audiences=_strings(f"{where}.audiences", g.get("audiences", ["general"]), AUDIENCES),
            schedule=schedule, channel=channel, msgtype=msgtype, robot_key=key,
            robot_key_env=key_env,
            mentioned_list=_strings(f"{where}.mentioned_list", g.get("mentioned_list", [])),
            mentioned_mobile_list=_strings(f"{where}.mentioned_mobile_list",
                                           g.get("mentioned_mobile_list", [])),
        ))
    return tuple(groups)


def warn_if_placeholders(settings: Settings) -> None:
    """Say loudly when the server runs with the shipped development secrets."""
    if settings.admin.secret_key == DEV_SECRET_KEY:
        log.warning("*** admin sessions are signed with the DEVELOPMENT secret key; set "
                    "BOT_SECRET_KEY before exposing /admin ***")
    if settings.wechat.uses_dev_placeholders:
        log.warning("*** running with DEVELOPMENT placeholder WeChat token/AES key from %s; "
                    "set WECHAT_TOKEN and WECHAT_AES_KEY before connecting a real account ***",
                    settings.source)
