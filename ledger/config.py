"""Settings read from the environment, with safe defaults for the embedded (laptop) mode.

Embedded default: a SQLite file under the working directory, in-memory stores, in-process tasks.
Production: set JIFEN_DATABASE_URL (PostgreSQL) and JIFEN_REDIS_URL.

This module is the one reader of the environment (`env()`): the API, the `jifen` command and
the Celery processes all read it here, after a `.env` file (JIFEN_ENV_FILE, default `./.env`)
has filled in what the real environment does not set (python-dotenv; the environment wins).
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

SECRET_KEY_BYTES = 32
TASK_MODES = ("inline", "celery")
ENV_FILE_ENV = "JIFEN_ENV_FILE"

_dotenv_lock = threading.Lock()
_dotenv_loaded: list[str] = []


def load_env_file(path: str | Path | None = None) -> Path | None:
    """Fill the environment from a `.env` file once per process (values already set win).
    Returns the file read, or None when there is none."""
    with _dotenv_lock:
        if _dotenv_loaded and path is None:
            return Path(_dotenv_loaded[0]) if _dotenv_loaded[0] else None
        chosen = Path(path or os.environ.get(ENV_FILE_ENV) or Path.cwd() / ".env")
        found = chosen if chosen.is_file() else None
        if found is not None:
            load_dotenv(found, override=False)
        _dotenv_loaded[:] = [str(found) if found else ""]
        return found


def env(name: str, default: str | None = None) -> str | None:
    """The one read of a setting from the environment (after the `.env` file); '' counts as
    unset."""
    load_env_file()
    return os.environ.get(name) or default


def export_default(name: str, value: str) -> str:
    """Set a setting for this process and the server processes it starts (`jifen serve --lan`
    names the public URL), unless the environment or `.env` names it already; the value in
    force."""
    load_env_file()
    return os.environ.setdefault(name, value)


def env_int(name: str, default: int) -> int:
    raw = env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def _data_dir() -> Path:
    return Path(env("JIFEN_DATA_DIR") or Path.cwd() / "var").resolve()


def _load_or_create_secret(data_dir: Path) -> str:
    """The secret key is never hard-coded: from the environment, or generated once and kept
    in a file readable only by its owner."""
    given = env("JIFEN_SECRET_KEY")
    if given:
        if len(given) < 32:
            raise ValueError("JIFEN_SECRET_KEY must be at least 32 characters")
        return given
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(SECRET_KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


@dataclass(frozen=True)
class SmsSettings:
    """The SMS gateway for sign-in codes (ledger/identity/sms.py). `provider` is 'log' (the
    embedded default: codes go to the log), 'aliyun', 'tencent', or 'package.module:factory'."""

    provider: str = "log"
    access_key_id: str = ""      # Alibaba AccessKeyId / Tencent SecretId
    access_key_secret: str = ""  # Alibaba AccessKeySecret / Tencent SecretKey
    sign_name: str = ""          # the approved signature (签名), e.g. 宝盖镇积分
    template_id: str = ""        # Alibaba TemplateCode (SMS_123) / Tencent TemplateId (123456)
    # Template variables in order: Alibaba gets {"code": …, "minutes": …} by these names,
    # Tencent gets them as TemplateParamSet in this order. Known names: code, minutes.
    template_params: tuple[str, ...] = ("code",)
    region: str = ""             # default cn-hangzhou (Alibaba) / ap-guangzhou (Tencent)
    sdk_app_id: str = ""         # Tencent SmsSdkAppId
    endpoint: str = ""           # the provider's default when empty (a local fake in tests)
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.provider in ("aliyun", "tencent"):
            missing = [n for n in ("access_key_id", "access_key_secret", "sign_name",
                                   "template_id") if not getattr(self, n)]
            if self.provider == "tencent" and not self.sdk_app_id:
                missing.append("sdk_app_id")
            if missing:
                raise ValueError(f"SMS provider {self.provider} needs "
                                 + ", ".join(f"JIFEN_SMS_{m.upper()}" for m in missing))
        unknown = set(self.template_params) - {"code", "minutes"}
        if unknown:
            raise ValueError(f"JIFEN_SMS_TEMPLATE_PARAMS: unknown names {sorted(unknown)}")


@dataclass(frozen=True)
class WechatSettings:
    """WeChat web authorization (公众号网页授权) for volunteers who open links inside WeChat
    (ledger/identity/wechat.py). Off unless JIFEN_WECHAT_APP_ID and _SECRET are set."""

    app_id: str = ""
    app_secret: str = ""
    scope: str = "snsapi_base"  # or snsapi_userinfo (asks the person; gives the nickname)
    authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    api_base: str = "https://api.weixin.qq.com"
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.scope not in ("snsapi_base", "snsapi_userinfo"):
            raise ValueError("JIFEN_WECHAT_SCOPE must be snsapi_base or snsapi_userinfo")

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.app_secret)


def load_sms_settings() -> SmsSettings:
    return SmsSettings(
        provider=env("JIFEN_OTP_SENDER", "log"),
        access_key_id=env("JIFEN_SMS_ACCESS_KEY_ID", ""),
        access_key_secret=env("JIFEN_SMS_ACCESS_KEY_SECRET", ""),
        sign_name=env("JIFEN_SMS_SIGN_NAME", ""),
        template_id=env("JIFEN_SMS_TEMPLATE_ID", ""),
        template_params=tuple(p.strip() for p in env("JIFEN_SMS_TEMPLATE_PARAMS", "code")
                              .split(",") if p.strip()),
        region=env("JIFEN_SMS_REGION", ""),
        sdk_app_id=env("JIFEN_SMS_SDK_APP_ID", ""),
        endpoint=env("JIFEN_SMS_ENDPOINT", ""),
    )


def load_wechat_settings() -> WechatSettings:
    defaults = WechatSettings()
    return WechatSettings(
        app_id=env("JIFEN_WECHAT_APP_ID", ""), app_secret=env("JIFEN_WECHAT_APP_SECRET", ""),
        scope=env("JIFEN_WECHAT_SCOPE", defaults.scope),
        authorize_url=env("JIFEN_WECHAT_AUTHORIZE_URL", defaults.authorize_url),
        api_base=env("JIFEN_WECHAT_API_BASE", defaults.api_base).rstrip("/"),
    )


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_dir: Path
    public_base_url: str = "http://127.0.0.1:8000"
    # A village budget is split into this many sub-accounts so that parallel awards do not
    # queue on one row (see docs/ledger.md, "the hot budget").
    budget_shards: int = 8
    token_ttl_s: int = 12 * 3600
    # Where work that follows a commit runs: "inline" (in this process, after the commit; the
    # embedded default) or "celery" (sent to the workers through Redis; the default when
    # JIFEN_REDIS_URL is set). See docs/workers.md.
    tasks: str = "inline"
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (JIFEN_TRUSTED_PROXIES, comma-separated). None by default: per-address rate limits then
    # count the connecting address, which a local process cannot forge.
    trusted_proxies: tuple[str, ...] = ()
    celery_queue: str = "jifen"
    celery_visibility_s: int = 3600
    # The niceness the Celery worker and beat take at start (JIFEN_WORKER_NICE, 0-19): on a
    # box they share with the API, a request is served before background work (points, stars,
    # exports) gets the cores; on a box of their own it changes nothing. 0 leaves it.
    worker_nice: int = 10
    # Nightly backups (workers: jifen.backup.nightly): where, and how many days are kept.
    backup_dir: Path | None = None
    backup_keep_days: int = 14
    # PROMETHEUS_MULTIPROC_DIR: several API workers and the Celery processes on one box
    # report through this directory as one (api/observability.py).
    metrics_dir: Path | None = None
    sms: SmsSettings = field(default_factory=SmsSettings)
    wechat: WechatSettings = field(default_factory=WechatSettings)

    def __post_init__(self) -> None:
        if self.tasks not in TASK_MODES:
            raise ValueError(f"JIFEN_TASKS must be one of {', '.join(TASK_MODES)}")
        if self.tasks == "celery" and not self.redis_url:
            raise ValueError("JIFEN_TASKS=celery needs JIFEN_REDIS_URL (the broker)")
        if self.backup_dir is None:  # frozen: set once, here
            object.__setattr__(self, "backup_dir", Path(self.data_dir) / "backups")
        if not 0 <= self.worker_nice <= 19:
            raise ValueError("JIFEN_WORKER_NICE must be between 0 and 19")
        if self.backup_keep_days < 1:
            raise ValueError("JIFEN_BACKUP_KEEP_DAYS must be at least 1")

    def uvicorn_proxy_options(self) -> dict:
        """How `jifen serve` tells uvicorn whom to believe about the client's address."""
        if not self.trusted_proxies:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": ",".join(self.trusted_proxies)}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@dataclass(frozen=True)
class PostingSettings:
    """What posting an award reads of the settings, carried in an outbox task's arguments (a
    check-out's points: ledger/activities/awards.py) to whichever process runs it."""

    budget_shards: int


def load_settings() -> Settings:
    data_dir = _data_dir()
    db_url = env("JIFEN_DATABASE_URL")
    if not db_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{data_dir / 'jifen.sqlite3'}"
    if db_url.startswith("postgresql://") or db_url.startswith("postgres://"):
        db_url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    redis_url = env("JIFEN_REDIS_URL")
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        tasks=env("JIFEN_TASKS") or ("celery" if redis_url else "inline"),
        secret_key=_load_or_create_secret(data_dir),
        data_dir=data_dir,
        public_base_url=env("JIFEN_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        budget_shards=env_int("JIFEN_BUDGET_SHARDS", 8),
        token_ttl_s=env_int("JIFEN_TOKEN_TTL_S", 12 * 3600),
        trusted_proxies=tuple(a.strip() for a in env("JIFEN_TRUSTED_PROXIES", "").split(",")
                              if a.strip()),
        celery_queue=env("JIFEN_CELERY_QUEUE", "jifen"),
        celery_visibility_s=env_int("JIFEN_CELERY_VISIBILITY_S", 3600),
        worker_nice=env_int("JIFEN_WORKER_NICE", 10),
        backup_dir=Path(env("JIFEN_BACKUP_DIR") or data_dir / "backups").resolve(),
        backup_keep_days=env_int("JIFEN_BACKUP_KEEP_DAYS", 14),
        metrics_dir=metrics_dir(),
        sms=load_sms_settings(),
        wechat=load_wechat_settings(),
    )


def metrics_dir() -> Path | None:
    """prometheus_client reads PROMETHEUS_MULTIPROC_DIR itself when it is imported; this is the
    same value, for the code that must know whether multiprocess mode is on."""
    raw = env("PROMETHEUS_MULTIPROC_DIR")
    return Path(raw) if raw else None
