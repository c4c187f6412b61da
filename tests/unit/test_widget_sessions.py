"""Widget viewer sessions: signed, expiring, and refused when tampered with."""

from __future__ import annotations

import pytest

from widgets.viewer import SessionRejected, issue_session, read_session, session_key

KEY = session_key("syt_service_token")


def test_a_session_names_its_user_until_it_expires() -> None:
    token = issue_session(KEY, "@alice:example.org", now=1000, ttl=60)
    assert read_session(KEY, token, now=1059) == "@alice:example.org"
    with pytest.raises(SessionRejected, match="expired"):
        read_session(KEY, token, now=1060)


def test_another_servers_key_or_a_changed_payload_is_refused() -> None:
    token = issue_session(KEY, "@alice:example.org", now=1000)
    with pytest.raises(SessionRejected, match="not issued"):
        read_session(session_key("other"), token, now=1000)
    version, _payload, signature = token.split(".")
    forged = issue_session(KEY, "@mallory:example.org", now=1000).split(".")[1]
    with pytest.raises(SessionRejected, match="not issued"):
        read_session(KEY, f"{version}.{forged}.{signature}", now=1000)


@pytest.mark.parametrize("token", ["", "v1", "v1..", "v2.a.b", "v1.%%%.%%%", "v1.e30.e30"])
def test_malformed_sessions_are_refused(token: str) -> None:
    with pytest.raises(SessionRejected):
        read_session(KEY, token, now=1000)


def test_the_key_depends_on_the_service_token() -> None:
    assert session_key("a") != session_key("b") and len(session_key("a")) == 32
