"""Bad settings, an unreachable homeserver and the wrong tokens get a clear answer, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough.testing.localsynapse import free_port
from tests.conftest import Homeserver, borough, write_settings

pytestmark = pytest.mark.integration

SMALL = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
ORG_FILE = SMALL


def _assert_clear(result_output: str) -> None:
    assert "Traceback" not in result_output


def test_an_unreachable_homeserver(
    homeserver: Homeserver, app_database_url: str, tmp_path: Path
) -> None:
    settings = write_settings(
        tmp_path / "s.yaml",
        homeserver,
        app_database_url,
        homeserver={"url": f"http://127.0.0.1:{free_port()}"},
        provisioning={"max_retries": 1},
    )
    result = borough("plan", str(SMALL), settings=settings)
    assert result.exit_code == 1
    assert "cannot reach the homeserver at http://127.0.0.1:" in result.output
    _assert_clear(result.output)


def test_a_wrong_admin_token(homeserver: Homeserver, app_database_url: str, tmp_path: Path) -> None:
    settings = write_settings(
        tmp_path / "s.yaml",
        homeserver,
        app_database_url,
        service_account={"access_token": "syt_wrong"},
    )
    result = borough("apply", str(SMALL), settings=settings)
    assert result.exit_code == 1
    assert "refused the service account's access token (M_UNKNOWN_TOKEN" in result.output
    assert "syt_wrong" not in result.output  # secrets never go into messages
    _assert_clear(result.output)


def test_a_token_without_admin_rights(
    homeserver: Homeserver, app_database_url: str, tmp_path: Path
) -> None:
    user_id, token = homeserver.synapse.register_user("notadmin", "pw-not-admin-1", admin=False)
    settings = write_settings(
        tmp_path / "s.yaml",
        homeserver,
        app_database_url,
        service_account={"user_id": user_id, "access_token": token},
    )
    result = borough("plan", str(SMALL), settings=settings)
    assert result.exit_code == 1
    assert "the service account is not a server admin (M_FORBIDDEN" in result.output
    _assert_clear(result.output)


def test_the_token_of_another_admin(
    homeserver: Homeserver, app_database_url: str, tmp_path: Path
) -> None:
    settings = write_settings(
        tmp_path / "s.yaml",
        homeserver,
        app_database_url,
        service_account={"user_id": f"@someone:{homeserver.server_name}"},
    )
    result = borough("plan", str(SMALL), settings=settings)
    assert result.exit_code == 1
    assert f"belongs to {homeserver.service_user}" in result.output


def test_missing_and_malformed_settings(tmp_path: Path) -> None:
    missing = borough("plan", str(SMALL), settings=tmp_path / "none.yaml")
    assert missing.exit_code == 2
    assert (
        "none.yaml: file not found (pass --settings FILE or set BOROUGH_SETTINGS)" in missing.output
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "homeserver:\n  url: matrix.example.org\nservice_account:\n  user_id: borough\n  tokn: x\n"
    )
    result = borough("plan", str(SMALL), settings=bad)
    assert result.exit_code == 2
    assert "bad.yaml:2:3 homeserver.url: must start with http:// or https://" in result.output
    assert "homeserver.server_name: this field is required" in result.output
    assert "service_account.tokn: unknown field 'tokn'" in result.output
    assert "service_account.user_id" in result.output


def test_a_server_name_that_is_not_the_homeservers_own(
    homeserver: Homeserver, app_database_url: str, tmp_path: Path
) -> None:
    settings = write_settings(
        tmp_path / "s.yaml",
        homeserver,
        app_database_url,
        homeserver={"server_name": "elsewhere.example"},
        service_account={"user_id": homeserver.service_user},
    )
    for command in (["plan", str(SMALL)], ["export"], ["report"], ["moderate", "reports"]):
        result = borough(*command, settings=settings)
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            f"Error: {settings} homeserver.server_name: 'elsewhere.example' is not the "
            f"homeserver's own name, which is '{homeserver.server_name}' (its service account "
            f"is {homeserver.service_user})"
        ]


def test_an_address_that_is_not_a_matrix_homeserver(
    homeserver: Homeserver, app_database_url: str, tmp_path: Path
) -> None:
    elsewhere = f"{homeserver.synapse.base_url}/not-matrix"
    settings = write_settings(
        tmp_path / "s.yaml", homeserver, app_database_url, homeserver={"url": elsewhere}
    )
    result = borough("plan", str(SMALL), settings=settings)
    assert result.exit_code == 1, result.output
    assert f"{elsewhere} is not a Matrix homeserver (GET /_matrix/client/versions: HTTP 404)" in (
        result.output
    )
    _assert_clear(result.output)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://bar", "Borough cannot use a 'foo' database; use sqlite+aiosqlite:///"),
        ("no database at all", "not a database URL; use sqlite+aiosqlite:///"),
    ],
)
def test_a_database_url_borough_cannot_use(tmp_path: Path, url: str, message: str) -> None:
    settings = tmp_path / "s.yaml"
    settings.write_text(
        "homeserver: {url: 'http://127.0.0.1:1', server_name: x}\n"
        "service_account: {user_id: '@b:x', access_token: t}\n"
        f"database:\n  url: '{url}'\n"
    )
    for command in (["plan", str(SMALL)], ["audit"]):
        result = borough(*command, settings=settings)
        assert result.exit_code == 2, result.output
        assert f"s.yaml:4:3 database.url: {message}" in result.output
        _assert_clear(result.output)


def test_a_sqlite_database_in_a_missing_folder_is_refused(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-folder"
    settings = write_settings(
        tmp_path / "s.yaml", homeserver, f"sqlite+aiosqlite:///{missing / 'borough.db'}"
    )
    for command in (["plan", str(SMALL)], ["audit"]):
        result = borough(*command, settings=settings)
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            f"Error: {settings} database.url: the folder {missing} for the SQLite database "
            "does not exist; create it first"
        ]
    assert not missing.exists()


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["export", "-o", "{missing}/live.yaml"], "--output"),
        (["report", "--html", "{missing}/report.html"], "--html"),
        (["report", "--csv", "{missing}/csv"], "--csv"),
        (["person", "export", "@ann", "--yes", "--out", "{missing}/ann.json"], "--out"),
    ],
)
def test_an_output_path_in_a_missing_folder_is_refused(
    tmp_path: Path, command: list[str], option: str
) -> None:
    missing = tmp_path / "no-such-folder"
    argv = [part.format(missing=missing) for part in command]
    # No settings file: the path is refused before anything is read or connected to.
    result = borough(*argv, settings=tmp_path / "none.yaml")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: {option} {argv[-1]}: the folder {missing} does not exist"
    ]
    assert not missing.exists()
