"""The one error type every layer raises for problems a user can fix."""

from __future__ import annotations


class AccelsageError(Exception):
    """A problem the user can fix: bad input, unknown name, missing corpus.

    The message is one line, written for the person at the terminal or the API client.
    The CLI prints it and exits with ``exit_code``; the API answers ``http_status``.
    """

    exit_code = 2
    http_status = 400


class NotFound(AccelsageError):
    """A named thing (paper, GPU, model, technique, run) does not exist."""

    http_status = 404

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        self.suggestions = list(suggestions or [])
        if self.suggestions:
            message = f"{message}; closest known: {', '.join(self.suggestions)}"
        super().__init__(message)


class Busy(AccelsageError):
    """Another run holds a resource (the refresh lock)."""

    exit_code = 3
    http_status = 409


class DatabaseDamaged(AccelsageError):
    """The SQLite database file is damaged (not a database, malformed pages, failed integrity check)."""

    http_status = 503

    def __init__(self, db_path: object, detail: str) -> None:
        self.db_path = db_path
        self.detail = detail
        super().__init__(
            f"the database {db_path} is damaged ({detail}); run `accelsage doctor --repair` to move it aside, "
            "then `accelsage refresh` to rebuild the corpus"
        )
