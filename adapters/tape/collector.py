"""The cyclic collector while a tape is replayed (docs/adr/0060-replay-decodes-once.md,
docs/adr/0086-replay-collector-paused.md).

Neither pass makes reference cycles per message (measured: a replay of 28,021 messages leaves
about a thousand unreachable objects in all, made once per run by ib_async's ``IB``), yet the
collector, left running, walks what the first pass kept and what the recording keeps (the
orders a batch hands to the next, the trail's indexes) over and over while the replay
allocates. So a replay pauses it; after each saved batch one collection of what that batch
made and still holds (anything cyclic it left is freed there, so garbage stays bounded by one
batch), then what is left is moved out of the collector's sight (``gc.freeze``) until the
replay ends. A process that froze objects itself is left alone: unfreezing at the end would
thaw its objects too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class ReplayCollector:
    def __init__(self) -> None:
        self.owned = False
        self._was_enabled = False

    def batch_saved(self) -> None:
        """What a batch made is decided and stored: the survivors out of sight."""
        if self.owned:
            gc.collect(0)
            gc.freeze()

    def kept(self) -> None:
        """What the first pass kept lives until the replay ends: out of sight now, before the
        collector runs again (the pass pauses it, and the first collection after a pause
        would walk every object the pass made)."""
        if self.owned:
            gc.freeze()


@contextmanager
def collector_paused() -> Iterator[ReplayCollector]:
    collector = ReplayCollector()
    if gc.get_freeze_count() > 0:
        yield collector
        return
    collector.owned = True
    collector._was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield collector
    finally:
        gc.unfreeze()
        if collector._was_enabled:
            gc.enable()
