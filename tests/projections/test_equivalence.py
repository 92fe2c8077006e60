"""The Delta tables after updates at random split points, some cut short by a crash between two
commits, equal the tables of one clean rebuild: on random histories (statuses out of order,
fills before and after a cancel, corrections, busts, late fills, commissions early, late or
never, flips, a futures multiplier, OCA groups and a bracket), on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.projections.api import Audit
from ordertrail.projections.tables import DeltaTables
from tests.conftest import Clock
from tests.projections.test_incremental import History, chunked, histories, place, record
from tests.projections.test_tables import contents

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class PowerCut(Exception):
    pass


@contextmanager
def power_cut_after(commits: int | None) -> Iterator[None]:
    """The process dies after ``commits`` more table commits (None: it does not)."""
    if commits is None:
        yield
        return
    real = DeltaTables.write
    left = [commits]

    def write(self: DeltaTables, *args: Any, **kw: Any) -> Any:
        if left[0] == 0:
            raise PowerCut
        left[0] -= 1
        return real(self, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DeltaTables, "write", write)
        with suppress(PowerCut):
            yield


@contextmanager
def store(tmp: Path, pg_url: str | None) -> Iterator[StoreConfig]:
    if pg_url is None:
        yield StoreConfig.resolve(tmp / "data")
        return
    import psycopg

    name = f"ordertrail_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield StoreConfig.resolve(
            tmp / "data", urlunparse(urlparse(pg_url)._replace(path=f"/{name}"))
        )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check(history: History, data: st.DataObject, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as d, store(Path(d), pg_url) as config:
        trail = OrderTrail(config, clock=Clock())
        try:
            place(trail, history)
            sizes = data.draw(st.lists(st.integers(1, 10), max_size=5), label="split points")
            for chunk in chunked(history.steps, sizes):
                record(trail, history, chunk)
                crash = data.draw(st.none() | st.integers(0, 6), label="commits before a crash")
                with power_cut_after(crash):
                    Audit(config).refresh()
            audit = Audit(config)
            audit.refresh()
            rebuilt = Audit(config, root=Path(d) / "rebuilt")
            rebuilt.rebuild()
            assert contents(audit) == contents(rebuilt)
            audit.close()
            rebuilt.close()
        finally:
            trail.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_and_crashes_end_in_the_tables_of_a_rebuild(
    backend: str, request: pytest.FixtureRequest
) -> None:
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None

    @settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(history=histories(), data=st.data())
    def run(history: History, data: st.DataObject) -> None:
        check(history, data, pg_url)

    run()
