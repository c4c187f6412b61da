"""Bad settings files given to `borough audit` (which reads the settings and the app
database, and needs no homeserver): each is refused at `file:line:col section.key`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.badinput.corpus import HANG_GUARD_SECONDS, Case, answered, run_borough
from tests.badinput.test_chart_yaml import billion_laughs

pytestmark = pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)

#: `{db}` is a SQLite file in the case's own folder.
BASE = """\
homeserver:
  url: http://127.0.0.1:9
  server_name: borough.test
service_account:
  user_id: "@borough:borough.test"
  access_token: secret-token-value
database:
  url: sqlite+aiosqlite:///{db}
"""


def swap(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


@dataclass(frozen=True)
class SettingsCase(Case):
    content: str | bytes = BASE
    #: The command that reads the setting; `audit` needs only the settings and the database.
    command: tuple[str, ...] = ("audit",)


AT = r"borough\.yaml:\d+:\d+:? "
# One case a line, read as a table.
# fmt: off
CASES = [
    # --- The file as a whole ---
    SettingsCase("empty-file", r"borough\.yaml.*(empty|expected a mapping)", ""),
    SettingsCase("a-list", r"borough\.yaml.*expected a mapping", "- homeserver\n"),
    SettingsCase("a-scalar", r"borough\.yaml.*expected a mapping", "settings\n"),
    SettingsCase("not-yaml", AT + r".*not valid YAML", "homeserver: [url: x\n"),
    SettingsCase("tabs", AT + r".*not valid YAML", BASE.replace("  url: http", "\turl: http", 1)),
    # --- homeserver.processes, which `borough doctor` asks one by one ---
    SettingsCase("processes-not-a-url", AT + r"homeserver\.processes.*http:// or https://", swap("  server_name: borough.test\n", "  server_name: borough.test\n  processes: [not a url]\n"), ("doctor",)),
    SettingsCase("processes-a-mapping", AT + r"homeserver\.processes", swap("  server_name: borough.test\n", "  server_name: borough.test\n  processes: {main: x}\n"), ("doctor",)),
    SettingsCase("processes-huge-list", AT + r"homeserver\.processes", swap("  server_name: borough.test\n", "  server_name: borough.test\n  processes: [" + ", ".join(["x"] * 5000) + "]\n"), ("doctor",)),
    SettingsCase("latin-1", r"borough\.yaml.*(UTF-8|utf-8|encoding)", (BASE + "# caf\u00e9\n").encode("latin-1")),
    SettingsCase("binary", r"borough\.yaml.*(UTF-8|utf-8|encoding|not valid YAML)", bytes(range(256)) * 8),
    SettingsCase("alias-bomb", AT + r".*alias", billion_laughs().replace("organisations: *a9", "x: *a9") + BASE),
    SettingsCase("recursive-alias", AT + r".*(alias|recurs|refers to itself)", "x: &x [*x]\n" + BASE),
    SettingsCase("custom-tag", AT + r".*tag.*!env", swap("server_name: borough.test", "server_name: !env SERVER")),
    SettingsCase("merge-key", AT + r".*(<<|merge)", "base: &b {server_name: borough.test}\n" + swap("  server_name: borough.test\n", "  <<: *b\n")),
    SettingsCase("huge-file", r"borough\.yaml.*(too (large|big|long)|MB|bytes)", BASE + "# padding\n" * 1_700_000),
    # --- Missing and unknown ---
    SettingsCase("no-homeserver", r"borough\.yaml.*homeserver: this field is required", BASE.split("service_account:")[0].replace("homeserver:", "x_homeserver:") + "service_account:" + BASE.split("service_account:")[1]),
    SettingsCase("no-service-account", r"service_account: this field is required", BASE.replace("service_account:", "x_service_account:")),
    SettingsCase("no-server-name", r"homeserver\.server_name: this field is required", swap("  server_name: borough.test\n", "")),
    SettingsCase("unknown-section", AT + r"homeservr: unknown field 'homeservr'.*did you mean 'homeserver'", BASE + "homeservr: {}\n"),
    SettingsCase("unknown-key", AT + r"database\.uri: unknown field 'uri'.*did you mean 'url'", swap("  url: sqlite", "  uri: sqlite")),
    SettingsCase("unknown-bot-key", AT + r"bot\.tokn: unknown field", BASE + "bot: {user_id: '@b:borough.test', tokn: x}\n"),
    SettingsCase("duplicate-section", AT + r"database: duplicate key", BASE + "database: {}\n"),
    SettingsCase("no-access-token", r"service_account\.access_token.*(no access token|BOROUGH_ACCESS_TOKEN)", swap("  access_token: secret-token-value\n", ""), ("export",)),
    # --- Wrong types and values ---
    SettingsCase("homeserver-a-string", AT + r"homeserver: ", swap("homeserver:\n  url: http://127.0.0.1:9\n  server_name: borough.test\n", "homeserver: http://127.0.0.1:9\n")),
    SettingsCase("url-ftp", AT + r"homeserver\.url: .*http", swap("url: http://127.0.0.1:9", "url: ftp://127.0.0.1:9")),
    SettingsCase("url-a-number", AT + r"homeserver\.url: ", swap("url: http://127.0.0.1:9", "url: 8008")),
    SettingsCase("server-name-empty", AT + r"homeserver\.server_name: ", swap("server_name: borough.test", "server_name: ''")),
    SettingsCase("user-id-without-server", AT + r"service_account\.user_id: ", swap('user_id: "@borough:borough.test"', "user_id: borough")),
    SettingsCase("user-id-a-list", AT + r"service_account\.user_id: ", swap('user_id: "@borough:borough.test"', "user_id: [a]")),
    SettingsCase("access-token-a-mapping", AT + r"service_account\.access_token: ", swap("access_token: secret-token-value", "access_token: {a: b}")),
    SettingsCase("database-url-foo", AT + r"database\.url: Borough cannot use a 'foo' database", swap("url: sqlite+aiosqlite:///{db}", "url: foo://bar")),
    SettingsCase("database-url-empty", r"database\.url", swap("url: sqlite+aiosqlite:///{db}", "url: ''")),
    SettingsCase("database-url-words", r"database\.url", swap("url: sqlite+aiosqlite:///{db}", "url: my database")),
    SettingsCase("database-url-sync-postgres", r"cannot open the database at postgresql\+asyncpg://u@127\.0\.0\.1:9/x: .*database\.url", swap("url: sqlite+aiosqlite:///{db}", "url: postgresql://u@127.0.0.1:9/x")),
    SettingsCase("database-url-mysql", r"database\.url.*mysql", swap("url: sqlite+aiosqlite:///{db}", "url: mysql+aiomysql://u@127.0.0.1/x")),
    SettingsCase("database-missing-folder", r"(database\.url|folder|directory).*(does not exist|missing|no such)|(does not exist|missing|no such).*(folder|directory)", swap("url: sqlite+aiosqlite:///{db}", "url: sqlite+aiosqlite:///{db}.d/nowhere/x.db")),
    SettingsCase("database-unreachable-postgres", r"cannot open the database at postgresql\+asyncpg://u:\*\*\*@127\.0\.0\.1:9/x: .*Connect call failed.*database\.url", swap("url: sqlite+aiosqlite:///{db}", "url: postgresql+asyncpg://u:hunter2@127.0.0.1:9/x")),
    SettingsCase("concurrency-zero", AT + r"provisioning\.concurrency: ", BASE + "provisioning: {concurrency: 0}\n"),
    SettingsCase("concurrency-words", AT + r"provisioning\.concurrency: ", BASE + "provisioning: {concurrency: many}\n"),
    SettingsCase("concurrency-huge", AT + r"provisioning\.concurrency: ", BASE + "provisioning: {concurrency: 99999999999999999999999}\n"),
    SettingsCase("max-retries-negative", AT + r"provisioning\.max_retries: ", BASE + "provisioning: {max_retries: -1}\n"),
    SettingsCase("password-length-short", AT + r"provisioning\.password_length: ", BASE + "provisioning: {password_length: 4}\n"),
    SettingsCase("jitsi-auth-unknown", AT + r"jitsi\.auth: ", BASE + "jitsi: {auth: magic}\n"),
    SettingsCase("jitsi-lifetime-short", AT + r"jitsi\.token_lifetime_seconds: ", BASE + "jitsi: {token_lifetime_seconds: 1}\n"),
    SettingsCase("jitsi-lifetime-float", AT + r"jitsi\.token_lifetime_seconds: ", BASE + "jitsi: {token_lifetime_seconds: 1.5e400}\n"),
    SettingsCase("bot-timezone-unknown", AT + r"bot\.timezone: unknown timezone", BASE + "bot: {user_id: '@b:borough.test', timezone: Mars/Olympus}\n"),
    SettingsCase("bot-timezone-path", AT + r"bot\.timezone: unknown timezone", BASE + "bot: {user_id: '@b:borough.test', timezone: ../../etc/passwd}\n"),
    SettingsCase("bot-user-id-bad", AT + r"bot\.user_id: ", BASE + "bot: {user_id: boroughbot}\n"),
    SettingsCase("bot-a-list", AT + r"bot: ", BASE + "bot: [a]\n"),
    SettingsCase("widgets-port-huge", AT + r"widgets\.port: ", BASE + "widgets: {port: 70000}\n"),
    SettingsCase("widgets-port-words", AT + r"widgets\.port: ", BASE + "widgets: {port: http}\n"),
    SettingsCase("widgets-public-url-ftp", AT + r"widgets\.public_url: .*http", BASE + "widgets: {public_url: 'ftp://x'}\n"),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_settings(case: SettingsCase, tmp_path: Path) -> None:
    settings = tmp_path / "borough.yaml"
    if isinstance(case.content, bytes):
        settings.write_bytes(case.content)
    else:
        settings.write_text(
            case.content.replace("{db}", str(tmp_path / "app.db")), encoding="utf-8"
        )
    answer = run_borough("--settings", str(settings), *case.command)
    answered(case, answer.text, answer.elapsed, answer.logs)
    assert answer.exit_code != 0, answer.text[:2000]
    assert "secret-token-value" not in answer.text and "hunter2" not in answer.text
