"""Loading and validating config.toml.

The file is looked for in this order: ``--config``, ``$TRACKER_CONFIG``, ``./config.toml``, the
packaged default. ``$TRACKER_DATABASE_URL`` overrides ``database.url``. Relative paths in the
file are resolved against the folder of the file, so a config can be moved with its data.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracker.errors import ConfigError

CONFIG_ENV = "TRACKER_CONFIG"
DATABASE_ENV = "TRACKER_DATABASE_URL"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite:///tracker.db"


class GeneralSettings(_Section):
    timezone: str = "Asia/Shanghai"
    unit_directory: str = ""
    county: str = "武定县"
    recurring_until: dt.date | None = None  # last day recurring duties get occurrences; default: end of plan year + 2
    max_file_mb: float = Field(default=50, gt=0)

    @property
    def max_file_bytes(self) -> int:
        """The largest plan or directory file read; a bigger one is refused before it is read."""
        return int(self.max_file_mb * 1024 * 1024)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"未知的时区“{value}”，请写成 Asia/Shanghai 这样的名称") from exc
        return value


class YearCalendar(_Section):
    holidays: list[dt.date] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list)


class CalendarSettings(_Section):
    years: dict[str, YearCalendar] = Field(default_factory=dict)

    @field_validator("years")
    @classmethod
    def _year_keys(cls, value: dict[str, YearCalendar]) -> dict[str, YearCalendar]:
        for year, cal in value.items():
            if not (year.isdigit() and len(year) == 4):
                raise ValueError(f"年份“{year}”应为四位数字，例如 [calendar.years.2027]")
            for day in [*cal.holidays, *cal.workdays]:
                if str(day.year) != year:
                    raise ValueError(f"日期 {day} 不属于 {year} 年")
        return value


class LightSettings(_Section):
    yellow_within_days: int = Field(default=7, ge=0)
    behind_by_percent: int = Field(default=20, ge=0, le=100)


class ReminderSettings(_Section):
    before_days: list[int] = Field(default_factory=lambda: [30, 14, 7, 3, 1])
    on_due_day: bool = True
    overdue_every_days: int = Field(default=7, ge=1)
    escalate_to: list[Literal["lead", "guiding", "county_office"]] = Field(
        default_factory=lambda: ["lead", "guiding", "county_office"]
    )
    check_time: str = "08:30"
    calendar_alarm_days: int = Field(default=3, ge=0)  # tracker ical: the calendar's own alarm, days before

    @field_validator("before_days")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError("提前天数必须是正整数")
        return sorted(set(value), reverse=True)

    @field_validator("check_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        try:
            dt.time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"时间“{value}”应写成 HH:MM，例如 08:30") from exc
        return value


class SmtpSettings(_Section):
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    user: str = ""
    password_env: str = "TRACKER_SMTP_PASSWORD"
    password_file: str = ""
    timeout_seconds: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _one_kind_of_tls(self) -> SmtpSettings:
        if self.tls and self.starttls:
            raise ValueError("配置项 mail.smtp.starttls 和 mail.smtp.tls 不能同时为 true：STARTTLS（通常端口 587）"
                             "与直接 TLS（通常端口 465）只能选一个")
        return self


class MailSettings(_Section):
    transport: str = "folder"
    sender: str = "县政府办公室 <tracker@wuding.example>"
    subject_prefix: str = "政务公开任务提醒"
    folder: str = "outbox"
    max_attempts: int = Field(default=36, ge=1)
    retry_after_seconds: int = Field(default=60, ge=0)
    retry_max_seconds: int = Field(default=3600, ge=0)
    lease_seconds: int = Field(default=300, ge=0)
    pump_every_seconds: int = Field(default=60, ge=1)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)


class ChannelSettings(_Section):
    """Group-chat robots: where each platform's webhook is (government private deployments have their own) and timeouts."""

    wecom_url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    dingtalk_url: str = "https://oapi.dingtalk.com/robot/send"
    feishu_url: str = "https://open.feishu.cn/open-apis/bot/v2/hook"
    timeout_seconds: float = Field(default=10, gt=0)
    parallel: int = Field(default=32, ge=1)

    @field_validator("wecom_url", "dingtalk_url", "feishu_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"地址“{value}”应以 https:// 开头")
        return value


class ReportSettings(_Section):
    weekday: Literal["mon", "tue", "wed", "thu", "fri"] = "mon"
    time: str = "09:00"
    recipients: list[str] = Field(default_factory=lambda: ["县政府办公室"])
    folder: str = "reports"
    attachment_max_mb: float = Field(default=10, gt=0)
    mail_units_max: int = Field(default=500, gt=0)


class CatalogSettings(_Section):
    """Annex 2 catalogues: how many working days a 公开时限 of "实时"/"即时" or "及时" allows."""

    realtime_working_days: int = Field(default=1, ge=0)
    promptly_working_days: int = Field(default=5, ge=0)


class CycleSettings(_Section):
    """The supervision cycle: whether a unit's completion report waits for the office, and how soon units must sign.

    ``review`` empty means the default: a one-off deadline's completion is reviewed, a recurring
    occurrence's is not (a monthly report would otherwise queue up twelve reviews a year per unit).
    """

    review: Literal["required", "none", ""] = ""
    acknowledge_within_days: int = Field(default=3, ge=1)  # working days after the first reminder


UPLOAD_TYPES = ["pdf", "doc", "docx", "xls", "xlsx", "jpg", "jpeg", "png", "ofd"]


class WebSettings(_Section):
    """``tracker serve``: the public address in mail links, the link lifetime, uploads; the signing secret is
    read from the environment or a file (like the SMTP password), never from this file."""

    public_url: str = ""
    secret_env: str = "TRACKER_WEB_SECRET"
    secret_file: str = ""
    link_days: int = Field(default=120, ge=1)
    session_hours: int = Field(default=12, ge=1)
    upload_folder: str = "uploads"
    max_upload_mb: float = Field(default=20, gt=0)
    upload_types: list[str] = Field(default_factory=lambda: list(UPLOAD_TYPES))
    failed_token_limit: int = Field(default=20, ge=1)  # bad links per address per 10 minutes, then refused

    @field_validator("public_url")
    @classmethod
    def _http_or_empty(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(f"地址“{value}”应以 https:// 开头")
        return value.rstrip("/")

    @field_validator("upload_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        value = [v.lower().lstrip(".") for v in value]
        executable = {"html", "htm", "svg", "js", "xhtml", "xml", "exe", "bat", "sh"} & set(value)
        if executable:
            raise ValueError(f"不能允许上传 {'、'.join(sorted(executable))} 文件：浏览器或系统会执行它们")
        return value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    general: GeneralSettings = Field(default_factory=GeneralSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    lights: LightSettings = Field(default_factory=LightSettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    cycle: CycleSettings = Field(default_factory=CycleSettings)
    web: WebSettings = Field(default_factory=WebSettings)


class Config(BaseModel):
    """Validated settings plus where they came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    source: str
    base_dir: Path

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.settings.database.url, self.base_dir)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.general.timezone)

    def path(self, value: str) -> Path:
        """A path from the config, relative ones taken against the config's folder."""
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Anchor a relative SQLite path at ``base_dir``; other URLs are returned unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite://" or ":memory:" in url:
        return url
    raw = url[len(prefix):]
    path = Path(raw)
    if path.is_absolute():
        return url
    return prefix + str((base_dir / path).resolve())


_MESSAGES = {
    "extra_forbidden": "是未知的配置项，请检查拼写（可用 tracker config check 查看全部问题）",
    "missing": "缺少必填的配置项",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为带引号的文字",
    "list_type": "应为列表，例如 [30, 14, 7]",
    "date_from_datetime_parsing": "应为日期，例如 2027-01-01",
    "date_parsing": "应为日期，例如 2027-01-01",
    "date_type": "应为日期，例如 2027-01-01",
    "literal_error": "只能是以下之一：{expected}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "必须大于 {gt}",
    "float_parsing": "应为数字",
}


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        reason = str(ctx.get("error", error["msg"]))
        if reason.startswith("配置项 "):  # a rule over several keys names them itself
            return reason
    else:
        reason = _MESSAGES.get(kind, error["msg"]).format(**{k: v for k, v in ctx.items()})
    value = error.get("input")
    shown = "" if kind in ("extra_forbidden", "missing") or isinstance(value, dict) else f"（当前值：{value!r}）"
    return f"配置项 {key} {reason}{shown}"


def problems(raw: Mapping[str, Any]) -> list[str]:
    """Every problem in a parsed config, one sentence each; empty when the config is valid."""
    try:
        Settings.model_validate(raw)
    except ValidationError as exc:
        return [_describe(e) for e in exc.errors()]
    return []


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"找不到配置文件 {path}。请检查 --config 或环境变量 {CONFIG_ENV}。") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"配置文件 {path} 不是有效的 TOML：{exc}。请修正该行后重试。") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"配置文件 {path} 不是 UTF-8 编码，请另存为 UTF-8 后重试。") from exc
    except PermissionError as exc:
        raise ConfigError(f"没有读取配置文件 {path} 的权限。请检查文件权限和所有者（它应可由运行 tracker 的用户读取）。") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"配置文件 {path} 是一个文件夹。请用 --config 指定 config.toml 文件。") from exc
    except OSError as exc:
        raise ConfigError(f"无法读取配置文件 {path}：{exc.strerror}。") from exc


def locate(explicit: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """The config file to use, and a word saying how it was found (for `config check`)."""
    if explicit:
        return Path(explicit), "--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env), CONFIG_ENV
    local = Path.cwd() / "config.toml"
    if local.is_file():
        return local, "./config.toml"
    return None, "packaged default"


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find, read and validate the configuration; raise ConfigError naming every bad key."""
    path, how = locate(explicit)
    if path is None:
        text = resources.files("tracker.data").joinpath("default_config.toml").read_text("utf-8")
        raw = tomllib.loads(text)
        source, base_dir = "内置默认配置", Path.cwd()
    else:
        raw = _read_toml(path)
        source, base_dir = str(path), path.resolve().parent
    found = problems(raw)
    if found:
        raise ConfigError(f"配置文件 {source} 有 {len(found)} 处问题：\n  " + "\n  ".join(found))
    settings = Settings.model_validate(raw)
    override = os.environ.get(DATABASE_ENV)
    if override:
        settings.database.url = override
    return Config(settings=settings, source=f"{source}（{how}）" if path else source, base_dir=base_dir)
