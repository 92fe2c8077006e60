"""Shared test set-up: hypothesis profiles, a deterministic clock, and event-store locations.

Keep this small and general; strategies live in ``tests/strategies.py``.

* ``HYPOTHESIS_PROFILE=ci`` (the default) keeps the whole suite well under two minutes;
  ``dev`` runs fewer examples while editing; ``thorough`` is for a long hunt before a release
  (run it with ``--timeout=0``: the stateful store test alone takes over five minutes).
* PostgreSQL tests are marked ``postgres`` and read ``ORDERTRAIL_TEST_POSTGRES_URL``. Without
  it they are skipped, unless ``ORDERTRAIL_REQUIRE_POSTGRES=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from hypothesis import HealthCheck, settings

from ordertrail.adapters.store.config import StoreConfig

settings.register_profile(
    "ci",
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=25, stateful_step_count=20, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=2000,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_URL_ENV = "ORDERTRAIL_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "ORDERTRAIL_REQUIRE_POSTGRES"
EPOCH = datetime(2024, 3, 15, 13, 30, tzinfo=UTC)


class Clock:
    """A clock that ticks one millisecond per reading: recorded times are distinct and
    ordered, and every run records the same ones."""

    def __init__(self, start: datetime = EPOCH, step: timedelta = timedelta(milliseconds=1)):
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tmp_store(tmp_path: Path) -> StoreConfig:
    """A fresh SQLite event store (a file under the test's tmp_path)."""
    return StoreConfig.resolve(tmp_path / "data")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL server for ``@pytest.mark.postgres`` tests (an admin URL: tests make
    their own databases from it, see ``fresh_pg_url``)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set", False)
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    return url


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A URL to a new, empty database on the test server, dropped after the test: tests never
    see each other's rows."""
    import psycopg

    name = f"ordertrail_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(pg_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    """A new event store, on SQLite and (marked ``postgres``) on a fresh PostgreSQL database:
    a test that asks for it runs on both."""
    if request.param == "sqlite":
        return StoreConfig.resolve(tmp_path / "data")
    url: str = request.getfixturevalue("fresh_pg_url")
    return StoreConfig.resolve(tmp_path / "data", url)
