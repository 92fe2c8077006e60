"""One live recording process, as a replay plays it again: a real ``IB()`` whose client never
connects, the same ``IbRecorder`` as live, and a trail whose clock reads the tape."""

from __future__ import annotations

import logging

from ib_async import IB

from ordertrail.adapters.ib.recorder import HOOKED, SYNC_ENDS, IbRecorder
from ordertrail.adapters.store.config import StoreConfig

from .check import DECODER_LOGGER, ENTRIES, Call, ignore
from .clock import TapeClock
from .counting import CountingTrail
from .format import Header

_decoder_log = logging.getLogger(DECODER_LOGGER)


class Run:
    """One live recording process: its IB, recorder and OrderTrail live across reconnects
    (the recorder holds facts for orders not yet seen, the trail holds early commission
    reports), so a replay keeps them across the segments of one run, and only those."""

    def __init__(self, config: StoreConfig, header: Header) -> None:
        self.run = str(header.extra.get("run", header.session))
        self.clock = TapeClock()
        self.trail = CountingTrail(config, clock=self.clock)
        self.ib = IB()
        # ib_async's own bookkeeping behind the recorder's hooks files answers under the
        # requests that asked for them (reqCompletedOrders, reqExecutions: a KeyError without
        # one). Replay sends no requests and the recorder reads only the decoded arguments, so
        # that bookkeeping is left out; the decoder, and every other wrapper method, is ib_async's.
        for name in (*HOOKED, *SYNC_ENDS):
            setattr(self.ib.wrapper, name, ignore)
        self.recorder = IbRecorder(self.ib, self.trail).attach()
        # Bound once: every message the checking pass kept calls one of them.
        self._entries = {entry: getattr(self.recorder, entry) for entry in ENTRIES}

    def feed(self, calls: tuple[Call, ...]) -> None:
        """One incoming message's wrapper calls, as the checking pass kept them: made on the
        objects ib_async's Decoder made then, or on what the pass converted of them."""
        wrapper, guarded, entries = self.ib.wrapper, self.recorder.guarded, self._entries
        for name, entry, args in calls:
            try:
                if entry is None:
                    getattr(wrapper, name)(*args)
                else:
                    # Its problems on record as a live hook's are.
                    guarded(name, entries[entry], *args)
            except Exception:
                # What ib_async's Decoder does with an exception from a wrapper method: log
                # it (the replay's trap makes it a problem on this line) and go on.
                _decoder_log.exception(f"Error for {name}({list(args)}):")

    def decode(self, fields: list[str]) -> None:
        """One incoming message the checking pass did not keep, decoded again."""
        self.ib.client.decoder.interpret(fields)  # type: ignore[no-untyped-call]

    def begin(self, header: Header) -> None:
        client = self.ib.client
        v = header.server_version
        client._serverVersion = v
        client.decoder.serverVersion = v
        client.clientId = header.client_id
        client._accounts = list(header.accounts)
        self.ib.wrapper.clientId = header.client_id
        # Zone-less execution times are read in the zone the live run read them in.
        self.ib.TimezoneTWS = header.tws_timezone

    def disconnected(self) -> None:
        # What ib_async does when a ready connection ends: disconnectedEvent (the recorder
        # forgets its session aliases), then the wrapper drops all session state.
        self.ib.disconnectedEvent.emit()
        self.ib.wrapper.reset()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.recorder.detach()
        self.trail.close()
