"""Replay saves the facts of ``batch_size`` messages in one transaction: the log is the same
whatever the batch size, and a replay that stops between batches resumes where the store
stands (docs/adr/0008-batched-facts.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.tape import Replayer, check_tape

from .sessions import event_log


class Crash(Exception):
    pass


@pytest.mark.parametrize("batch_size", [1, 3, 10_000])
def test_the_log_does_not_depend_on_the_batch_size(
    good_tape: Path, tmp_path: Path, batch_size: int
) -> None:
    replayer = Replayer(StoreConfig.resolve(tmp_path), batch_size=batch_size)
    report = replayer.replay(good_tape)
    replayer.close()
    assert report.ok, report.as_dict()
    assert event_log(tmp_path) == event_log(good_tape.parent / "live")


def test_a_replay_stopped_between_batches_resumes(good_tape: Path, tmp_path: Path) -> None:
    live = event_log(good_tape.parent / "live")
    incoming = check_tape(good_tape).incoming
    assert incoming > 6
    for crash_at in range(1, incoming + 1):
        data = tmp_path / str(crash_at)
        fed = 0

        def progress(n: int, crash_at: int = crash_at) -> None:
            nonlocal fed
            fed += n
            if fed == crash_at:
                raise Crash  # mid-batch: that batch is lost, the ones before it are saved

        replayer = Replayer(StoreConfig.resolve(data), batch_size=3, progress=progress)
        with pytest.raises(Crash):
            replayer.replay(good_tape)
        replayer.close()
        partial = event_log(data)
        assert partial == live[: len(partial)], crash_at  # whole batches, in order

        replayer = Replayer(StoreConfig.resolve(data), batch_size=3)
        report = replayer.replay(good_tape)
        replayer.close()
        assert report.ok, report.as_dict()
        assert event_log(data) == live, crash_at
