"""Open the corpus store a deployment uses: the state directory's SQLite file, or a shared PostgreSQL."""

from __future__ import annotations

from index.errors import AccelsageError
from index.state import StateDir
from index.store_interface import CorpusStore

POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres(database_url: str | None) -> bool:
    """Whether ``database_url`` names a PostgreSQL database (otherwise the SQLite file is used)."""
    return bool(database_url) and database_url.split("://", 1)[0].lower() in POSTGRES_SCHEMES


def check_database_url(database_url: str | None) -> None:
    """Raise a one-line :class:`AccelsageError` when a URL is given that is not a PostgreSQL one."""
    if database_url and not is_postgres(database_url):
        scheme = database_url.split("://", 1)[0] if "://" in database_url else database_url[:20]
        raise AccelsageError(
            f"unsupported database URL scheme {scheme!r}: use postgresql://user@host:port/dbname, "
            "or leave ACCELSAGE_DATABASE_URL unset for the SQLite file in the state directory")


def open_store(state: StateDir, database_url: str | None = None) -> CorpusStore:
    """The store for ``state``: PostgreSQL at ``database_url`` when given, else ``state.db_path`` (SQLite).

    Raises:
        AccelsageError: the URL's scheme is not PostgreSQL's, or the server cannot be reached.
    """
    check_database_url(database_url)
    if database_url:
        from index.store_postgres import PostgresStore  # psycopg is loaded only for a PostgreSQL deployment

        return PostgresStore(database_url)
    from index.store import Store

    return Store(state.db_path)


def has_store(state: StateDir, database_url: str | None = None) -> bool:
    """Whether there is a store to open without creating one: a shared database always counts, a file must exist."""
    return bool(database_url) or state.db_path.is_file()
