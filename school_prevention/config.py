"""Configuration from the environment, with embedded defaults for a first development run."""

from __future__ import annotations

import os
import secrets
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import ClassVar

from cryptography.fernet import Fernet

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("SP_INSTANCE_PATH", PROJECT_ROOT / "instance"))


class ConfigError(RuntimeError):
    """Raised when the app cannot start safely with the configuration it was given."""


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None


def _env_clock(name: str, default: str) -> time:
    """A time of day written HH:MM (24-hour clock)."""
    value = os.environ.get(name, "").strip() or default
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        raise ConfigError(f"{name} must be a time of day written HH:MM (for example 07:30), not {value!r}.") from None


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _env_weekdays(name: str, default: str) -> tuple[int, ...]:
    """Days of the week written as names or ranges ("Mon-Fri", "Mon,Tue,Thu"), as 0 (Monday) to 6."""
    value = os.environ.get(name, "").strip() or default
    days: set[int] = set()
    try:
        for part in value.lower().split(","):
            first, _, last = part.strip().partition("-")
            start, end = WEEKDAY_NAMES.index(first.strip()[:3]), WEEKDAY_NAMES.index((last or first).strip()[:3])
            if end < start:
                raise ValueError(part)
            days.update(range(start, end + 1))
    except ValueError:
        raise ConfigError(
            f"{name} must name days of the week, for example Mon-Fri or Mon,Tue,Thu, not {value!r}."
        ) from None
    return tuple(sorted(days))


def _instance_secret(name: str, make) -> str:
    """Read a development secret from instance/, creating it (mode 0600) on first run."""
    path = INSTANCE_DIR / name
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only_instance()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


class Config:
    """Settings shared by every environment; values come from the environment when set."""

    ENV_NAME = "development"
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_NAME = "sp_session"
    # The absolute lifetime; the idle limit is enforced server-side in auth.sessions.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # The cookie is not signed again on every response: the server enforces the idle and absolute
    # limits (auth.sessions), and re-signing cost every page measurable CPU.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    REMEMBER_COOKIE_DURATION = timedelta(0)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session, which already expires
    SIGNIN_FAILURE_LIMIT = "10/minute"
    # Wrong second-factor codes, per account and per address (a six-digit code has a million values).
    SECOND_FACTOR_FAILURE_LIMIT = "5/minute"
    # Between the password (or the provider) and the second factor, at most this long.
    SECOND_FACTOR_PENDING_TIMEOUT = timedelta(minutes=10)
    RATELIMIT_HEADERS_ENABLED = False
    PASSWORD_MIN_LENGTH = 12
    PASSWORD_MAX_LENGTH = 128
    STUDENTS_PER_PAGE = 50
    MAX_CONTENT_LENGTH = 512 * 1024 * 1024  # a district's OneRoster zip
    ROSTER_BATCH_SIZE = 2000  # users.csv rows validated and written together

    def __init__(self) -> None:
        env = os.environ
        self.SQLALCHEMY_DATABASE_URI = _normalise_db_url(
            env.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'school_prevention.db'}"
        )
        self.SP_TIMEZONE = env.get("SP_TIMEZONE", "America/Chicago")
        self.SP_SUPPRESSION_MIN_N = int(env.get("SP_SUPPRESSION_MIN_N", "10"))
        # A mentor whose background check is older than this many months cannot be matched.
        self.SP_MENTOR_CHECK_MONTHS = int(env.get("SP_MENTOR_CHECK_MONTHS", "12"))
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI", "memory://")
        self.MAIL_SERVER = env.get("MAIL_SERVER")
        self.MAIL_PORT = int(env.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME")
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD")
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER", "no-reply@localhost")
        # Links in emails and calendar entries point here.
        self.SP_BASE_URL = env.get("SP_BASE_URL", "http://127.0.0.1:5000")
        self.SP_MAIL_DOMAIN = env.get("SP_MAIL_DOMAIN", "school-prevention.local")
        # A student's check-ins overdue this many days are escalated to the school's principals.
        self.SP_ESCALATION_DAYS = int(env.get("SP_ESCALATION_DAYS", "7"))
        self.SP_TRUSTED_PROXIES = int(env.get("SP_TRUSTED_PROXIES", "0"))
        # Numbers shown on every awareness page and the staff home ("Whom to call").
        self.SP_HOTLINE_NUMBER = env.get("SP_HOTLINE_NUMBER", "1-888-373-7888").strip()
        # Single sign-on (OpenID Connect, docs/sso.md): on when an issuer and a client id are set.
        self.SP_OIDC_ISSUER = env.get("SP_OIDC_ISSUER", "").strip().rstrip("/")
        self.SP_OIDC_CLIENT_ID = env.get("SP_OIDC_CLIENT_ID", "").strip()
        self.SP_OIDC_CLIENT_SECRET = env.get("SP_OIDC_CLIENT_SECRET", "").strip()
        # The button's wording: "Sign in with Google", "Sign in with Microsoft".
        self.SP_OIDC_PROVIDER_NAME = env.get("SP_OIDC_PROVIDER_NAME", "your district account").strip()
        # Comma-separated email domains allowed to sign in this way (empty: any domain of an account).
        self.SP_OIDC_ALLOWED_DOMAINS = [
            d.strip().lower().lstrip("@") for d in env.get("SP_OIDC_ALLOWED_DOMAINS", "").split(",") if d.strip()
        ]
        # amr values (RFC 8176) that count as a second factor done by the provider.
        self.SP_OIDC_MFA_AMR = [
            v.strip()
            for v in env.get("SP_OIDC_MFA_AMR", "mfa,otp,hwk,swk,sc,sms,tel,pop,fpt,face,iris,retina").split(",")
            if v.strip()
        ]
        # Whether case-data accounts must use a second factor (auth/twofactor.py). Only load tests turn
        # it off (bench/scale_out.py), so that scripted browsers sign in with the password alone.
        self.SP_SECOND_FACTOR_REQUIRED = _env_bool("SP_SECOND_FACTOR_REQUIRED", True)
        # Name shown in authenticator apps next to the account.
        self.SP_TOTP_ISSUER = env.get("SP_TOTP_ISSUER", "School Prevention").strip()
        self.SP_CHILD_WELFARE_NUMBER = env.get("SP_CHILD_WELFARE_NUMBER", "1-800-422-4453").strip()
        # How often a standby scheduler checks whether the running one has gone.
        self.SP_SCHEDULER_STANDBY_SECONDS = float(env.get("SP_SCHEDULER_STANDBY_SECONDS", "15"))
        # Urgent referrals: one nobody has opened after this many minutes of school time is told to the
        # school's principals by email (referrals.jobs). School time is SP_SCHOOL_DAY_START to
        # SP_SCHOOL_DAY_END in SP_TIMEZONE on SP_SCHOOL_WEEKDAYS, less the non-school days of the calendar.
        self.SP_URGENT_REFERRAL_MINUTES = _env_int("SP_URGENT_REFERRAL_MINUTES", 60)
        if self.SP_URGENT_REFERRAL_MINUTES < 1:
            raise ConfigError("SP_URGENT_REFERRAL_MINUTES must be at least 1.")
        self.SP_SCHOOL_DAY_START = _env_clock("SP_SCHOOL_DAY_START", "07:30")
        self.SP_SCHOOL_DAY_END = _env_clock("SP_SCHOOL_DAY_END", "16:00")
        if self.SP_SCHOOL_DAY_END <= self.SP_SCHOOL_DAY_START:
            raise ConfigError("SP_SCHOOL_DAY_END must be later than SP_SCHOOL_DAY_START.")
        self.SP_SCHOOL_WEEKDAYS = _env_weekdays("SP_SCHOOL_WEEKDAYS", "Mon-Fri")
        # The counselor account (its email) that hears of referrals from a school with no active counselor.
        self.SP_DISTRICT_COUNSELOR_EMAIL = env.get("SP_DISTRICT_COUNSELOR_EMAIL", "").strip().lower() or None
        # A parent inspection's export includes restricted (encrypted narrative) notes only when this is on.
        self.SP_INSPECTION_INCLUDES_RESTRICTED_NOTES = _env_bool("SP_INSPECTION_INCLUDES_RESTRICTED_NOTES", False)
        self.SECRET_KEY = env.get("SECRET_KEY")
        self.SP_DATA_KEY = env.get("SP_DATA_KEY")
        # Seals the audit trail's hash chain (audit_chain.py); derived from SECRET_KEY when unset.
        self.SP_AUDIT_KEY = env.get("SP_AUDIT_KEY") or None
        self.load_secrets()

    def load_secrets(self) -> None:
        """Development: generate missing secrets into instance/ so a first run just works."""
        if not self.SECRET_KEY:
            self.SECRET_KEY = _instance_secret("secret_key", lambda: secrets.token_urlsafe(48))
        if not self.SP_DATA_KEY:
            self.SP_DATA_KEY = _instance_secret("data_key", lambda: Fernet.generate_key().decode())


class ProductionConfig(Config):
    """Production: secrets must come from the environment and cookies need HTTPS."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True

    def __init__(self) -> None:
        super().__init__()
        self.refuse_unshared_limits()

    def refuse_unshared_limits(self) -> None:
        """Sign-in limits kept in memory count per process: with several, each allows the whole limit.

        Ten tries a minute would become ten per gunicorn worker and per server, and a sign-in
        throttled by one would pass on the next. WEB_CONCURRENCY is the worker count (gunicorn.conf.py
        exports the one it runs with); SP_APP_SERVERS the number of app servers behind the proxy.
        """
        workers, servers = _env_int("WEB_CONCURRENCY", 1), _env_int("SP_APP_SERVERS", 1)
        if self.RATELIMIT_STORAGE_URI.strip().lower().startswith("memory://") and (workers > 1 or servers > 1):
            raise ConfigError(
                f"Refusing to start in production with sign-in limits in memory (RATELIMIT_STORAGE_URI="
                f"{self.RATELIMIT_STORAGE_URI}) and more than one process serving (WEB_CONCURRENCY={workers} "
                f"workers, SP_APP_SERVERS={servers} servers): each process would count failed sign-ins on "
                "its own and allow the whole limit. "
                "Set RATELIMIT_STORAGE_URI to a Redis every worker and server shares, for example "
                "redis://127.0.0.1:6379, or run a single worker on a single server."
            )

    def load_secrets(self) -> None:
        missing = [n for n in ("SECRET_KEY", "SP_DATA_KEY") if not getattr(self, n)]
        if missing:
            raise ConfigError(
                "Refusing to start in production without "
                + " and ".join(missing)
                + ". Set them in the environment: SECRET_KEY to a long random string, "
                "SP_DATA_KEY to a Fernet key (python -c 'from cryptography.fernet import "
                "Fernet; print(Fernet.generate_key().decode())'). Keep SP_DATA_KEY safe: "
                "restricted notes cannot be read without it."
            )
        if not os.environ.get("DATABASE_URL"):
            raise ConfigError("Refusing to start in production without DATABASE_URL.")
        for name in ("SECRET_KEY", "SP_AUDIT_KEY"):
            value = getattr(self, name)
            if value is not None and not strong_secret(value):
                raise ConfigError(
                    f"Refusing to start in production with a weak {name}: it must be at least "
                    f"{MIN_SECRET_LENGTH} characters of random text (for example python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'), not a word, a phrase or a repeated pattern."
                )
        weak = [k for k in str(self.SP_DATA_KEY).split(",") if k.strip() and not strong_data_key(k.strip())]
        if weak:
            raise ConfigError(
                "Refusing to start in production with an SP_DATA_KEY that is not a random Fernet key: make one "
                "with python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
            )
        _owner_only_instance()


MIN_SECRET_LENGTH = 32


def strong_secret(value: str) -> bool:
    """Long and varied enough to be random, not typed: at least 32 characters, many of them
    different, and no character making up a quarter of it."""
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH or len(set(value)) < 16:
        return False
    return max(value.count(c) for c in set(value)) <= len(value) // 4


def strong_data_key(value: str) -> bool:
    """A Fernet key (32 bytes, url-safe base64) whose bytes look random (not 32 copies of one byte)."""
    import base64

    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (ValueError, TypeError):
        return False
    return len(raw) == 32 and len(set(raw)) >= 16


def _owner_only_instance() -> None:
    """instance/ holds development secrets and perhaps the SQLite database: only its owner may read it."""
    if INSTANCE_DIR.exists() and INSTANCE_DIR.stat().st_mode & 0o077:
        INSTANCE_DIR.chmod(0o700)


class TestConfig(Config):
    """Tests: fixed secrets, no CSRF by default (tests that check CSRF switch it back on)."""

    __test__ = False  # not a pytest test class
    ENV_NAME = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = False
    # Cheap hashing keeps the suite fast; production uses argon2-cffi's recommended parameters.
    PASSWORD_HASH_PARAMS: ClassVar[dict[str, int]] = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}

    def __init__(self, database_url: str = "sqlite://") -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = _normalise_db_url(database_url)
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.MAIL_SERVER = None  # tests that send email point this at their own SMTP server

    def load_secrets(self) -> None:
        self.SECRET_KEY = "test-secret-key-not-for-production"
        self.SP_DATA_KEY = "Ab1_9fKxLd2Qm0s3cYt7rTWtqGZbq3o8Gq0vW3m1JZk="


def _normalise_db_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs, as hosting providers hand them out."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def config_from_env() -> Config:
    """The configuration selected by SP_ENV (development by default, or production)."""
    name = os.environ.get("SP_ENV", "development").strip().lower()
    if name == "production":
        return ProductionConfig()
    if name in {"development", "dev", ""}:
        return Config()
    raise ConfigError(f"SP_ENV must be 'development' or 'production', not {name!r}.")
