"""Settings: the embedded default, files, environment overrides, secrets and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import (
    DEFAULT_CONFIG,
    MASK,
    PROFILES_DIR,
    MailboxSettings,
    Secret,
    SettingsErrors,
    load_settings,
    mask_url_password,
    settings_to_dict,
)

IMAP_MAILBOX = """\
[general]
data_dir = "{data_dir}"

[mailboxes.famhp]
type = "imap"
host = "imap.example.org"
username = "derogation.meddev@fagg-afmps.be"
password_env = "FAMHP_IMAP_PASSWORD"
sent_folder = "Sent"

[smtp]
mode = "smtp"
host = "smtp.example.org"
username = "relay"
password_file = "{secret_file}"
"""


def write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    """Write a settings file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def imap_config(tmp_path: Path) -> Path:
    """A settings file with an IMAP mailbox and an SMTP relay, secrets outside it."""
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text("relay-secret\n")
    return write(tmp_path, IMAP_MAILBOX.format(data_dir=tmp_path / "data",
                                               secret_file=secret_file))


def imap_env(**extra: str) -> dict[str, str]:
    """The environment the IMAP settings file needs, plus overrides."""
    return {"FAMHP_IMAP_PASSWORD": "imap-secret", **extra}


def test_embedded_default_is_a_local_maildir_setup(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    data_dir = tmp_path / "var"
    assert settings.config_path == DEFAULT_CONFIG
    assert settings.general.data_dir == data_dir
    assert settings.general.our_address == "derogation.meddev@fagg-afmps.be"
    assert settings.general.our_domain == "fagg-afmps.be"
    assert settings.general.case_ref_format.format(prefix="DRG", year=2025, seq=7) == \
        "DRG-2025-000007"
    assert settings.database.url == f"sqlite:///{data_dir / 'intake.sqlite3'}"
    [famhp] = settings.mailboxes
    assert (famhp.name, famhp.type, famhp.profile) == ("famhp", "maildir", "famhp")
    assert famhp.path == data_dir / "maildir"
    assert (famhp.processed_folder, famhp.attention_folder) == ("Processed", "Needs-attention")
    assert settings.smtp.mode == "maildir"
    assert settings.smtp.outbox_maildir == data_dir / "outbox"
    assert settings.reports.output_dir == data_dir / "reports"
    assert settings.replies.rate_limit_count == 5
    assert settings.extraction.max_attachment_mb == 60


def test_config_path_comes_from_the_environment(imap_config: Path) -> None:
    settings = load_settings(env=imap_env(DEROGATION_INTAKE_CONFIG=str(imap_config)))
    assert settings.config_path == imap_config
    assert settings.mailbox("famhp").host == "imap.example.org"


def test_imap_defaults_and_secret_sources(imap_config: Path) -> None:
    settings = load_settings(imap_config, env=imap_env())
    famhp = settings.mailbox("famhp")
    assert famhp.port == 993 and famhp.security == "tls"
    assert famhp.password == Secret("imap-secret")
    assert famhp.password is not None and famhp.password.reveal() == "imap-secret"
    assert settings.smtp.port == 587
    assert settings.smtp.password is not None
    assert settings.smtp.password.reveal() == "relay-secret"  # trailing newline dropped


def test_environment_overrides_are_converted_to_the_key_type(imap_config: Path) -> None:
    env = imap_env(
        DEROGATION_INTAKE_SMTP__PORT="2525",
        DEROGATION_INTAKE_SMTP__SECURITY="plain",
        DEROGATION_INTAKE_REPLIES__HOLD="yes",
        DEROGATION_INTAKE_REPLIES__BLOCK_LIST="a@example.org, b@example.org",
        DEROGATION_INTAKE_REPLIES__PER_PROFILE_HOLD='["ansm"]',
        DEROGATION_INTAKE_DATABASE__URL="postgresql+psycopg://intake@127.0.0.1/test",
        DEROGATION_INTAKE_MAILBOXES__FAMHP__PORT="1143",
        DEROGATION_INTAKE_MAILBOXES__FAMHP__IDLE="false",
        DEROGATION_INTAKE_MAILBOXES__FAMHP__PASSWORD="from-env-override",
    )
    settings = load_settings(imap_config, env=env)
    assert settings.smtp.port == 2525 and settings.smtp.security == "plain"
    assert settings.replies.hold is True
    assert settings.replies.block_list == ("a@example.org", "b@example.org")
    assert settings.replies.per_profile_hold == ("ansm",)
    assert settings.database.url == "postgresql+psycopg://intake@127.0.0.1/test"
    famhp = settings.mailbox("famhp")
    assert famhp.port == 1143 and famhp.idle is False
    assert famhp.password == Secret("from-env-override")


def test_data_dir_override_moves_every_derived_path(tmp_path: Path) -> None:
    settings = load_settings(env={"DEROGATION_INTAKE_GENERAL__DATA_DIR": str(tmp_path / "d")})
    assert settings.mailboxes[0].path == tmp_path / "d" / "maildir"
    assert settings.smtp.outbox_maildir == tmp_path / "d" / "outbox"
    assert settings.database.url.endswith(f"{tmp_path / 'd' / 'intake.sqlite3'}")


def test_profiles_dir_is_the_shipped_folder_unless_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).general.profiles_dir == PROFILES_DIR
    assert (PROFILES_DIR / "famhp" / "extraction.toml").is_file()
    path = write(tmp_path, '[general]\nprofiles_dir = "rules/profiles"\n')
    assert load_settings(path, env={}).general.profiles_dir == tmp_path / "rules" / "profiles"
    override = {"DEROGATION_INTAKE_GENERAL__PROFILES_DIR": "/etc/derogation-intake/profiles"}
    assert load_settings(path, env=override).general.profiles_dir == Path(
        "/etc/derogation-intake/profiles")


def test_environment_can_add_a_mailbox(tmp_path: Path) -> None:
    env = {"DEROGATION_INTAKE_MAILBOXES__ANSM__TYPE": "maildir",
           "DEROGATION_INTAKE_MAILBOXES__ANSM__PATH": str(tmp_path / "ansm"),
           "DEROGATION_INTAKE_MAILBOXES__ANSM__PROFILE": "ansm"}
    settings = load_settings(env=env)
    assert [m.name for m in settings.mailboxes] == ["famhp", "ansm"]
    assert settings.mailbox("ansm").path == tmp_path / "ansm"


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[general]\ndata_dir = "x"\n\n[replies]\nhold = true\nrate_limt = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    error = caught.value
    assert (error.path, error.line, error.key) == (str(path), 6, "replies.rate_limt")
    assert "unknown key 'rate_limt'" in str(error)
    assert str(error).startswith(f"{path}:6: replies.rate_limt: ")


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[general]\ndata_dir = "x"\n[mailbox]\ntype = "imap"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert (caught.value.key, caught.value.line) == ("mailbox", 3)


MAILDIR = '[mailboxes.famhp]\ntype = "maildir"\nprofile = "famhp"\npath = "mail"\n'


@pytest.mark.parametrize(("body", "key", "line", "reason"), [
    ('[mailboxes.famhp]\ntype = "imap"\nhost = "h"\nusername = "u"\npassword_env = "P"\n'
     'security = "ssl"\n', "mailboxes.famhp.security", 6, "must be one of tls|starttls|plain"),
    ('[smtp]\nmode = "smtp"\nhost = "h"\nport = 70000\n', "smtp.port", 4, "at most 65535"),
    ('[smtp]\ntimeout_seconds = "30"\n', "smtp.timeout_seconds", 2, "must be an integer"),
    ('[replies]\nhold = 1\n', "replies.hold", 2, "must be true or false"),
    ('[replies]\nblock_list = "a@b.c"\n', "replies.block_list", 2, "list of strings"),
    ('[reports]\ndigest_time = "7h30"\n', "reports.digest_time", 2, "HH:MM"),
    ('[general]\ntimezone = "Europe/Bruxelles"\n', "general.timezone", 2, "unknown time zone"),
    ('[general]\ncase_ref_format = "{prefix}-{number}"\n', "general.case_ref_format", 2,
     "cannot be filled"),
    # Settings that `config check` accepted but that broke every poll (hardening):
    ('[general]\nour_address = "intake@agency.example\\r\\nBcc: x@y.example"\n',
     "general.our_address", 2, "plain e-mail address"),
    ('[general]\nour_address = "intake@agency.example\\n"\n', "general.our_address", 2,
     "plain e-mail address"),
    ('[general]\nour_domain = "agency example"\n', "general.our_domain", 2, "domain name"),
    ('[general]\ncase_ref_format = "{prefix}-{year}"\n', "general.case_ref_format", 2,
     "must contain {seq}"),
    ('[general]\ncase_ref_prefix = "DEROG"\n' + MAILDIR, "general.case_ref_prefix", 2,
     "do not match the case_ref pattern of profile 'famhp'"),
    ('[general]\ncase_ref_format = "{prefix}/{year}/{seq}"\n' + MAILDIR, "general.case_ref_prefix",
     None, "do not match the case_ref pattern"),
])
def test_bad_values_name_key_and_line(tmp_path: Path, body: str, key: str, line: int,
                                      reason: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"P": "x"})
    assert (caught.value.key, caught.value.line) == (key, line)
    assert reason in caught.value.reason


@pytest.mark.parametrize(("missing", "reason"), [
    ("host", "missing key 'host'"),
    ("username", "missing key 'username'"),
    ("password_env", "missing a password source"),
])
def test_imap_mailbox_requires_host_user_and_password(tmp_path: Path, missing: str,
                                                      reason: str) -> None:
    lines = ['[mailboxes.famhp]', 'type = "imap"', 'host = "h"', 'username = "u"',
             'password_env = "P"']
    path = write(tmp_path, "\n".join(x for x in lines if not x.startswith(missing)) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"P": "x"})
    assert caught.value.key == "mailboxes.famhp" and caught.value.line == 1
    assert reason in caught.value.reason


def test_mailbox_type_is_required(tmp_path: Path) -> None:
    path = write(tmp_path, '[mailboxes.famhp]\nhost = "h"\n')
    with pytest.raises(ConfigError, match="missing key 'type'"):
        load_settings(path, env={})


def test_xoauth2_accepts_a_token_command(tmp_path: Path) -> None:
    path = write(tmp_path, '[mailboxes.famhp]\ntype = "imap"\nhost = "h"\nusername = "u"\n'
                           'auth = "xoauth2"\noauth2_token_command = "get-token --user u"\n')
    famhp = load_settings(path, env={}).mailbox("famhp")
    assert famhp.auth == "xoauth2" and famhp.password is None
    assert famhp.oauth2_token_command == "get-token --user u"


SMTP_RELAY = '[smtp]\nmode = "smtp"\nhost = "smtp.office365.com"\nusername = "u@agency.example"\n'


def test_smtp_xoauth2_takes_the_token_command_or_file(tmp_path: Path) -> None:
    path = write(tmp_path, SMTP_RELAY + 'auth = "xoauth2"\noauth2_token_command = "get-token"\n')
    smtp = load_settings(path, env={}).smtp
    assert (smtp.auth, smtp.oauth2_token_command, smtp.password) == ("xoauth2", "get-token", None)
    path = write(tmp_path, SMTP_RELAY + 'auth = "xoauth2"\noauth2_token_file = "t.json"\n')
    assert load_settings(path, env={}).smtp.oauth2_token_file == Path("t.json").absolute()


@pytest.mark.parametrize(("text", "reason"), [
    (SMTP_RELAY + 'auth = "xoauth2"\n', "missing a token source for xoauth2"),
    ('[smtp]\nmode = "smtp"\nhost = "h"\nauth = "xoauth2"\noauth2_token_command = "t"\n',
     "missing key 'username' (required for auth xoauth2)"),
    (SMTP_RELAY + 'auth = "oauth"\n', "password|xoauth2"),
])
def test_smtp_xoauth2_needs_a_user_and_a_token_source(tmp_path: Path, text: str,
                                                       reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={})
    # Every problem of the file is reported at once; this one is among them.
    errors = getattr(caught.value, "errors", (caught.value,))
    assert any(e.key is not None and e.key.startswith("smtp") and reason in e.reason
               for e in errors)


def test_password_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[mailboxes.famhp]\ntype = "imap"\nhost = "h"\nusername = "u"\n'
                           'password = "hunter2"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.key == "mailboxes.famhp.password" and caught.value.line == 5
    assert "hunter2" not in str(caught.value)


def test_missing_password_sources_are_errors_without_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, '[mailboxes.famhp]\ntype = "imap"\nhost = "h"\nusername = "u"\n'
                           f'password_file = "{tmp_path / "nope"}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.key == "mailboxes.famhp.password_file"
    path.write_text('[mailboxes.famhp]\ntype = "imap"\nhost = "h"\nusername = "u"\n'
                    'password_env = "NOT_SET"\n')
    with pytest.raises(ConfigError, match="NOT_SET is not set"):
        load_settings(path, env={})


def test_environment_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"DEROGATION_INTAKE_SMTP__PORT": "five"})
    assert caught.value.key == "DEROGATION_INTAKE_SMTP__PORT"
    assert "must be an integer" in caught.value.reason
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"DEROGATION_INTAKE_SMTP__PROT": "25"})
    assert caught.value.key == "DEROGATION_INTAKE_SMTP__PROT"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"DEROGATION_INTAKE_NOPE__X": "1"})
    assert caught.value.key == "DEROGATION_INTAKE_NOPE__X"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"DEROGATION_INTAKE_SMTP__SECURITY": "ssl"})
    assert "tls|starttls|plain" in caught.value.reason


def test_flag_on_success_needs_imap(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"DEROGATION_INTAKE_MAILBOXES__FAMHP__ON_SUCCESS": "flag"})
    assert caught.value.key == "DEROGATION_INTAKE_MAILBOXES__FAMHP__ON_SUCCESS"


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[general]\ndata_dir = "x"\nlog_level = \n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.line == 3


def test_secrets_are_masked_in_repr_and_dict(imap_config: Path) -> None:
    settings = load_settings(imap_config, env=imap_env())
    for text in (repr(settings), str(settings), repr(settings.mailbox("famhp")),
                 f"{settings.smtp.password}", str(settings_to_dict(settings))):
        assert "imap-secret" not in text and "relay-secret" not in text
    shown = settings_to_dict(settings)
    assert shown["mailboxes"]["famhp"]["password"] == MASK
    assert shown["smtp"]["password"] == MASK
    assert shown["mailboxes"]["famhp"]["password_env"] == "FAMHP_IMAP_PASSWORD"
    revealed = settings_to_dict(settings, mask_secrets=False)
    assert revealed["mailboxes"]["famhp"]["password"] == "imap-secret"


def test_settings_dict_is_plain_toml_data(imap_config: Path) -> None:
    shown = settings_to_dict(load_settings(imap_config, env=imap_env()))
    assert shown["general"]["data_dir"] == str(imap_config.parent / "data")
    assert shown["mailboxes"]["famhp"]["port"] == 993
    assert shown["replies"]["block_list"] == []
    assert "name" not in shown["mailboxes"]["famhp"]


def test_settings_are_frozen() -> None:
    settings = load_settings(env={})
    with pytest.raises(AttributeError):
        settings.general.log_level = "DEBUG"  # type: ignore[misc]
    assert isinstance(settings.mailboxes[0], MailboxSettings)


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, '[general]\nlog_level = "debug"\n')
    assert load_settings(path, env={}).general.log_level == "DEBUG"


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[general]\ncolour = "blue"\ntimezone = "Mars/Olympus"\n\n'
                           '[smtp]\nport = "five"\n\n[nonsense]\nx = 1\n')
    with pytest.raises(SettingsErrors) as caught:
        load_settings(path, env={})
    found = [(e.key, e.line) for e in caught.value.errors]
    assert found == [("nonsense", 8), ("general.colour", 2), ("general.timezone", 3),
                     ("smtp.port", 6)]
    assert str(caught.value).count(f"{path}:") == 4


def test_commands_that_do_not_connect_load_no_mailbox_or_smtp_secret(imap_config: Path) -> None:
    settings = load_settings(imap_config, env={}, secrets=False)  # FAMHP_IMAP_PASSWORD unset
    assert settings.mailbox("famhp").password is None and settings.smtp.password is None
    with pytest.raises(ConfigError, match="FAMHP_IMAP_PASSWORD is not set"):
        load_settings(imap_config, env={})


def test_the_database_password_is_never_in_the_file_and_masked_in_urls(tmp_path: Path) -> None:
    literal = write(tmp_path, '[database]\nurl = "postgresql://u@h/d"\npassword = "x"\n')
    with pytest.raises(ConfigError, match="never written in the settings file"):
        load_settings(literal, env={})
    both = write(tmp_path, '[database]\nurl = "postgresql://u:pw@h/d"\npassword_env = "P"\n')
    with pytest.raises(ConfigError, match="keep one"):
        load_settings(both, env={"P": "x"})
    unset = write(tmp_path, '[database]\nurl = "postgresql://u@h/d"\npassword_env = "DB_PW"\n')
    assert load_settings(unset, env={}, secrets=False).database.password_env == "DB_PW"
    with pytest.raises(ConfigError, match="DB_PW is not set"):
        load_settings(unset, env={})
    assert mask_url_password("see postgresql+psycopg://intake:s3cret@db/intake and "
                             "imap://u:p@h") == ("see postgresql+psycopg://intake:***@db/intake "
                                                 "and imap://u:***@h")


def test_a_folder_setting_that_names_a_file_is_an_error(tmp_path: Path) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("not a folder", encoding="utf-8")
    path = write(tmp_path, f'[general]\ndata_dir = "{a_file}"\n')
    with pytest.raises(ConfigError, match="is a file, not a folder") as caught:
        load_settings(path, env={})
    assert caught.value.key == "general.data_dir"
