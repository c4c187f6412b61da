"""Bad settings, an unreachable homeserver and the wrong tokens get a clear answer, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough.localsynapse import free_port
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
