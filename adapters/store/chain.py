"""The hash chain that makes the event log tamper-evident (docs/adr/0025-tamper-evident-log.md).

Every stored order event ends with one extra JSON member, ``"~chain":"<version>:<sha256 hex>"``.
The hash covers the previous event's hash in the same order, the order's id, the event's
version and topic, and every stored byte before the member, so changing, removing, inserting
or moving an event breaks the chain where it happened. ``<version>`` is the position the event
was written at: an event moved elsewhere still says where it came from.

The chain is computed where events are encoded (``EventMapper``): an order is always decoded
before it is appended to (``repository.get``) or created in this process, so the mapper has
just seen the previous event's hash. When it has not (its memory is bounded) it writes a
placeholder that the recorder completes from the stored events inside the insert.

Events written before the chain existed carry no member: they are "unchained". Their link is
still computed (same formula, not stored), so a chained event after them covers them too.
"""

from __future__ import annotations

import hashlib
from binascii import hexlify
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

GENESIS = bytes(32)
MARK = b'"~chain":"'
KEY = "~chain"
_HEX = 64
_PLACEHOLDER = b"?" * _HEX
# The member sits at the end of the state; a version never needs more than 20 digits.
_TAIL = len(MARK) + 21 + 1 + _HEX + 2


def link_hash(prev: bytes, originator_id: UUID, version: int, topic: str, body: bytes) -> bytes:
    h = hashlib.sha256(b"%s%s%d\0%s\0" % (prev, originator_id.bytes, version, topic.encode()))
    h.update(body)
    return h.digest()


def body_of(state: bytes) -> bytes:
    """What a sealed state's hash covers: the JSON object opened, up to its chain member."""
    return state[:-1] + b"," if state != b"{}" else b"{"


def seal(body: bytes, version: int, digest: bytes | None) -> bytes:
    """``body`` (from :func:`body_of`) closed with its chain member; no digest: a placeholder
    the recorder completes."""
    hexed = hexlify(digest) if digest is not None else _PLACEHOLDER
    return b'%s%s%d:%s"}' % (body, MARK, version, hexed)


@dataclass(frozen=True, slots=True)
class Sealed:
    body: bytes  # the bytes the hash covers
    written_as: int  # the version the event was written at
    digest: bytes | None  # None: a placeholder not completed yet


def unseal(state: bytes) -> Sealed | None:
    """The chain member of a stored state; None if it has none (or a malformed one)."""
    state = bytes(state)
    if not state.endswith(b'"}'):
        return None
    at = state.rfind(MARK, max(0, len(state) - _TAIL))
    if at < 0:
        return None
    version, sep, hexed = state[at + len(MARK) : -2].partition(b":")
    if not sep or not version.isdigit() or len(hexed) != _HEX:
        return None
    if hexed == _PLACEHOLDER:
        return Sealed(state[:at], int(version), None)
    try:
        digest = bytes.fromhex(hexed.decode("ascii"))
    except ValueError:
        return None
    return Sealed(state[:at], int(version), digest)


def link_of(prev: bytes, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The hash the next event of the order links to: the stored one if the event is chained,
    else computed from its bytes (an unchained event from before the chain existed)."""
    sealed = unseal(state)
    if sealed is not None and sealed.digest is not None:
        return sealed.digest
    return link_hash(prev, originator_id, version, topic, bytes(state))


def stored_digest(originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """What an event adds to the log's running hash: its chain hash; for an event that has
    none (not written by ordertrail's mapper) a hash of its whole content, so it still counts."""
    sealed = unseal(state)
    if sealed is not None and sealed.digest is not None:
        return sealed.digest
    return link_hash(GENESIS, originator_id, version, topic, bytes(state))


def advance(head: bytes, link: bytes) -> bytes:
    """The running hash of the whole log, one event further (checkpointed by the recorder)."""
    return hashlib.sha256(head + link).digest()


def advance_all(head: bytes, links: Iterable[bytes]) -> bytes:
    """``advance`` over each link in turn, in one loop (a batch advances it per event)."""
    sha256 = hashlib.sha256
    for link in links:
        head = sha256(head + link).digest()
    return head


class Links:
    """The last link the mapper saw (decoded or encoded) for each order: the previous hash of
    the order's next event. Bounded, like every per-order memory of a long-running writer: a
    forgotten order gets a placeholder the recorder completes."""

    LIMIT = 200_000

    def __init__(self) -> None:
        # Keyed by the UUID's int: hashing a UUID object runs Python code, an int's does not.
        self._last: dict[int, tuple[int, bytes]] = {}

    def previous(self, originator_id: UUID, version: int) -> bytes | None:
        if version == 1:
            return GENESIS
        seen = self._last.get(originator_id.int)
        if seen is None or seen[0] != version - 1:
            return None
        return seen[1]

    def link(self, originator_id: UUID, version: int, topic: bytes, body: bytes) -> bytes | None:
        """``link_hash`` of an order's next event (``topic`` encoded), seen at once: what
        ``previous``, ``link_hash`` and ``saw`` do, in the one call the writer makes per event.
        None: the order's last link is forgotten (a placeholder the recorder completes)."""
        key = originator_id.int
        last = self._last
        if version == 1:
            prev = GENESIS
        else:
            seen = last.get(key)
            if seen is None or seen[0] != version - 1:
                last.pop(key, None)
                return None
            prev = seen[1]
        digest = hashlib.sha256(
            b"%s%s%d\0%s\0%s" % (prev, key.to_bytes(16, "big"), version, topic, body)
        ).digest()
        if len(last) >= self.LIMIT and key not in last:
            last.clear()
        last[key] = (version, digest)
        return digest

    def saw(self, originator_id: UUID, version: int, link: bytes | None) -> None:
        key = originator_id.int
        if link is None:
            self._last.pop(key, None)
            return
        if len(self._last) >= self.LIMIT and key not in self._last:
            self._last.clear()
        self._last[key] = (version, link)


__all__ = [
    "GENESIS",
    "KEY",
    "Links",
    "Sealed",
    "advance",
    "advance_all",
    "body_of",
    "link_hash",
    "link_of",
    "seal",
    "stored_digest",
    "unseal",
]
