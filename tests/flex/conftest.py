"""Fixtures of the Flex importer tests: the statements under data/ and a store to import into."""

from __future__ import annotations

from pathlib import Path

import pytest

from ordertrail.adapters.flex.importer import FileImport, FlexImporter
from ordertrail.adapters.flex.statement import read_flex_file
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_events
from ordertrail.adapters.trail import OrderTrail

DATA = Path(__file__).parent / "data"
WEEK1 = DATA / "activity_2025-08-04_08.xml"
WEEK2 = DATA / "activity_2025-08-11_15.xml"
CONFIRM = DATA / "confirm_2025-08-18.xml"
BROKEN = DATA / "broken_truncated.xml"
MISSING = DATA / "missing_conid.xml"


@pytest.fixture
def trail(tmp_store: StoreConfig, clock: object) -> OrderTrail:
    return OrderTrail(tmp_store, clock=clock)  # type: ignore[arg-type]


def import_path(trail: OrderTrail, path: Path) -> FileImport:
    return FlexImporter(trail).import_file(read_flex_file(path))


def event_count(trail: OrderTrail) -> int:
    return sum(1 for _ in stored_events(trail.recorder))
