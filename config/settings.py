"""Application settings: one TOML file plus environment overrides, read once, passed explicitly.

The file comes from the ``path`` argument, else ``DEROGATION_INTAKE_CONFIG``, else the embedded
``config/default.toml``. Every key can be overridden by ``DEROGATION_INTAKE_<SECTION>__<KEY>``
and, for a mailbox, ``DEROGATION_INTAKE_MAILBOXES__<NAME>__<KEY>``. Path values may use the
``{data_dir}`` placeholder; relative paths are taken from the current directory.

Every problem of a file is reported, not only the first. The mailbox and SMTP secrets are
resolved only when asked (``secrets=True``: the commands that connect to those servers); the
database password is read each time a database URL is built (``database_password``).
"""

from __future__ import annotations

import hmac
import os
import re
import string
import tomllib
import typing
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.profile_folders import PROFILES_DIR, profile_root
from config.rulefile import locate_key, read_toml
from config.triage_rules_load import load_case_ref_pattern

ENV_PREFIX = "DEROGATION_INTAKE_"
CONFIG_ENV = "DEROGATION_INTAKE_CONFIG"
DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
MASK = "********"
URL_MASK = "***"
DATA_DIR_PLACEHOLDER = "{data_dir}"
# scheme://user:password@host: the password part, wherever a URL appears in a text.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@\s]*)@")

_MAILBOX_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")
# What may stand in a From header and a Message-ID without quoting: no space, no line break.
_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_PLAIN_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_IMAP_PORTS = {"tls": 993, "starttls": 143, "plain": 143}
_SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}


class Secret:
    """A password or token: prints as ******** so that it never reaches a log."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, for the one call that needs it (a login)."""
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(MASK)


def _enum(default: str, *choices: str) -> Any:
    """A field whose value must be one of the choices."""
    return field(default=default, metadata={"choices": choices})


def _bounded(default: int, low: int, high: int | None = None) -> Any:
    """An integer field with an inclusive range."""
    return field(default=default, metadata={"min": low, "max": high})


@dataclass(frozen=True)
class GeneralSettings:
    """Where the data lives and how the agency names itself and its cases."""

    data_dir: Path = Path("var")
    case_ref_prefix: str = "DRG"
    case_ref_format: str = "{prefix}-{year}-{seq:06d}"
    our_address: str = "derogation.meddev@fagg-afmps.be"
    our_domain: str = ""
    timezone: str = "Europe/Brussels"
    log_level: str = _enum("INFO", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    # The folder of authority profiles (<profiles_dir>/<profile>/): the administrators' own
    # copy outside the package survives an upgrade (`rules init DIR` starts one).
    profiles_dir: Path = PROFILES_DIR
    log_format: str = _enum("text", "text", "json")
    # DEBUG lines may show applicants' addresses in full only when this says so.
    log_debug_addresses: bool = False


@dataclass(frozen=True)
class DatabaseSettings:
    """The database URL (an empty URL means SQLite under data_dir) and where its password is."""

    url: str = ""
    password_env: str = ""
    password_file: Path | None = None
    password: Secret | None = None


@dataclass(frozen=True)
class MailboxSettings:
    """One mailbox to read: an IMAP folder or a local Maildir."""

    name: str
    type: str = _enum("imap", "imap", "maildir")
    profile: str = "famhp"
    path: Path | None = None
    host: str = ""
    port: int = _bounded(0, 0, 65535)
    security: str = _enum("tls", "tls", "starttls", "plain")
    tls_ca_file: Path | None = None
    username: str = ""
    auth: str = _enum("password", "password", "xoauth2")
    password_env: str = ""
    password_file: Path | None = None
    password: Secret | None = None
    oauth2_token_command: str = ""
    oauth2_token_file: Path | None = None
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    attention_folder: str = "Needs-attention"
    on_success: str = _enum("move", "move", "flag")
    flag_keyword: str = "$Filed"
    poll_interval_seconds: int = _bounded(60, 1)
    sent_folder: str = ""
    idle: bool = True
    timeout_seconds: int = _bounded(60, 1)


@dataclass(frozen=True)
class SmtpSettings:
    """How acknowledgements leave: an SMTP relay, or a local outbox Maildir."""

    mode: str = _enum("maildir", "smtp", "maildir")
    host: str = ""
    port: int = _bounded(0, 0, 65535)
    security: str = _enum("starttls", "tls", "starttls", "plain")
    tls_ca_file: Path | None = None
    username: str = ""
    auth: str = _enum("password", "password", "xoauth2")
    password_env: str = ""
    password_file: Path | None = None
    password: Secret | None = None
    oauth2_token_command: str = ""
    oauth2_token_file: Path | None = None
    timeout_seconds: int = _bounded(30, 1)
    outbox_maildir: Path = Path("{data_dir}/outbox")


@dataclass(frozen=True)
class RepliesSettings:
    """When acknowledgements are held back, throttled or retried."""

    hold: bool = False
    per_profile_hold: tuple[str, ...] = ()
    rate_limit_count: int = _bounded(5, 0)  # per address, +tags and case folded
    rate_limit_domain_count: int = _bounded(30, 0)  # per recipient domain
    rate_limit_window_minutes: int = _bounded(60, 1)
    block_list: tuple[str, ...] = ()
    # RFC 3834 section 4: an automatic reply goes to the author (From), never to an unverified
    # Reply-To that anyone may set to a third party's address; true restores Reply-To.
    answer_reply_to: bool = False
    retry_base_seconds: int = _bounded(60, 1)
    retry_max_attempts: int = _bounded(10, 1)
    # How often `run` looks for acknowledgements whose retry is due (besides after a poll).
    outbox_pass_seconds: int = _bounded(30, 1)


@dataclass(frozen=True)
class ExtractionSettings:
    """Limits for reading attachments; workers 0 means one per CPU core."""

    workers: int = _bounded(0, 0)
    max_attachment_mb: int = _bounded(60, 1)
    zip_max_depth: int = _bounded(2, 0)
    zip_max_members: int = _bounded(200, 1)
    zip_max_total_mb: int = _bounded(300, 1)
    zip_max_ratio: int = _bounded(100, 1)
    # A PDF whose streams decode past these is a "decompression_bomb": kept, flagged, not read.
    pdf_max_stream_mb: int = _bounded(64, 1)
    pdf_max_decoded_mb: int = _bounded(128, 1)
    # Words with positions (the slow reading) for at most this many pages of one PDF, and
    # never for a page whose plain text is longer than this (densely printed, not a form).
    pdf_max_word_pages: int = _bounded(10, 1)
    pdf_max_page_chars: int = _bounded(20_000, 1)
    # OCR of scanned pages and images (Tesseract): off, or per document at most this many
    # pages and seconds; pages are rendered at ocr_dpi; a page whose mean word confidence is
    # under ocr_min_confidence (0-100) counts as not read well.
    ocr: bool = True
    ocr_max_pages: int = _bounded(6, 1, 100)
    ocr_max_seconds: int = _bounded(120, 1)
    ocr_dpi: int = _bounded(200, 72, 600)
    ocr_min_confidence: int = _bounded(60, 0, 100)
    # Wall-clock seconds a worker may spend reading one message before it is killed.
    message_budget_seconds: int = _bounded(300, 1)
    # Lost workers (died, or killed over budget) a message may cost before Needs-attention.
    max_attempts: int = _bounded(3, 1)

    def worker_count(self) -> int:
        """Return the number of extraction workers to start."""
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True)
class ReportsSettings:
    """The daily digest and where reports are written."""

    digest_to: str = ""
    digest_time: str = "07:30"
    output_dir: Path = Path("{data_dir}/reports")


@dataclass(frozen=True)
class WebSettings:
    """The reviewers' workspace (`serve`): where it listens, its key, sessions, deadlines."""

    host: str = "127.0.0.1"
    port: int = _bounded(8080, 1, 65535)
    # The address reviewers open (https://...): links in the digest, Secure cookies.
    public_base_url: str = ""
    secret_key_env: str = ""
    secret_key_file: Path | None = None
    secret_key: Secret | None = None
    session_hours: int = _bounded(8, 1, 24 * 30)
    login_attempts: int = _bounded(5, 1)
    login_window_minutes: int = _bounded(15, 1)
    # An agency SSO proxy's header naming the logged-in account; empty: off.
    trusted_header: str = ""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Target days from a complete request to a decision, per profile: "famhp=60".
    decision_days: tuple[str, ...] = ()

    def decision_days_of(self, profile: str) -> int | None:
        """Return the target number of days to a decision for a profile, or None."""
        for entry in self.decision_days:
            name, _, days = entry.partition("=")
            if name.strip() == profile:
                return int(days)
        return None


@dataclass(frozen=True)
class ObservabilitySettings:
    """Where `run` answers /healthz, /readyz and /metrics (port 0: not served)."""

    host: str = "127.0.0.1"
    port: int = _bounded(0, 0, 65535)


@dataclass(frozen=True)
class Settings:
    """Everything the application reads at start-up."""

    general: GeneralSettings
    database: DatabaseSettings
    mailboxes: tuple[MailboxSettings, ...]
    smtp: SmtpSettings
    replies: RepliesSettings
    extraction: ExtractionSettings
    reports: ReportsSettings
    web: WebSettings = field(default_factory=WebSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    config_path: Path = DEFAULT_CONFIG

    def mailbox(self, name: str) -> MailboxSettings:
        """Return the mailbox of that name, or raise ConfigError."""
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise ConfigError(f"no mailbox named '{name}'", path=str(self.config_path))


_SECTIONS: dict[str, type] = {
    "general": GeneralSettings,
    "database": DatabaseSettings,
    "smtp": SmtpSettings,
    "replies": RepliesSettings,
    "extraction": ExtractionSettings,
    "reports": ReportsSettings,
    "web": WebSettings,
    "observability": ObservabilitySettings,
}
_KINDS: dict[Any, str] = {
    str: "str", int: "int", bool: "bool", Path: "path", Path | None: "optpath",
    tuple[str, ...]: "list", Secret | None: "secret",
}


def _kinds(cls: type) -> dict[str, str]:
    """Return key -> kind (str, int, bool, path, optpath, list, secret) for a section."""
    hints = typing.get_type_hints(cls)
    return {f.name: _KINDS[hints[f.name]] for f in fields(cls) if f.name != "name"}


class _Context:
    """Where each value came from, so that an error names the file line or the variable."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.from_env: dict[str, str] = {}
        self.errors: list[ConfigError] = []

    @contextmanager
    def gather(self) -> Iterator[None]:
        """Record a ConfigError raised in the block and go on, so that all are reported."""
        try:
            yield
        except ConfigError as exc:
            self.errors.append(exc)

    def raise_errors(self) -> None:
        """Raise the one error found, or all of them as one SettingsErrors."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SettingsErrors(tuple(self.errors))

    def error(self, dotted: str, reason: str) -> ConfigError:
        """Build a ConfigError for a dotted key, naming its env variable or its file line."""
        variable = self.from_env.get(dotted)
        if variable is not None:
            return ConfigError(reason, path="environment", key=variable)
        return ConfigError(reason, path=str(self.path), line=locate_key(self.path, dotted),
                           key=dotted)


class SettingsErrors(ConfigError):
    """Several problems in the settings, each with its file, line and key."""

    def __init__(self, errors: tuple[ConfigError, ...]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} problems", path=errors[0].path)

    def describe(self) -> str:
        """Return one 'path:line: key: reason' line per problem."""
        return "\n".join(error.describe() for error in self.errors)


def load_settings(path: Path | None = None, env: Mapping[str, str] = os.environ, *,
                  secrets: bool = True) -> Settings:
    """Read the settings file, apply the environment overrides, validate and return them.

    With ``secrets=False`` the mailbox and SMTP passwords are not looked up (their sources
    are still checked to be given): for the commands that do not connect to those servers.
    """
    config_path = _config_path(path, env)
    raw = read_toml(config_path)
    context = _Context(config_path, env)
    _check_sections(raw, context)
    _apply_env(raw, context)
    general = _general(raw.get("general", {}), context)
    data_dir = general.data_dir
    mailboxes = _mailboxes(raw.get("mailboxes", {}), context, data_dir, secrets)
    with context.gather():
        _check_ref_pattern(general, mailboxes, context)
    settings = Settings(
        general=general,
        database=_database(raw.get("database", {}), context, data_dir),
        mailboxes=mailboxes,
        smtp=_smtp(raw.get("smtp", {}), context, data_dir, secrets),
        replies=_section(RepliesSettings, raw.get("replies", {}), "replies", context, data_dir),
        extraction=_section(ExtractionSettings, raw.get("extraction", {}), "extraction",
                            context, data_dir),
        reports=_reports(raw.get("reports", {}), context, data_dir),
        web=_web(raw.get("web", {}), context, data_dir),
        observability=_section(ObservabilitySettings, raw.get("observability", {}),
                               "observability", context, data_dir),
        config_path=config_path,
    )
    if secrets:
        with context.gather():
            _database_secret(settings.database, context)
    context.raise_errors()
    return settings


def _config_path(path: Path | None, env: Mapping[str, str]) -> Path:
    """Pick the settings file: argument, then environment, then the embedded default."""
    if path is not None:
        return Path(path)
    named = env.get(CONFIG_ENV, "")
    return Path(named) if named else DEFAULT_CONFIG


def _check_sections(raw: dict[str, Any], context: _Context) -> None:
    """Refuse unknown sections and sections that are not tables."""
    known = {*_SECTIONS, "mailboxes"}
    for name, value in list(raw.items()):
        if name not in known:
            context.errors.append(context.error(name, f"unknown section '{name}' "
                                                      f"(allowed: {', '.join(sorted(known))})"))
        elif not isinstance(value, dict):
            context.errors.append(context.error(name, f"'{name}' must be a table"))
        else:
            continue
        del raw[name]  # reported: the other sections are still checked


# --- environment overrides -------------------------------------------------------------------

def _apply_env(raw: dict[str, Any], context: _Context) -> None:
    """Write every DEROGATION_INTAKE_<SECTION>__<KEY> variable into the raw tables."""
    for variable in sorted(context.env):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue
        with context.gather():
            _apply_variable(raw, variable, context)


def _apply_variable(raw: dict[str, Any], variable: str, context: _Context) -> None:
    """Write one override variable into the raw tables."""
    parts = [p.lower() for p in variable[len(ENV_PREFIX):].split("__")]
    table, key, cls = _env_target(raw, parts, variable)
    dotted = ".".join(parts)
    context.from_env[dotted] = variable
    kinds = _kinds(cls)
    if key not in kinds:
        raise context.error(dotted, f"unknown key '{key}' (allowed: {', '.join(kinds)})")
    table[key] = _from_env_text(context.env[variable], kinds[key], context, dotted)


def _env_target(raw: dict[str, Any], parts: list[str],
                variable: str) -> tuple[dict[str, Any], str, type]:
    """Return the raw table, key and section class that an override variable addresses."""
    if parts[0] == "mailboxes" and len(parts) == 3:
        mailbox = raw.setdefault("mailboxes", {}).setdefault(parts[1], {})
        if isinstance(mailbox, dict):
            return mailbox, parts[2], MailboxSettings
    if parts[0] in _SECTIONS and len(parts) == 2:
        return raw.setdefault(parts[0], {}), parts[1], _SECTIONS[parts[0]]
    raise ConfigError("not a known setting: use DEROGATION_INTAKE_<SECTION>__<KEY> or "
                      "DEROGATION_INTAKE_MAILBOXES__<NAME>__<KEY>",
                      path="environment", key=variable)


def _from_env_text(text: str, kind: str, context: _Context, dotted: str) -> Any:
    """Convert an environment string to the key's type."""
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise context.error(dotted, f"must be an integer, not '{text}'") from None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise context.error(dotted, f"must be true or false, not '{text}'")
        return lowered in _TRUE
    if kind == "list":
        return _env_list(text, context, dotted)
    return text


def _env_list(text: str, context: _Context, dotted: str) -> list[str]:
    """Read a list from the environment: a TOML array, or comma-separated words."""
    if not text.strip().startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise context.error(dotted, f"not a valid list: {exc}") from exc
    if not isinstance(value, list):
        raise context.error(dotted, "must be a list of strings")
    return value


# --- sections ------------------------------------------------------------------------------

def _section(cls: type, table: Mapping[str, Any], where: str, context: _Context,
             data_dir: Path, extra: Mapping[str, Any] | None = None) -> Any:
    """Check a raw table against a section class and build the section."""
    kinds = _kinds(cls)
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = dict(extra or {})
    for key, value in table.items():
        dotted = f"{where}.{key}"
        with context.gather():  # a wrong key keeps its default; the others are still checked
            if key not in kinds:
                raise context.error(dotted,
                                    f"unknown key '{key}' (allowed: {', '.join(kinds)})")
            checked = _check_value(value, kinds[key], known[key].metadata, context, dotted)
            values[key] = _convert(checked, kinds[key], data_dir)
    for key, kind in kinds.items():
        if kind == "path" and key not in values and isinstance(known[key].default, Path):
            values[key] = _convert(str(known[key].default), kind, data_dir)
    return cls(**values)


def _check_value(value: Any, kind: str, metadata: Mapping[str, Any], context: _Context,
                 dotted: str) -> Any:
    """Check one value's type, choices and range; return it unchanged."""
    if not _is_kind(value, kind):
        name = {"str": "a string", "int": "an integer", "bool": "true or false",
                "path": "a path string", "optpath": "a path string", "secret": "a string",
                "list": "a list of strings"}
        raise context.error(dotted, f"must be {name[kind]}, not {type(value).__name__}")
    if kind == "list" and not all(isinstance(item, str) for item in value):
        raise context.error(dotted, "must be a list of strings")
    if kind == "path" and not value.strip():
        raise context.error(dotted, "must not be empty")
    _check_choice(value, metadata, context, dotted)
    _check_range(value, metadata, context, dotted)
    return value


def _is_kind(value: Any, kind: str) -> bool:
    """Tell whether a raw TOML value has the type a kind of key needs."""
    wanted = {"str": str, "int": int, "bool": bool, "path": str, "optpath": str, "secret": str,
              "list": list}
    return isinstance(value, wanted[kind]) and not (kind == "int" and isinstance(value, bool))


def _check_choice(value: Any, metadata: Mapping[str, Any], context: _Context,
                  dotted: str) -> None:
    """Refuse a value outside the field's choices."""
    choices = metadata.get("choices")
    if choices and value not in choices:
        raise context.error(dotted, f"must be one of {'|'.join(choices)}, not '{value}'")


def _check_range(value: Any, metadata: Mapping[str, Any], context: _Context,
                 dotted: str) -> None:
    """Refuse an integer outside the field's range."""
    low, high = metadata.get("min"), metadata.get("max")
    if low is not None and value < low:
        raise context.error(dotted, f"must be at least {low}, not {value}")
    if high is not None and value > high:
        raise context.error(dotted, f"must be at most {high}, not {value}")


def _convert(value: Any, kind: str, data_dir: Path) -> Any:
    """Turn a checked raw value into the field's type."""
    if kind == "path":
        return _to_path(value, data_dir)
    if kind == "optpath":
        # An empty string is how a TOML file says "no file here".
        return _to_path(value, data_dir) if value.strip() else None
    if kind == "list":
        return tuple(value)
    if kind == "secret":
        return Secret(value)
    return value


def _to_path(text: str, data_dir: Path) -> Path:
    """Fill the {data_dir} placeholder and make the path absolute."""
    return Path(text.replace(DATA_DIR_PLACEHOLDER, str(data_dir))).expanduser().absolute()


def _general(table: Mapping[str, Any], context: _Context) -> GeneralSettings:
    """Build the general section; data_dir cannot refer to itself."""
    if isinstance(table.get("log_level"), str):
        table = {**table, "log_level": table["log_level"].upper()}
    general: GeneralSettings = _section(GeneralSettings, table, "general", context, Path.cwd())
    with context.gather():
        _check_timezone(general.timezone, context)
    with context.gather():
        _check_case_ref(general, context)
    with context.gather():
        _check_identity(general, context)
    with context.gather():
        _check_folder(general.data_dir, "general.data_dir", context)
    if not general.our_domain:
        domain = general.our_address.rpartition("@")[2] or "localhost"
        general = GeneralSettings(**{**_fields_of(general), "our_domain": domain})
    return general


def _check_timezone(name: str, context: _Context) -> None:
    """Refuse a time zone the zone database does not know (when a database is present)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # Without any zone database nothing could be checked: only refuse when one exists.
        if zoneinfo.available_timezones():
            raise context.error("general.timezone", f"unknown time zone '{name}'") from None


def _check_case_ref(general: GeneralSettings, context: _Context) -> None:
    """Refuse a case reference format that cannot be filled in or would repeat itself."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(general.case_ref_format)
                  if name is not None}
        general.case_ref_format.format(prefix=general.case_ref_prefix, year=2025, seq=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise context.error("general.case_ref_format",
                            f"cannot be filled with prefix, year and seq: {exc}") from None
    if "seq" not in fields:
        # Every case of a year would get the same reference: the second filing would fail.
        raise context.error("general.case_ref_format", "must contain {seq} (the case number)")


def _check_identity(general: GeneralSettings, context: _Context) -> None:
    """Refuse an address or domain that cannot stand in a header or a Message-ID."""
    if not _PLAIN_ADDRESS.fullmatch(general.our_address):
        raise context.error("general.our_address",
                            f"must be a plain e-mail address, not {general.our_address!r}")
    if general.our_domain and not _PLAIN_DOMAIN.fullmatch(general.our_domain):
        raise context.error("general.our_domain",
                            f"must be a domain name, not {general.our_domain!r}")


def _check_ref_pattern(general: GeneralSettings, mailboxes: Sequence[MailboxSettings],
                       context: _Context) -> None:
    """Refuse a case reference that a mailbox's triage rules would not recognise in a reply."""
    try:
        sample = general.case_ref_format.format(prefix=general.case_ref_prefix, year=2026,
                                                seq=123)
    except (KeyError, IndexError, ValueError):
        return  # the format itself is reported (_check_case_ref)
    if not general.profiles_dir.is_dir():
        return  # `rules init` is about to make it; the commands that read profiles say so
    for profile, name in sorted({m.profile: m.name for m in mailboxes}.items()):
        try:
            folder = profile_root(profile, general.profiles_dir)
            pattern = load_case_ref_pattern(folder / "triage.toml")
        except ConfigError as exc:
            raise context.error(f"mailboxes.{name}.profile", str(exc)) from None
        found = pattern.search(sample)
        if found is None or found.group(0).upper() != sample.upper():
            raise context.error(
                "general.case_ref_prefix",
                f"references such as {sample!r} do not match the case_ref pattern of profile "
                f"'{profile}' ({pattern.pattern!r}): replies citing them would not be threaded")


def _check_folder(path: Path, dotted: str, context: _Context) -> None:
    """Refuse a folder setting that names an existing file."""
    if path.exists() and not path.is_dir():
        raise context.error(dotted, f"{path} is a file, not a folder")


def _database(table: Mapping[str, Any], context: _Context, data_dir: Path) -> DatabaseSettings:
    """Build the database section; an empty URL becomes SQLite under data_dir."""
    _refuse_literal_password(table, "database", context)
    database: DatabaseSettings = _section(DatabaseSettings, table, "database", context, data_dir)
    url = database.url.replace(DATA_DIR_PLACEHOLDER, str(data_dir))
    url = url or f"sqlite:///{data_dir / 'intake.sqlite3'}"
    if (database.password_env or database.password_file) and _URL_PASSWORD.search(url):
        context.errors.append(context.error(
            "database.url", "the URL holds a password and password_env or password_file "
                            "gives another: keep one"))
    return DatabaseSettings(**{**_fields_of(database), "url": url})


def _reports(table: Mapping[str, Any], context: _Context, data_dir: Path) -> ReportsSettings:
    """Build the reports section and check the digest time and the output folder."""
    reports: ReportsSettings = _section(ReportsSettings, table, "reports", context, data_dir)
    if not _CLOCK_TIME.match(reports.digest_time):
        context.errors.append(context.error(
            "reports.digest_time",
            f"must be a time HH:MM (or HH:MM:SS), not '{reports.digest_time}'"))
    with context.gather():
        _check_folder(reports.output_dir, "reports.output_dir", context)
    return reports


def _web(table: Mapping[str, Any], context: _Context, data_dir: Path) -> WebSettings:
    """Build the workspace section: its secret key, base URL and deadline entries."""
    if "secret_key" in table and "web.secret_key" not in context.from_env:
        raise context.error("web.secret_key", "a secret key is never written in the settings "
                                              "file: use secret_key_env or secret_key_file")
    web: WebSettings = _section(WebSettings, table, "web", context, data_dir)
    if web.public_base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", web.public_base_url):
        raise context.error("web.public_base_url",
                            f"must be an http(s) address, not '{web.public_base_url}'")
    for entry in web.decision_days:
        if not re.fullmatch(r"[a-z][a-z0-9_]*=\d{1,4}", entry.replace(" ", "")):
            raise context.error("web.decision_days",
                                f"entries are PROFILE=DAYS (e.g. famhp=60), not '{entry}'")
    key = web.secret_key
    if key is None and web.secret_key_file is not None:
        key = _read_secret_file(web.secret_key_file, "web.secret_key_file", context)
    elif key is None and web.secret_key_env:
        value = context.env.get(web.secret_key_env)
        if value is None:
            raise context.error("web.secret_key_env",
                                f"environment variable {web.secret_key_env} is not set")
        key = Secret(value)
    return WebSettings(**{**_fields_of(web), "secret_key": key,
                          "public_base_url": web.public_base_url.rstrip("/")})


def _fields_of(section: Any) -> dict[str, Any]:
    """Return a section's fields as keyword arguments."""
    return {f.name: getattr(section, f.name) for f in fields(section)}


# --- secrets -------------------------------------------------------------------------------

def _refuse_literal_password(table: Mapping[str, Any], where: str, context: _Context) -> None:
    """Refuse a password written in the settings file itself."""
    if "password" in table and f"{where}.password" not in context.from_env:
        context.errors.append(context.error(f"{where}.password",
                                            "a password is never written in the settings "
                                            "file: use password_env or password_file"))


def _resolve_secret(section: Any, where: str, context: _Context) -> Secret | None:
    """Return the secret from the environment override, password_file or password_env."""
    if section.password is not None:
        return typing.cast(Secret, section.password)
    if section.password_file is not None:
        return _read_secret_file(section.password_file, f"{where}.password_file", context)
    if section.password_env:
        value = context.env.get(section.password_env)
        if value is None:
            raise context.error(f"{where}.password_env",
                                f"environment variable {section.password_env} is not set")
        return Secret(value)
    return None


def _database_secret(database: DatabaseSettings, context: _Context) -> Secret | None:
    """Return the database password from its override, password_file or password_env."""
    return _resolve_secret(database, "database", context)


def database_password(settings: Settings,
                      env: Mapping[str, str] = os.environ) -> Secret | None:
    """Read the database password now (a changed password file is read again), if one is set."""
    return _database_secret(settings.database, _Context(settings.config_path, env))


def mask_url_password(text: str) -> str:
    """Return a text with the password of every URL in it masked (user:***@host)."""
    return _URL_PASSWORD.sub(rf"\g<head>:{URL_MASK}@", text)


def _read_secret_file(path: Path, dotted: str, context: _Context) -> Secret:
    """Read a secret from a file, without its trailing newline; never echo its content."""
    try:
        return Secret(path.read_text(encoding="utf-8").rstrip("\r\n"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise context.error(dotted, f"cannot read {path}: {reason}") from None


# --- mailboxes -----------------------------------------------------------------------------

def _mailboxes(table: Mapping[str, Any], context: _Context, data_dir: Path,
               secrets: bool) -> tuple[MailboxSettings, ...]:
    """Build every [mailboxes.<name>] table."""
    result = []
    for name, entry in table.items():
        where = f"mailboxes.{name}"
        with context.gather():
            if not _MAILBOX_NAME.match(name):
                raise context.error(where, f"mailbox name '{name}' must be lower-case letters, "
                                           "digits and _ and start with a letter")
            if not isinstance(entry, dict):
                raise context.error(where, f"'{where}' must be a table")
            result.append(_mailbox(name, entry, context, data_dir, secrets))
    return tuple(result)


def _mailbox(name: str, table: Mapping[str, Any], context: _Context, data_dir: Path,
             secrets: bool) -> MailboxSettings:
    """Build and validate one mailbox."""
    where = f"mailboxes.{name}"
    if "type" not in table:
        raise context.error(where, "missing key 'type' (imap or maildir)")
    _refuse_literal_password(table, where, context)
    found = len(context.errors)
    mailbox: MailboxSettings = _section(MailboxSettings, table, where, context, data_dir,
                                        extra={"name": name})
    if len(context.errors) > found:
        return mailbox  # a key was wrong: checks of the whole would only repeat it
    if mailbox.type == "maildir":
        _check_maildir(mailbox, context, where)
        return mailbox
    _check_imap(mailbox, context, where)
    port = mailbox.port or _IMAP_PORTS[mailbox.security]
    password = _resolve_secret(mailbox, where, context) if secrets else mailbox.password
    return MailboxSettings(**{**_fields_of(mailbox), "port": port, "password": password})


def _check_maildir(mailbox: MailboxSettings, context: _Context, where: str) -> None:
    """A Maildir mailbox needs a path and cannot keep filed messages in place."""
    if mailbox.path is None:
        raise context.error(where, "missing key 'path' (required for type maildir)")
    if mailbox.on_success == "flag":
        raise context.error(f"{where}.on_success",
                            "on_success = flag needs an IMAP mailbox: use move for a Maildir")


def _check_imap(mailbox: MailboxSettings, context: _Context, where: str) -> None:
    """An IMAP mailbox needs a host, a user and a way to get its password or token."""
    for key in ("host", "username"):
        if not getattr(mailbox, key):
            raise context.error(where, f"missing key '{key}' (required for type imap)")
    has_secret = bool(mailbox.password or mailbox.password_env or mailbox.password_file)
    has_token = bool(mailbox.oauth2_token_command or mailbox.oauth2_token_file)
    if mailbox.auth == "password" and not has_secret:
        raise context.error(where, "missing a password source: password_env or "
                                   "password_file (or the PASSWORD environment override)")
    if mailbox.auth == "xoauth2" and not (has_token or has_secret):
        raise context.error(where, "missing a token source for xoauth2: "
                                   "oauth2_token_command or oauth2_token_file")


# --- smtp ----------------------------------------------------------------------------------

def _smtp(table: Mapping[str, Any], context: _Context, data_dir: Path,
          secrets: bool) -> SmtpSettings:
    """Build and validate the outgoing-mail section."""
    _refuse_literal_password(table, "smtp", context)
    smtp: SmtpSettings = _section(SmtpSettings, table, "smtp", context, data_dir)
    if smtp.mode == "smtp" and not smtp.host:
        context.errors.append(context.error("smtp",
                                            "missing key 'host' (required for mode smtp)"))
    has_source = bool(smtp.password or smtp.password_env or smtp.password_file)
    if smtp.mode == "smtp":
        with context.gather():
            _check_smtp_login(smtp, has_source, context)
    password = smtp.password
    if secrets and has_source:
        with context.gather():
            password = _resolve_secret(smtp, "smtp", context)
    port = smtp.port or _SMTP_PORTS[smtp.security]
    with context.gather():
        _check_folder(smtp.outbox_maildir, "smtp.outbox_maildir", context)
    return SmtpSettings(**{**_fields_of(smtp), "port": port, "password": password})


def _check_smtp_login(smtp: SmtpSettings, has_source: bool, context: _Context) -> None:
    """A relay user needs a password source; with xoauth2, a user and a token source."""
    if smtp.auth == "password":
        if smtp.username and not has_source:
            raise context.error("smtp", "username given without a password source: "
                                        "password_env or password_file")
        return
    if not smtp.username:
        raise context.error("smtp", "missing key 'username' (required for auth xoauth2)")
    if not (smtp.oauth2_token_command or smtp.oauth2_token_file or has_source):
        raise context.error("smtp", "missing a token source for xoauth2: "
                                    "oauth2_token_command or oauth2_token_file")


# --- printing ------------------------------------------------------------------------------

def settings_to_dict(settings: Settings, mask_secrets: bool = True) -> dict[str, Any]:
    """Return the settings as plain TOML-like data (secrets masked unless asked otherwise)."""
    out: dict[str, Any] = {"config_path": str(settings.config_path)}
    for name in ("general", "database", "smtp", "replies", "extraction", "reports", "web",
                 "observability"):
        out[name] = _section_to_dict(getattr(settings, name), mask_secrets)
    out["mailboxes"] = {
        mailbox.name: _section_to_dict(mailbox, mask_secrets, skip=("name",))
        for mailbox in settings.mailboxes
    }
    return out


def _section_to_dict(section: Any, mask_secrets: bool,
                     skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return one section's keys; None values are left out, as TOML has no null."""
    out: dict[str, Any] = {}
    for f in fields(section):
        value = getattr(section, f.name)
        if f.name in skip or value is None:
            continue
        out[f.name] = _plain(value, mask_secrets)
    return out


def _plain(value: Any, mask_secrets: bool) -> Any:
    """Turn a settings value into str/int/bool/list."""
    if isinstance(value, Secret):
        return MASK if mask_secrets else value.reveal()
    if isinstance(value, str) and mask_secrets:
        return mask_url_password(value)  # postgresql://intake:***@db/intake
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value
