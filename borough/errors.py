"""The errors a person can act on, and the exit codes the `borough` command gives them: bad
input and refusals that any component raises, the homeserver's answers, and a database URL
that cannot work.

They live apart from the code that raises them (the HTTP client, the database layer) so
that the `borough` command can explain them without loading aiohttp or SQLAlchemy for
commands that never touch either.
"""

from __future__ import annotations

import click

#: Exit codes: 1 a failure while working, 2 bad input (file or arguments), 3 refused for safety.
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 1, 2, 3


class Refused(click.ClickException):
    """The command would be unsafe without an explicit flag."""

    exit_code = EXIT_REFUSED


class BadInput(click.ClickException):
    """Input a person can fix; exit 2 like click's own usage errors."""

    exit_code = EXIT_BAD_INPUT


class MatrixError(Exception):
    """Synapse answered with an error. `errcode` is the Matrix code, e.g. M_FORBIDDEN."""

    def __init__(self, method: str, path: str, status: int, errcode: str, error: str) -> None:
        self.method, self.path, self.status = method, path, status
        self.errcode, self.error = errcode, error
        super().__init__(f"{method} {redact(path)} failed: HTTP {status} {errcode}: {error}")


class HomeserverUnreachable(Exception):
    """No answer from the homeserver at all (refused, DNS, timeout) after the retries."""

    def __init__(self, base_url: str, reason: str) -> None:
        self.base_url = base_url
        super().__init__(f"cannot reach the homeserver at {base_url}: {reason}")


class NotAHomeserver(Exception):
    """Something answers at the address, but not the Matrix client-server API."""

    def __init__(self, base_url: str, answer: str) -> None:
        self.base_url = base_url
        super().__init__(
            f"{base_url} is not a Matrix homeserver (GET /_matrix/client/versions: {answer})"
        )


class WrongServerName(Exception):
    """The homeserver names itself differently from what the settings say."""

    def __init__(self, configured: str, actual: str, user_id: str) -> None:
        self.configured, self.actual, self.user_id = configured, actual, user_id
        super().__init__(
            f"'{configured}' is not the homeserver's own name, which is '{actual}' "
            f"(its service account is {user_id})"
        )


class DatabaseUrlError(ValueError):
    """`database.url` names no database Borough can use."""


class DatabaseUnreachable(Exception):
    """The database at `database.url` did not open: refused, unknown host, wrong password,
    no such database. `url` is shown without its password."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot open the database at {url}: {reason}")


def redact(path: str) -> str:
    """A request path without its query, which may carry tokens."""
    return path.split("?", 1)[0]
