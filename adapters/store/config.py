"""Where the event store lives: one config path for every command.

``--data DIR`` (or ``ORDERTRAIL_DATA``, default ``./ordertrail-data``) holds the SQLite event
store and the Delta tables. ``--store postgresql://user:pass@host:port/db`` (or
``ORDERTRAIL_STORE``) puts the event store on PostgreSQL for several writer processes or hosts.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ordertrail.domain.errors import OrdertrailError

DEFAULT_DATA = "ordertrail-data"
# The recorders that checkpoint the log's hash chain and create the schema under a lock.
_RECORDERS = "ordertrail.adapters.store.recorders"


class StoreUnavailable(OrdertrailError):
    """The event store could not be opened (not a database, no server, no permission): nothing
    was read from it or written to it."""


@dataclass(frozen=True, slots=True)
class StoreConfig:
    data_dir: Path
    store_url: str | None = None

    @classmethod
    def resolve(cls, data: str | Path | None = None, store: str | None = None) -> StoreConfig:
        data_dir = Path(data or os.environ.get("ORDERTRAIL_DATA") or DEFAULT_DATA)
        url = store or os.environ.get("ORDERTRAIL_STORE") or None
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"--store must be a postgresql:// URL, got {url!r}")
        if url:
            try:
                urlparse(url).port  # noqa: B018 - raises on a port out of range or a bad host
            except ValueError as e:
                raise ValueError(f"--store: not a valid postgresql:// URL: {e}") from None
        if url and importlib.util.find_spec("psycopg") is None:
            raise ValueError(
                "--store postgresql://… needs the PostgreSQL driver: "
                "pip install 'ordertrail[postgres]'"
            )
        if data_dir.exists() and not data_dir.is_dir():
            raise ValueError(f"--data {data_dir}: not a directory")
        return cls(data_dir=data_dir, store_url=url)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "events.sqlite"

    @property
    def delta_dir(self) -> Path:
        return self.data_dir / "delta"

    @property
    def is_postgres(self) -> bool:
        return self.store_url is not None

    def describe(self) -> str:
        if self.store_url:
            u = urlparse(self.store_url)
            return f"postgresql://{u.hostname}:{u.port or 5432}/{u.path.lstrip('/')}"
        return str(self.sqlite_path)

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's infrastructure factory reads."""
        if not self.store_url:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": f"{_RECORDERS}:ChainedSQLiteRecorder",
            }
        u = urlparse(self.store_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": u.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": u.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(u.port or 5432),
            "POSTGRES_USER": unquote(u.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(u.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": f"{_RECORDERS}_postgres:ChainedPostgresRecorder",
        }


def _store_errors() -> tuple[type[BaseException], ...]:
    from eventsourcing.persistence import PersistenceError

    errors: tuple[type[BaseException], ...] = (PersistenceError, sqlite3.Error, OSError)
    if importlib.util.find_spec("psycopg") is None:  # the [postgres] extra is optional
        return errors
    import psycopg

    return (*errors, psycopg.Error)


def _reason(config: StoreConfig, error: BaseException) -> str:
    if config.store_url:
        # eventsourcing's pool only says it waited; one direct attempt says why (refused,
        # unknown host, bad password, no such database).
        import psycopg

        try:
            psycopg.connect(config.store_url, connect_timeout=3).close()
        except psycopg.Error as e:
            return str(e).strip().splitlines()[0]
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


@contextmanager
def opening(config: StoreConfig) -> Iterator[None]:
    """Turn a failure to open the event store into one StoreUnavailable naming the store."""
    try:
        yield
    except _store_errors() as e:
        raise StoreUnavailable(
            f"cannot open the event store {config.describe()}: {_reason(config, e)}"
        ) from e
