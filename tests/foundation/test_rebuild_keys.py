"""The rebuild makes its UUID keys from SQLite's hex text without ``UUID.__init__``
(docs/adr/0098-rebuild-ratio-paired-baseline.md): each must be the very value
``UUID(int=…)`` makes, in every way a caller can look at it."""

from __future__ import annotations

import pickle
from pathlib import Path
from uuid import UUID, SafeUUID

from ordertrail.adapters.bench import populate
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import fold_orders


def test_rebuilt_keys_are_the_uuids_the_constructor_makes(tmp_path: Path) -> None:
    populate(tmp_path, 60)  # ten orders of the benchmark's fill workload
    with EventLog.open(StoreConfig.resolve(tmp_path)) as log:
        states, _ = fold_orders(log)
        stored = {row[1] for row in log.rows()}
    assert len(states) == 10
    assert {k.hex for k in states} == stored
    for key in states:
        made = UUID(int=int(key.hex, 16))
        assert type(key) is UUID
        assert (key, hash(key), str(key), repr(key)) == (made, hash(made), str(made), repr(made))
        assert key.is_safe is SafeUUID.unknown is made.is_safe
        assert pickle.loads(pickle.dumps(key)) == made
        assert key.int == made.int
        assert key.version == made.version
