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
    "WECOM_APP_SECRET": ("wecom", "app_secret"),
    "RELAY_SECRET": ("relay", "secret"),
}

DEV_TOKEN = "dev-token-change-me"
DEV_SECRET_KEY = "dev-secret-key-change-me"
DEV_AES_KEY = "DevelopmentOnlyAesKeyNotForProduction012345"
DEV_RELAY_SECRET = "dev-relay-secret-change-me"
_AES_KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}$")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    # Threads per worker (gunicorn gthread): a slow client holds one thread, not a worker.
    threads: int = 16
    public_url: str = "http://127.0.0.1:8000"
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (werkzeug's
    # ProxyFix). 0: none, the socket's peer is the client; 1 behind the nginx of deploy/.
    trusted_proxy_hops: int = 0


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
    # The official account's own API (menu, customer-service messages, QR codes).
    api_base_url: str = "https://api.weixin.qq.com"
    # "stable_token" (POST /cgi-bin/stable_token, recommended) or "token" (GET /cgi-bin/token).
    token_endpoint: str = "stable_token"
    api_timeout_seconds: int = 10
    # Where QR-code tickets are exchanged for the image (showqrcode).
    qrcode_base_url: str = "https://mp.weixin.qq.com"

    @property
    def uses_dev_placeholders(self) -> bool:
        return self.token == DEV_TOKEN or self.aes_key == DEV_AES_KEY


@dataclass(frozen=True)
class ApiSettings:
    rate_limit_per_minute: int = 60
    max_question_chars: int = 500
    # The mini-program's AppID: /api/v1/ask counts a question as a resident's (channel
    # "miniprogram") only when WeChat's Referer names this app. Empty: any mini-program.
    miniprogram_app_id: str = ""


@dataclass(frozen=True)
class ReportSettings:
    # 填报单位 and 填报人 on the weekly 反诈骗宣传活动统计表 (the console uses the signed-in
    # account's name when reporter is empty).
    unit: str = ""
    reporter: str = ""


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
    # WeChat's quota: this many customer-service messages within cs_window_hours after the
    # resident last wrote.
    cs_quota: int = 5
    cs_window_hours: int = 48
    # Read screenshots with OCR on this machine (rapidocr + onnxruntime, in requirements.txt).
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
    # The self-built app (自建应用) that sends app messages and customer-group mass sends:
    # corp id, its AgentId and its Secret (env WECOM_APP_SECRET, never in the repository).
    corp_id: str = ""
    agent_id: int = 0
    app_secret: str = field(default="", repr=False)
    # HTTP timeout of every WeCom API call (gettoken included).
    api_timeout_seconds: int = 10
    # Customer-group mass sends (企业群发) a customer group may receive per day. Tencent's page
    # (document/path/92135, 2025-11): at most "days in the month" per month by default, which
    # the enterprise can tighten to 7 a week or 1 a day; 1 a day fits every setting.
    customer_group_per_day: int = 1
    # Polling a mass-send task until WeCom reports each group: first poll after this many
    # seconds, doubling up to poll_max_seconds; after poll_give_up_hours the groups still not
    # sent are recorded 'not sent' (the staff member never confirmed).
    poll_first_seconds: int = 60
    poll_max_seconds: int = 3600
    poll_give_up_hours: int = 72
    # App messages (message/send) to one member per minute (WeCom drops more than 30).
    app_message_per_member_per_minute: int = 30


@dataclass(frozen=True)
class RelaySettings:
    # Signs the grid workers' one-tap "已转发到 <群名>" links (env RELAY_SECRET).
    secret: str = field(default=DEV_RELAY_SECRET, repr=False)
    # A link works this long after the tips were sent to the worker.
    link_ttl_hours: int = 72
    # Unconfirmed relays get one reminder at this local time on the next morning.
    reminder_time: str = "09:00"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    # Empty: stderr (under systemd that is the journal). A path: appended there, reopened when
    # logrotate moves it.
    file: str = ""
    # One line per HTTP request (method, path without the query string, status, ms, client).
    access_log: bool = True


@dataclass(frozen=True)
class RetentionSettings:
    # Residents' questions older than this many months lose their text and user hash (the
    # category, time and score stay for the statistics). 个人信息保护法: keep no longer than needed.
    question_months: int = 6


@dataclass(frozen=True)
class LocalSettings:
    """This deployment's own channels, shown where content has {本地防诈小程序} etc.
    Empty means "not configured": lines naming them are left out of replies."""
    mini_program: str = ""          # the town police's anti-fraud mini-program, e.g. "平安东村"
    police_station_phone: str = ""  # the local police station, e.g. "0571-8xxxxxxx"
    hotline: str = ""               # a local anti-fraud hotline, if there is one

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CampaignSettings:
    # 单位 printed on the monthly 通报 and the weekly sheets.
    unit: str = "镇综治中心"
    # Share of a village's households with the 国家反诈中心APP registered, the year-end target.
    app_target: float = 0.75
    # 无诈村: no case in this many months (this one included) and APP rate at least no_fraud_app_rate.
    no_fraud_months: int = 6
    no_fraud_app_rate: float = 0.75
    # Where `python -m bot qrcode VILLAGE` saves the poster PNG.
    qrcode_dir: Path = PROJECT_ROOT / "var" / "qrcodes"


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
    # Why this group cannot be sent to (a missing robot key); empty when it can. Such a group
    # is reported and skipped; the rest of the configuration works.
    problem: str = ""
    village: str = ""   # a village id (checked against the villages table when used)
    # channel "relay": the grid worker who forwards tips into this group by hand.
    relay_by: str = ""
    # channel "wecom_customer_group": the staff member who owns the customer group (sender of
    # the mass send) and the group's chat id (wr...).
    owner: str = ""
    chat_id: str = ""


@dataclass(frozen=True)
class GridWorkerSettings:
    """A grid worker (网格员) who relays tips into village groups robots cannot join."""
    id: str
    name: str
    userid: str = ""                 # WeCom member: tips come as an app message
    robot_key: str = field(default="", repr=False)   # or through their worker group's robot
    robot_key_env: str = ""


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
    local: LocalSettings = field(default_factory=LocalSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    campaign: CampaignSettings = field(default_factory=CampaignSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    loop: LoopSettings = field(default_factory=LoopSettings)
    groups: tuple[GroupSettings, ...] = ()
    grid_workers: tuple[GridWorkerSettings, ...] = ()
    source: str = "defaults"

    def group(self, group_id: str) -> GroupSettings | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def grid_worker(self, worker_id: str) -> GridWorkerSettings | None:
        return next((w for w in self.grid_workers if w.id == worker_id), None)

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
    "local": LocalSettings,
    "logging": LoggingSettings,
    "retention": RetentionSettings,
    "report": ReportSettings,
    "campaign": CampaignSettings,
    "relay": RelaySettings,
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
    unknown = set(raw) - set(_SECTIONS) - {"groups", "grid_workers"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section")
    environ = os.environ if environ is None else environ
    groups = parse_groups(raw.get("groups") or [], environ)
    workers = parse_grid_workers(raw.get("grid_workers") or [], environ)
    settings = Settings(**sections, groups=groups, grid_workers=workers, source=source)
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
        ("server.trusted_proxy_hops", 0 <= s.server.trusted_proxy_hops <= 5,
         "must be between 0 and 5 (1 behind one nginx)"),
        ("server.threads", 1 <= s.server.threads <= 64, "must be between 1 and 64"),
        ("server.public_url", s.server.public_url.startswith(("http://", "https://")),
         "must start with http:// or https://"),
        # A signed (timestamp, nonce) is remembered for an hour (plaintext replay check).
        ("wechat.max_clock_skew_seconds", 1 <= s.wechat.max_clock_skew_seconds <= 1800,
         "must be between 1 and 1800"),
        ("wechat.reply_max_bytes", 200 <= s.wechat.reply_max_bytes <= 2048,
         "must be between 200 and 2048"),
        ("wechat.max_body_bytes", 1024 <= s.wechat.max_body_bytes <= 1 << 20,
         "must be between 1024 and 1048576"),
        ("wechat.record_batch_ms", 0 <= s.wechat.record_batch_ms <= 1000,
         "must be between 0 and 1000"),
        ("wechat.api_base_url", s.wechat.api_base_url.startswith(("http://", "https://")),
         "must start with http:// or https://"),
        ("wechat.qrcode_base_url", s.wechat.qrcode_base_url.startswith(("http://", "https://")),
         "must start with http:// or https://"),
        ("wechat.token_endpoint", s.wechat.token_endpoint in ("stable_token", "token"),
         "must be 'stable_token' or 'token'"),
        ("wechat.api_timeout_seconds", 1 <= s.wechat.api_timeout_seconds <= 60,
         "must be between 1 and 60"),
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
        ("logging.level", s.logging.level.upper() in LOG_LEVELS,
         f"must be one of {', '.join(LOG_LEVELS)}"),
        ("retention.question_months", 1 <= s.retention.question_months <= 60,
         "must be between 1 and 60"),
        ("campaign.unit", 0 < len(s.campaign.unit) <= 60, "must be 1-60 characters"),
        ("campaign.app_target", 0 < s.campaign.app_target <= 1, "must be between 0 and 1"),
        ("campaign.no_fraud_months", 1 <= s.campaign.no_fraud_months <= 36,
         "must be between 1 and 36"),
        ("campaign.no_fraud_app_rate", 0 <= s.campaign.no_fraud_app_rate <= 1,
         "must be between 0 and 1"),
        ("wecom.agent_id", s.wecom.agent_id >= 0, "must be a positive integer (the app's AgentId)"),
        ("wecom.api_timeout_seconds", 1 <= s.wecom.api_timeout_seconds <= 60,
         "must be between 1 and 60"),
        ("wecom.customer_group_per_day", 1 <= s.wecom.customer_group_per_day <= 31,
         "must be between 1 and 31"),
        ("wecom.poll_first_seconds", 1 <= s.wecom.poll_first_seconds <= 3600,
         "must be between 1 and 3600"),
        ("wecom.poll_max_seconds", s.wecom.poll_first_seconds <= s.wecom.poll_max_seconds
         <= 86400, "must be between wecom.poll_first_seconds and 86400"),
        ("wecom.poll_give_up_hours", 1 <= s.wecom.poll_give_up_hours <= 24 * 14,
         "must be between 1 and 336"),
        ("wecom.app_message_per_member_per_minute",
         1 <= s.wecom.app_message_per_member_per_minute <= 30,
         "must be between 1 and 30 (WeCom drops more than 30 a minute to one member)"),
        ("relay.secret", len(s.relay.secret) >= 16, "must be at least 16 characters"),
        ("relay.link_ttl_hours", 1 <= s.relay.link_ttl_hours <= 24 * 14,
         "must be between 1 and 336"),
        ("relay.reminder_time", _TIME_RE.match(s.relay.reminder_time) is not None,
         "must be a time like 09:00"),
        ("loop.lead_session_minutes", 1 <= s.loop.lead_session_minutes <= 24 * 60,
         "must be between 1 and 1440"),
        ("loop.max_leads_per_day", 1 <= s.loop.max_leads_per_day <= 100,
         "must be between 1 and 100"),
        ("loop.feedback_window_minutes", 1 <= s.loop.feedback_window_minutes <= 24 * 60,
         "must be between 1 and 1440"),
        ("loop.flag_unhelpful", 1 <= s.loop.flag_unhelpful <= 1000,
         "must be between 1 and 1000"),
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
    validate_local(s.local)
    validate_routes(s)


_LOCAL_PHONE_RE = re.compile(r"^[0-9][0-9-]{2,19}$")


def validate_local(local: LocalSettings) -> None:
    """[local] values go into replies as they are: one short line, phone numbers as digits."""
    for key, value in dataclasses.asdict(local).items():
        if value != value.strip() or "\n" in value or "{" in value or "}" in value:
            raise ConfigError(f"local.{key}: must be one line of text without braces or "
                              "surrounding spaces")
        if len(value) > 30:
            raise ConfigError(f"local.{key}: must be at most 30 characters")
    for key in ("police_station_phone", "hotline"):
        value = getattr(local, key)
        if value and not _LOCAL_PHONE_RE.match(value):
            raise ConfigError(f"local.{key}: must be a phone number of digits and '-', "
                              "like 0571-12345678")


def validate_routes(s: Settings) -> None:
    """Groups reached through a grid worker or a customer-group owner need what that takes."""
    needs_app = [g.id for g in s.groups if g.channel == "wecom_customer_group"] + \
        [w.id for w in s.grid_workers if w.userid]
    for i, g in enumerate(s.groups):
        if g.channel == "relay" and s.grid_worker(g.relay_by) is None:
            raise ConfigError(f"groups[{i}] ({g.id}).relay_by: channel relay needs the id of a "
                              f"[[grid_workers]] entry" + (f" ('{g.relay_by}' is not one)"
                                                           if g.relay_by else ""))
        if g.channel == "wecom_customer_group" and not (g.owner and g.chat_id):
            raise ConfigError(f"groups[{i}] ({g.id}).owner: channel wecom_customer_group needs "
                              "owner (the group owner's WeCom userid) and chat_id")
    if needs_app:
        if not s.wecom.corp_id:
            raise ConfigError(f"wecom.corp_id: needed for {needs_app[0]} (WeCom app API)")
        if not s.wecom.app_secret:
            raise ConfigError(f"wecom.app_secret: needed for {needs_app[0]}; set the "
                              "environment variable WECOM_APP_SECRET")
    if any(w.userid for w in s.grid_workers) and not s.wecom.agent_id:
        raise ConfigError("wecom.agent_id: app messages to grid workers need the app's AgentId")


# -- [[groups]]: the group chats that get weekly tips ------------------------------------------

MSGTYPES = ("text", "markdown")
_DAYS = {"mon": "mon", "tue": "tue", "wed": "wed", "thu": "thu", "fri": "fri", "sat": "sat",
         "sun": "sun", "周一": "mon", "周二": "tue", "周三": "wed", "周四": "thu", "周五": "fri",
         "周六": "sat", "周日": "sun", "周天": "sun"}
_SLOT_RE = re.compile(r"^\s*(\S+)\s+([01]?\d|2[0-3]):([0-5]\d)\s*$")
_GROUP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
GROUP_KEYS = {"id", "name", "area", "audiences", "schedule", "channel", "msgtype", "robot_key",
         "robot_key_env", "mentioned_list", "mentioned_mobile_list", "village", "relay_by",
         "owner", "chat_id"}
GRID_WORKER_KEYS = {"id", "name", "userid", "robot_key", "robot_key_env"}


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


def _id_tables(raw, section: str, keys: set[str], what: str):
    """The tables of ``[[section]]``, each checked for unknown keys and a unique, well-formed
    id: yields (table, id, where), ``where`` naming it in errors (``groups[2] (dongcun)``)."""
    if not isinstance(raw, list):
        raise ConfigError(f"{section}: must be an array of tables ([[{section}]])")
    seen = set()
    for i, table in enumerate(raw):
        where = f"{section}[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        for key in table:
            if key not in keys:
                raise ConfigError(f"{where}.{key}: unknown key")
        ident = table.get("id")
        if not isinstance(ident, str) or not _GROUP_ID_RE.match(ident):
            raise ConfigError(f"{where}.id: must be lowercase letters, digits, '-' or '_'")
        if ident in seen:
            raise ConfigError(f"{where}.id: duplicate {what} id '{ident}'")
        seen.add(ident)
        yield table, ident, f"{section}[{i}] ({ident})"


def parse_groups(raw: list, environ: Mapping[str, str]) -> tuple[GroupSettings, ...]:
    """Validate ``[[groups]]``; errors name the group and key (``groups[2].schedule: ...``)."""
    groups = []
    for g, gid, where in _id_tables(raw, "groups", GROUP_KEYS, "group"):
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
        if not isinstance(key_env, str):
            raise ConfigError(f"{where}.robot_key_env: must be a string")
        key = environ.get(key_env, "") if key_env else g.get("robot_key", "")
        problem = ""
        if channel == "wecom_robot" and not key:
            # A secret missing from the environment, not a mistake in the file: this group is
            # reported and skipped, everything else runs.
            problem = (f"缺少群机器人 key：环境变量 {key_env} 没有设置" if key_env else
                       "缺少群机器人 key：请设置 robot_key_env")
        village = g.get("village", "")
        if not isinstance(village, str) or (village and not _GROUP_ID_RE.match(village)):
            raise ConfigError(f"{where}.village: must be a village id (lowercase letters, "
                              "digits, '-' or '_')")
        groups.append(GroupSettings(
            id=gid, name=str(g.get("name") or gid), area=str(g.get("area", "")),
            audiences=_strings(f"{where}.audiences", g.get("audiences", ["general"]), AUDIENCES),
            schedule=schedule, channel=channel, msgtype=msgtype, robot_key=key,
            robot_key_env=key_env,
            mentioned_list=_strings(f"{where}.mentioned_list", g.get("mentioned_list", [])),
            mentioned_mobile_list=_strings(f"{where}.mentioned_mobile_list",
                                           g.get("mentioned_mobile_list", [])),
            problem=problem,
            village=village,
            relay_by=_string(f"{where}.relay_by", g.get("relay_by", "")),
            owner=_string(f"{where}.owner", g.get("owner", "")),
            chat_id=_string(f"{where}.chat_id", g.get("chat_id", "")),
        ))
    return tuple(groups)


def refuse_dev_secret_key(settings: Settings) -> None:
    """The web app does not start with the shipped development key where cookies are Secure
    (anything but local development): anyone could sign a session cookie with it."""
    if settings.admin.cookie_secure and settings.admin.secret_key == DEV_SECRET_KEY:
        raise ConfigError("admin.secret_key: the development key shipped in config.toml is "
                          "refused when admin.cookie_secure is true; set BOT_SECRET_KEY to a "
                          "long random value (python -c 'import secrets; print("
                          "secrets.token_urlsafe(32))')")
def _string(where: str, value) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string")
    return value


def parse_grid_workers(raw: list, environ: Mapping[str, str]) -> tuple[GridWorkerSettings, ...]:
    """Validate ``[[grid_workers]]``: each reached by WeCom userid or by a worker-group robot."""
    workers = []
    for w, wid, where in _id_tables(raw, "grid_workers", GRID_WORKER_KEYS, "grid worker"):
        userid = _string(f"{where}.userid", w.get("userid", ""))
        key_env = _string(f"{where}.robot_key_env", w.get("robot_key_env", ""))
        key = environ.get(key_env, "") if key_env else _string(f"{where}.robot_key",
                                                               w.get("robot_key", ""))
        if not userid and not key:
            raise ConfigError(f"{where}.userid: a grid worker needs a WeCom userid, or the "
                              "robot key of their worker group in robot_key_env"
                              + (f" ({key_env} is empty)" if key_env else ""))
        workers.append(GridWorkerSettings(id=wid, name=_string(f"{where}.name", w.get("name") or wid),
                                          userid=userid, robot_key=key, robot_key_env=key_env))
    return tuple(workers)


def warn_if_placeholders(settings: Settings) -> None:
    """Say loudly when the server runs with the shipped development secrets, or with a group
    that cannot be sent to."""
    for group in settings.groups:
        if group.problem:
            log.error("group %s is skipped: %s", group.id, group.problem)
    if settings.admin.secret_key == DEV_SECRET_KEY:
        log.warning("*** admin sessions are signed with the DEVELOPMENT secret key; set "
                    "BOT_SECRET_KEY before exposing /admin ***")
    if settings.relay.secret == DEV_RELAY_SECRET and any(
            g.channel == "relay" for g in settings.groups):
        log.warning("*** relay links are signed with the DEVELOPMENT secret; set RELAY_SECRET ***")
    if settings.wechat.uses_dev_placeholders:
        log.warning("*** running with DEVELOPMENT placeholder WeChat token/AES key from %s; "
                    "set WECHAT_TOKEN and WECHAT_AES_KEY before connecting a real account ***",
                    settings.source)
